-- what other services read of the read model: the store as a client sees it, the figures
-- The contract of the read model with its readers besides the query service's list, timeline
-- and stream (which read stores, store_events and store_changes, the tables kept for them):
-- intake's admin figures read the four views, and every reader of one store's status reads
-- stores_seen. The tables may change as long as these keep their columns and meaning.

-- The admin figures (services/intake/src/figures_source.cpp): when each store first became
-- ready, against its request's time; every failure report; stores per status; the offsets
-- the projector keeps in Postgres.
create view store_first_ready as
select r.store_id, r.ready_at, s.created_at as requested_at
  from (select store_id, min(occurred_at) as ready_at
          from store_events where status = 'ready' group by store_id) r
  join stores s on s.store_id = r.store_id;
create view store_failures as
select store_id, occurred_at as failed_at from store_events where status = 'failed';
create view store_status_counts as
select status, count(*) as stores from stores group by status;
create view consumer_positions as
select consumer_group, topic, partition, next_offset from consumer_offsets;

-- The one place a store's status as a client sees it is derived: the read model's row
-- (Decide's status from the events) merged with intake's ledger (intake.store_requests),
-- for each (store, tenant) pair of the two arrays that is a store, numbered n by its place
-- (1-based). Until the projector has the store the ledger answers it as "requested"
-- (read-your-writes after a 202); a deletion the ledger accepted after the read model's last
-- change shows as "deleting" until the projector catches up. view_json (the row's ready API
-- JSON) comes along when the ledger changes nothing of it. Times are microseconds since the
-- epoch, NULL text is ''.
--
-- Bound late (check_function_bodies off), so this schema's migrations do not wait for
-- intake's: the function needs intake.store_requests when it is called, not when it is
-- created. A SQL function, so the planner inlines it into the caller's statement. Spelled
-- with this schema's name (format), so a replay schema's copy reads its own stores.
set local check_function_bodies = off;
do $do$
begin
    execute format($create$
create function %1$I.stores_seen(p_store_ids uuid[], p_tenant_ids text[])
returns table (store_id text, name text, engine text, plan text, host text, status text,
               step text, reason text, url text, admin_url text, namespace text,
               simulated boolean, created_us bigint, updated_us bigint, view_json text, n bigint)
language sql stable as $fn$
select coalesce(r.store_id, i.store_id)::text, coalesce(r.name, i.name, ''),
       coalesce(r.engine, i.engine, ''), coalesce(r.plan, i.plan, ''), coalesce(r.host, i.host, ''),
       seen.status, coalesce(r.step, ''), coalesce(r.reason, ''), coalesce(r.url, ''),
       coalesce(r.admin_url, ''), coalesce(r.namespace, ''), coalesce(r.simulated, false),
       (extract(epoch from coalesce(r.created_at, i.created_at)) * 1000000)::bigint,
       (extract(epoch from seen.updated_at) * 1000000)::bigint,
       case when r.status = seen.status and r.updated_at = seen.updated_at then r.view_json end,
       q.n
  from unnest(p_store_ids, p_tenant_ids) with ordinality as q(store_id, tenant_id, n)
  left join %1$I.stores r on r.store_id = q.store_id and r.tenant_id = q.tenant_id
  left join intake.store_requests i on i.store_id = q.store_id and i.tenant_id = q.tenant_id
  cross join lateral (
      select case when r.store_id is null
                      then (case when i.state = 'deleting' then 'deleting' else 'requested' end)
                  when i.state = 'deleting' and r.status not in ('deleting', 'deleted')
                       and i.deletion_requested_at > r.updated_at then 'deleting'
                  else r.status end as status,
             greatest(r.updated_at, i.deletion_requested_at, i.created_at) as updated_at) seen
 where r.store_id is not null or i.state <> 'deleted'
$fn$
$create$, current_schema());
end
$do$;
