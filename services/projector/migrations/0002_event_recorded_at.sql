-- record each event's own insert time, not its transaction's start
alter table store_events alter column recorded_at set default clock_timestamp();
