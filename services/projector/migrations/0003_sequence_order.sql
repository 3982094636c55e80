-- order a store's changes by command offset and step, not by clocks
-- Until now last_sequence held microseconds of the provisioner's wall clock (~2^50). A
-- sequence is now ((command offset + 1) << 20) | (step << 8) | sub (projection.hpp), far
-- smaller, so a clock-based last_sequence would outrank every new event for years and
-- freeze the row. 0 means "state from no ordered event": the next ordered event applies,
-- whatever it is. Deleted rows keep theirs: a positive last_sequence with status 'deleted'
-- ranks above every new event, so they stay deleted as before.
update stores set last_sequence = 0 where status <> 'deleted' and last_sequence <> 0;
-- created_at is the request's time once the request is seen (Decide). Only a
-- StoreRequested ever set plan or host, so they tell which rows saw one.
alter table stores add column request_seen boolean not null default false;
update stores set request_seen = true where plan is not null or host is not null;
-- The timeline is ordered by the same sequence (NULL: an unordered event). Events
-- recorded before this migration get their rank in their store's old order
-- (occurred_at, event_id): 1, 2, ... far below any new sequence (>= 2^20), so they stay
-- first and in the order they were shown in.
alter table store_events add column sequence bigint;
update store_events e set sequence = o.rank
    from (select event_id,
                 row_number() over (partition by store_id order by occurred_at, event_id) as rank
            from store_events) o
    where e.event_id = o.event_id;
create index store_events_sequence on store_events (store_id, sequence, event_id);
