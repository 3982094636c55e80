-- stores_seen: a change intake accepted shows at once (its generation and desired state)
-- Read-your-writes after a PATCH or a retry, as after a create: intake's ledger has the
-- store's generation and desired state (intake.store_requests, intake's migration 10) before
-- the projector has the StoreChangeRequested. Where the ledger's generation is newer than the
-- row's, the store shows the ledger's generation and desired state (plan, suspended,
-- admin_email), converging to it, and no ready JSON. A failed or degraded store whose retry
-- the ledger accepted after the row's last change (retry_requested_at) shows as requested.
-- Otherwise as migration 7.
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
       c.state, c.message
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
