-- a store's desired state, generations and condition (decision 11)
-- The projector keeps (Decide, projection.hpp): generation, the highest generation of a command
-- seen (1 before any); the desired state of that command (plan, which was a fact until now,
-- suspended, admin_email); observed_generation, the highest generation a ready or suspended
-- status reported (0: none yet); drift, what the status that set the state reported differs.
alter table stores
    add column generation bigint not null default 1,
    add column observed_generation bigint not null default 0,
    add column suspended boolean not null default false,
    add column admin_email text,
    add column drift text,
    add column condition_state text not null default 'converging',
    add column condition_message text not null default '';

-- The condition of a store, derived here and nowhere else: the trigger below keeps it in every
-- row (condition_state, condition_message, and in view_json), stores_seen applies it to the
-- status a client sees, the change log copies it from the row. First match wins:
--   degraded     the last convergence failed (failed, degraded): the reason;
--   in_sync      deleted: nothing left to converge;
--   out_of_sync  drift reported and not repaired: what differs;
--   converging   being created, changed or deleted, or a generation newer than the one
--                converged to;
--   in_sync      ready or suspended at its generation.
create function store_condition(p_status text, p_generation bigint, p_observed_generation bigint,
                                p_drift text, p_reason text, out state text, out message text)
language sql immutable as $fn$
select case
           when p_status in ('failed', 'degraded') then 'degraded'
           when p_status = 'deleted' then 'in_sync'
           when coalesce(p_drift, '') <> '' then 'out_of_sync'
           when p_status in ('requested', 'provisioning', 'deleting')
                or p_observed_generation < p_generation then 'converging'
           else 'in_sync'
       end,
       case
           when p_status in ('failed', 'degraded')
               then coalesce(nullif(p_reason, ''), 'the last convergence failed')
           when p_status = 'deleted' then 'deleted'
           when coalesce(p_drift, '') <> '' then p_drift
           when p_status = 'deleting' then 'deleting the store'
           when p_status in ('requested', 'provisioning') or p_observed_generation < p_generation
               then 'converging to generation ' || p_generation
           else 'converged to generation ' || p_generation
       end
$fn$;

-- view_json (migration 5) with the lifecycle's fields, and the condition columns: the exact
-- bytes of services/query/src/views.cpp ToJson, keys in byte order. The function keeps the
-- search path it is created with (this schema), so it finds store_condition whoever writes.
create or replace function store_view_json() returns trigger language plpgsql
set search_path from current as $fn$
begin
    select c.state, c.message into new.condition_state, new.condition_message
      from store_condition(new.status, new.generation, new.observed_generation, new.drift,
                           new.reason) c;
    new.view_json :=
        '{"admin_url":' || case when coalesce(new.admin_url, '') = '' then 'null' else to_json(new.admin_url)::text end ||
        ',"condition":{"message":' || to_json(new.condition_message)::text ||
        ',"state":' || to_json(new.condition_state)::text ||
        '},"created_at":"' || to_char(new.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') ||
        '","desired":{"admin_email":' || case when coalesce(new.admin_email, '') = '' then 'null' else to_json(new.admin_email)::text end ||
        ',"plan":' || case when coalesce(new.plan, '') = '' then 'null' else to_json(new.plan)::text end ||
        ',"suspended":' || case when new.suspended then 'true' else 'false' end ||
        '},"desired_etag":"\"g' || new.generation || '\""' ||
        ',"engine":' || case when coalesce(new.engine, '') = '' then 'null' else to_json(new.engine)::text end ||
        ',"generation":' || new.generation ||
        ',"host":' || case when coalesce(new.host, '') = '' then 'null' else to_json(new.host)::text end ||
        ',"id":"' || new.store_id::text ||
        '","name":' || case when coalesce(new.name, '') = '' then 'null' else to_json(new.name)::text end ||
        ',"namespace":' || case when coalesce(new.namespace, '') = '' then 'null' else to_json(new.namespace)::text end ||
        case when new.simulated then ',"note":"simulated cluster (KWOK): the Kubernetes objects are real, '
                                     'the shop behind this URL is not running"' else '' end ||
        ',"observed_generation":' || new.observed_generation ||
        ',"plan":' || case when coalesce(new.plan, '') = '' then 'null' else to_json(new.plan)::text end ||
        ',"reason":' || case when coalesce(new.reason, '') = '' then 'null' else to_json(new.reason)::text end ||
        ',"simulated":' || case when new.simulated then 'true' else 'false' end ||
        ',"status":' || to_json(new.status)::text ||
        ',"step":' || case when coalesce(new.step, '') = '' then 'null' else to_json(new.step)::text end ||
        ',"updated_at":"' || to_char(new.updated_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') ||
        '","url":' || case when coalesce(new.url, '') = '' then 'null' else to_json(new.url)::text end || '}';
    return new;
end
$fn$;

-- Rows from before generations: every ready report converged generation 1 (what a replay of
-- their events computes, so the replay check still matches); the update refreshes each row's
-- condition and view_json through the trigger.
update stores s
   set observed_generation = case when exists (select 1 from store_events e
                                                where e.store_id = s.store_id
                                                  and e.status = 'ready') then 1 else 0 end;

-- The live stream's log carries what the API shows of the lifecycle too.
alter table store_changes
    add column generation bigint not null default 1,
    add column observed_generation bigint not null default 0,
    add column suspended boolean not null default false,
    add column admin_email text,
    add column condition_state text not null default 'converging',
    add column condition_message text not null default '';
update store_changes c
   set observed_generation = case when c.status = 'ready' then 1 else 0 end,
       (condition_state, condition_message) =
           (select k.state, k.message
              from store_condition(c.status, 1, case when c.status = 'ready' then 1 else 0 end,
                                   null, c.reason) k);

-- stores_seen (migration 6) with the lifecycle's columns. A store the ledger has and the read
-- model not yet is at generation 1, converged to none: converging. The condition is that of
-- the status a client sees (a deletion the ledger accepted first shows converging).
drop function stores_seen(uuid[], text[]);
set local check_function_bodies = off;
do $do$
begin
    execute format($create$
create function %1$I.stores_seen(p_store_ids uuid[], p_tenant_ids text[])
returns table (store_id text, name text, engine text, plan text, host text, status text,
               step text, reason text, url text, admin_url text, namespace text,
               simulated boolean, created_us bigint, updated_us bigint, view_json text, n bigint,
               generation bigint, observed_generation bigint, suspended boolean,
               admin_email text, condition_state text, condition_message text)
language sql stable as $fn$
select coalesce(r.store_id, i.store_id)::text, coalesce(r.name, i.name, ''),
       coalesce(r.engine, i.engine, ''), coalesce(r.plan, i.plan, ''), coalesce(r.host, i.host, ''),
       seen.status, coalesce(r.step, ''), coalesce(r.reason, ''), coalesce(r.url, ''),
       coalesce(r.admin_url, ''), coalesce(r.namespace, ''), coalesce(r.simulated, false),
       (extract(epoch from coalesce(r.created_at, i.created_at)) * 1000000)::bigint,
       (extract(epoch from seen.updated_at) * 1000000)::bigint,
       case when r.status = seen.status and r.updated_at = seen.updated_at then r.view_json end,
       q.n, seen.generation, seen.observed_generation, coalesce(r.suspended, false),
       coalesce(r.admin_email, ''), c.state, c.message
  from unnest(p_store_ids, p_tenant_ids) with ordinality as q(store_id, tenant_id, n)
  left join %1$I.stores r on r.store_id = q.store_id and r.tenant_id = q.tenant_id
  left join intake.store_requests i on i.store_id = q.store_id and i.tenant_id = q.tenant_id
  cross join lateral (
      select case when r.store_id is null
                      then (case when i.state = 'deleting' then 'deleting' else 'requested' end)
                  when i.state = 'deleting' and r.status not in ('deleting', 'deleted')
                       and i.deletion_requested_at > r.updated_at then 'deleting'
                  else r.status end as status,
             greatest(r.updated_at, i.deletion_requested_at, i.created_at) as updated_at,
             coalesce(r.generation, 1) as generation,
             coalesce(r.observed_generation, 0) as observed_generation) seen
  cross join lateral %1$I.store_condition(seen.status, seen.generation, seen.observed_generation,
                                          r.drift, r.reason) c
 where r.store_id is not null or i.state <> 'deleted'
$fn$
$create$, current_schema());
end
$do$;
