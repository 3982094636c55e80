-- a store's desired state and generation (decision 11): changes and retries
-- What a tenant asked a store to be, besides its facts (name, engine, host, placement), and
-- its generation: 1 at creation, +1 with each accepted change (PATCH). admin_email is the
-- address its StoreRequested carried (null for a store created before this version: not
-- known here); chart_version null is the engine's current chart. placement is as the
-- StoreRequested carried it: '' (anywhere) or 'real-node'; stores created before this
-- version were placed anywhere as far as the ledger knows (''). failed_generation is the
-- generation whose convergence a provisioner last reported failed (status failed or
-- degraded, not of a deletion), null when none or since converged: POST .../retry runs it
-- again only when it is the current generation. status_sequence is the sequence of the last
-- status applied to failed_generation, so an older status arriving late changes nothing.
alter table stores
    add column generation bigint not null default 1 check (generation >= 1),
    add column suspended boolean not null default false,
    add column admin_email text,
    add column chart_version text,
    add column placement text not null default '',
    add column failed_generation bigint,
    add column status_sequence bigint,
    -- when a retry was last accepted, so readers show it under way before the projector has it
    add column retry_requested_at timestamptz;

-- The readers' view (migration 9) keeps its columns and their meaning (plan is the desired
-- plan: the one asked at creation until a change); the desired state comes after them.
create or replace view store_requests as
select store_id, tenant_id, name, engine, plan, host, state, created_at, deletion_requested_at,
       generation, suspended, admin_email, chart_version, retry_requested_at
  from intake.stores;

-- Creates committed together now store what the desired state and the facts need: each
-- create's admin e-mail and placement. Same contract and paths as version 7 otherwise; the
-- version without them stays for a replica still running the previous build.
drop function create_stores(uuid[], text[], text[], text[], text[], text[], text[], text, text[]);
drop function create_stores_one_by_one(uuid[], text[], text[], text[], text[], text[], text[], text,
                                       text[]);

-- Version 6's create-by-create path (see 0006_create_stores.sql), with the two columns.
create function create_stores_one_by_one(p_ids uuid[], p_tenants text[], p_names text[],
                                         p_engines text[], p_plans text[], p_hosts text[],
                                         p_correlations text[], p_topic text,
                                         p_commands_hex text[], p_admin_emails text[],
                                         p_placements text[])
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
            insert into intake.stores (store_id, tenant_id, name, engine, plan, host, correlation_id,
                                       admin_email, placement)
                values (p_ids[i], p_tenants[i], p_names[i], p_engines[i], p_plans[i], p_hosts[i],
                        p_correlations[i], p_admin_emails[i], coalesce(p_placements[i], ''))
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

-- Version 7's set-based path (see 0007_create_stores_by_tenant_run.sql), with the two columns.
create function create_stores(p_ids uuid[], p_tenants text[], p_names text[], p_engines text[],
                              p_plans text[], p_hosts text[], p_correlations text[], p_topic text,
                              p_commands_hex text[], p_admin_emails text[], p_placements text[])
returns text[] language plpgsql as $fn$
declare
    n int := coalesce(array_length(p_ids, 1), 0);
    outcomes text[] := array_fill('no_quota'::text, array[n]);
    first int := 1;
    last int;
    tenant text;
    live int;
    quota int;
    granted int;
    written uuid[];
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
        if granted = last - first + 1 then
            with stored as (
                insert into intake.stores (store_id, tenant_id, name, engine, plan, host, correlation_id,
                                           admin_email, placement)
                select p_ids[k], p_tenants[k], p_names[k], p_engines[k], p_plans[k], p_hosts[k],
                       p_correlations[k], p_admin_emails[k], coalesce(p_placements[k], '')
                  from generate_series(first, last) k order by k
                on conflict do nothing returning store_id
            ), queued as (
                insert into intake.outbox (topic, key, payload)
                select p_topic, p_ids[k]::text, decode(p_commands_hex[k], 'hex')
                  from generate_series(first, last) k
                 where p_ids[k] in (select store_id from stored) order by k
            )
            select coalesce(array_agg(store_id), '{}') into written from stored;
            if array_length(written, 1) > 0 then
                update intake.tenants set live_stores = live_stores + array_length(written, 1) where id = tenant;
            end if;
            if coalesce(array_length(written, 1), 0) = last - first + 1 then
                for i in first .. last loop
                    outcomes[i] := 'created';
                end loop;
            else
                for i in first .. last loop
                    outcomes[i] := case when p_ids[i] = any(written) then 'created'
                                        when exists (select 1 from intake.stores where store_id = p_ids[i])
                                            then 'created'
                                        else 'name_taken' end;
                end loop;
            end if;
        else
            outcomes[first:last] := intake.create_stores_one_by_one(
                p_ids[first:last], p_tenants[first:last], p_names[first:last], p_engines[first:last],
                p_plans[first:last], p_hosts[first:last], p_correlations[first:last], p_topic,
                p_commands_hex[first:last], p_admin_emails[first:last], p_placements[first:last]);
        end if;
        first := last + 1;
    end loop;
    return outcomes;
end
$fn$;

-- Version 7's signature, for a replica of the previous build during a rollout: no admin
-- e-mail known (null), placed anywhere ('').
create function create_stores(p_ids uuid[], p_tenants text[], p_names text[], p_engines text[],
                              p_plans text[], p_hosts text[], p_correlations text[], p_topic text,
                              p_commands_hex text[])
returns text[] language sql as $fn$
select intake.create_stores(p_ids, p_tenants, p_names, p_engines, p_plans, p_hosts, p_correlations,
                            p_topic, p_commands_hex,
                            array_fill(null::text, array[coalesce(array_length(p_ids, 1), 0)]),
                            array_fill(''::text, array[coalesce(array_length(p_ids, 1), 0)]))
$fn$;
