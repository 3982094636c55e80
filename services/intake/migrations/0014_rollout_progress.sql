-- what the query service reads of rollouts for the live stream (decision 13), and a NOTIFY
-- Part of the contract of schema intake with its readers (migration 9): the query service
-- reads this view, never intake.rollouts or intake.rollout_stores, and LISTENs on
-- "rollout_changed", whose payload is the id of a rollout changed by the committed transaction.

-- One row per rollout: its state, its counts per wave and state, and its first 100 failures
-- (the stores that failed or were rolled back), as GET /api/v1/admin/rollouts/{id} shows them.
-- active: not over, or over with stores still under way (the controller still steps it).
create view rollout_progress as
select r.rollout_id, r.engine, r.target_version, r.state, r.wave, r.waves, r.canary_passed,
       r.reason, r.updated_at,
       (r.state in ('running', 'paused', 'halted')
        or exists (select 1 from intake.rollout_stores u
                    where u.rollout_id = r.rollout_id
                      and u.state in ('upgrading', 'rolling_back'))) as active,
       coalesce((select jsonb_agg(jsonb_build_object('wave', c.wave, 'state', c.state,
                                                     'stores', c.stores)
                                  order by c.wave, c.state)
                   from (select s.wave, s.state, count(*)::int as stores
                           from intake.rollout_stores s
                          where s.rollout_id = r.rollout_id
                          group by s.wave, s.state) c), '[]'::jsonb) as counts_by_wave,
       coalesce((select jsonb_agg(jsonb_build_object('store_id', f.store_id::text,
                                                     'wave', f.wave, 'state', f.state,
                                                     'reason', coalesce(f.reason, ''),
                                                     'from_version',
                                                     coalesce(f.from_version, ''))
                                  order by f.position)
                   from (select * from intake.rollout_stores s
                          where s.rollout_id = r.rollout_id
                            and s.state in ('failed', 'rolling_back', 'rolled_back')
                          order by s.position limit 100) f), '[]'::jsonb) as failures
  from intake.rollouts r;

-- Every statement that changes a rollout or its stores tells the listeners which rollouts it
-- changed, once each (Postgres folds equal notifications of one transaction into one and
-- delivers them at commit). Statement triggers: a step that moves 500 stores notifies once.
create function notify_rollout_changed() returns trigger
language plpgsql as $fn$
begin
    perform pg_notify('rollout_changed', c.rollout_id::text)
       from (select distinct rollout_id from changed) c;
    return null;
end
$fn$;

create trigger rollouts_inserted after insert on rollouts
    referencing new table as changed
    for each statement execute function notify_rollout_changed();
create trigger rollouts_updated after update on rollouts
    referencing new table as changed
    for each statement execute function notify_rollout_changed();
create trigger rollout_stores_inserted after insert on rollout_stores
    referencing new table as changed
    for each statement execute function notify_rollout_changed();
create trigger rollout_stores_updated after update on rollout_stores
    referencing new table as changed
    for each statement execute function notify_rollout_changed();
