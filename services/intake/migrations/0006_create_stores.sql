-- creates committed together: one call writes a batch and says what became of each
-- For each create in order: a unit of the tenant's quota, the store unless its name is live
-- (an earlier create of the same batch included), then its outbox row. Outcomes: 'created',
-- 'name_taken', 'no_quota'; a refused create changes nothing. The quota of a tenant's run
-- of creates is reserved by one update and what is left unused given back by another, not
-- two updates per create: every update of the one tenant row leaves a row version that
-- the next must step over until the batch commits. A store id already there is a batch
-- written before (a retry after a lost connection): 'created' again, counted once. Callers
-- order a batch by tenant, so batches lock tenant rows in the same order.
create function create_stores(p_ids uuid[], p_tenants text[], p_names text[], p_engines text[], p_plans text[],
                              p_hosts text[], p_correlations text[], p_topic text, p_commands_hex text[])
returns text[] language plpgsql as $fn$
declare
    outcomes text[] := '{}';
    n int := coalesce(array_length(p_ids, 1), 0);
    first int := 1;
    last int;
    tenant text;
    live int;
    quota int;
    granted int;
    inserted uuid;
begin
    while first <= n loop
        tenant := p_tenants[first];
        last := first;
        while last < n and p_tenants[last + 1] = tenant loop
            last := last + 1;
        end loop;
        granted := 0;
        select live_stores, store_quota into live, quota from intake.tenants where id = tenant for update;
        if found then
            granted := greatest(0, least(last - first + 1, quota - live));
        end if;
        if granted > 0 then
            update intake.tenants set live_stores = live_stores + granted where id = tenant;
        end if;
        for i in first .. last loop
            if granted = 0 then
                -- A taken name is said whatever the quota, as a create alone would find it.
                outcomes := outcomes || (case when exists (select 1 from intake.stores where store_id = p_ids[i])
                                                  then 'created'
                                              when exists (select 1 from intake.stores
                                                           where tenant_id = p_tenants[i] and name = p_names[i]
                                                             and state <> 'deleted')
                                                  then 'name_taken'
                                              else 'no_quota' end)::text;
                continue;
            end if;
            inserted := null;
            insert into intake.stores (store_id, tenant_id, name, engine, plan, host, correlation_id)
                values (p_ids[i], p_tenants[i], p_names[i], p_engines[i], p_plans[i], p_hosts[i], p_correlations[i])
                on conflict do nothing returning store_id into inserted;
            if inserted is null then
                if exists (select 1 from intake.stores where store_id = p_ids[i]) then
                    outcomes := outcomes || 'created'::text;
                else
                    outcomes := outcomes || 'name_taken'::text;
                end if;
                continue;
            end if;
            insert into intake.outbox (topic, key, payload)
                values (p_topic, p_ids[i]::text, decode(p_commands_hex[i], 'hex'));
            granted := granted - 1;
            outcomes := outcomes || 'created'::text;
        end loop;
        if granted > 0 then
            update intake.tenants set live_stores = live_stores - granted where id = tenant;
        end if;
        first := last + 1;
    end loop;
    return outcomes;
end
$fn$;
