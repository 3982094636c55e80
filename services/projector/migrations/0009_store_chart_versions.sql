-- a store's desired and observed chart version (issue 24)
-- The projector keeps (Decide, projection.hpp): desired_chart_version, the chart version the
-- command with the highest generation asked for (part of the desired state, as plan,
-- suspended and admin_email; null: not pinned, the engine's default); observed_chart_version,
-- the version the newest ready or suspended report that names one converged to (null: none
-- yet), and observed_chart_sequence, that report's sequence, which orders it (a rollback
-- converges to an older version: no maximum of versions would do). Rows from before chart
-- versions know neither, as a replay of their events (which carry none) computes.
alter table stores
    add column desired_chart_version text,
    add column observed_chart_version text,
    add column observed_chart_sequence bigint not null default 0;

-- view_json (migration 7) with the chart versions: the exact bytes of
-- services/query/src/views.cpp ToJson, keys in byte order ("chart_version", the observed one,
-- after "admin_url"; "desired" gains its "chart_version" after "admin_email").
create or replace function store_view_json() returns trigger language plpgsql
set search_path from current as $fn$
begin
    select c.state, c.message into new.condition_state, new.condition_message
      from store_condition(new.status, new.generation, new.observed_generation, new.drift,
                           new.reason) c;
    new.view_json :=
        '{"admin_url":' || case when coalesce(new.admin_url, '') = '' then 'null' else to_json(new.admin_url)::text end ||
        ',"chart_version":' || case when coalesce(new.observed_chart_version, '') = '' then 'null' else to_json(new.observed_chart_version)::text end ||
        ',"condition":{"message":' || to_json(new.condition_message)::text ||
        ',"state":' || to_json(new.condition_state)::text ||
        '},"created_at":"' || to_char(new.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') ||
        '","desired":{"admin_email":' || case when coalesce(new.admin_email, '') = '' then 'null' else to_json(new.admin_email)::text end ||
        ',"chart_version":' || case when coalesce(new.desired_chart_version, '') = '' then 'null' else to_json(new.desired_chart_version)::text end ||
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

-- Every row's view_json gains the two keys (the update runs the trigger).
update stores set observed_chart_sequence = observed_chart_sequence;

-- The live stream's log carries them too (the stream sends what GET sends).
alter table store_changes
    add column desired_chart_version text,
    add column observed_chart_version text;

-- stores_seen (migration 8) with the chart versions. The desired one is part of the desired
-- state: where the ledger's generation is newer than the row's, the ledger's
-- (intake.store_requests.chart_version), as for plan, suspended and admin_email.
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
               admin_email text, condition_state text, condition_message text,
               desired_chart_version text, observed_chart_version text)
language sql stable as $fn$
select coalesce(r.store_id, i.store_id)::text, coalesce(r.name, i.name, ''),
       coalesce(r.engine, i.engine, ''),
       case when seen.ledger_newer then coalesce(i.plan, r.plan, '') else coalesce(r.plan, i.plan, '') end,
       coalesce(r.host, i.host, ''),
       seen.status, coalesce(r.step, ''), coalesce(r.reason, ''), coalesce(r.url, ''),
       coalesce(r.admin_url, ''), coalesce(r.namespace, ''), coalesce(r.simulated, false),
       (extract(epoch from coalesce(r.created_at, i.created_at)) * 1000000)::bigint,
       (extract(epoch from seen.updated_at) * 1000000)::bigint,
       case when r.status = seen.status and r.updated_at = seen.updated_at
                 and not seen.ledger_newer then r.view_json end,
       q.n, seen.generation, seen.observed_generation,
       case when seen.ledger_newer then coalesce(i.suspended, false) else coalesce(r.suspended, false) end,
       case when seen.ledger_newer then coalesce(i.admin_email, '') else coalesce(r.admin_email, '') end,
       c.state, c.message,
       case when seen.ledger_newer then coalesce(i.chart_version, '')
            else coalesce(r.desired_chart_version, '') end,
       coalesce(r.observed_chart_version, '')
  from unnest(p_store_ids, p_tenant_ids) with ordinality as q(store_id, tenant_id, n)
  left join %1$I.stores r on r.store_id = q.store_id and r.tenant_id = q.tenant_id
  left join intake.store_requests i on i.store_id = q.store_id and i.tenant_id = q.tenant_id
  cross join lateral (
      select case when r.store_id is null
                      then (case when i.state = 'deleting' then 'deleting' else 'requested' end)
                  when i.state = 'deleting' and r.status not in ('deleting', 'deleted')
                       and i.deletion_requested_at > r.updated_at then 'deleting'
                  when r.status in ('failed', 'degraded')
                       and i.retry_requested_at > r.updated_at then 'requested'
                  else r.status end as status,
             greatest(r.updated_at, i.deletion_requested_at, i.created_at,
                      case when r.status in ('failed', 'degraded')
                           then i.retry_requested_at end) as updated_at,
             greatest(r.generation, i.generation, 1) as generation,
             coalesce(r.observed_generation, 0) as observed_generation,
             coalesce(i.generation > coalesce(r.generation, 0), false) as ledger_newer) seen
  cross join lateral %1$I.store_condition(seen.status, seen.generation, seen.observed_generation,
                                          r.drift, r.reason) c
 where r.store_id is not null or i.state <> 'deleted'
$fn$
$create$, current_schema());
end
$do$;
