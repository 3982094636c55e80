-- backups and restores of a store's database (decision 14)
-- A backup is kept while it is among its store's newest completed ones (the plan's retention);
-- older ones are 'expired' (their dump removed by the next backup's Job). One backup or restore
-- of a store at a time: a partial unique index on what is under way.
create table backups (
    backup_id uuid primary key,
    store_id uuid not null references stores(store_id),
    tenant_id text not null,
    state text not null default 'requested'
        check (state in ('requested', 'running', 'completed', 'failed', 'expired')),
    reason text,
    size_bytes bigint,
    duration_ms bigint,
    simulated boolean not null default false,
    -- the retention of the store's plan when it was asked for: its newest `keep` completed
    -- backups stay
    keep int not null check (keep > 0),
    requested_by text not null,
    requested_at timestamptz not null default now(),
    started_at timestamptz,
    finished_at timestamptz
);
create index backups_store on backups (store_id, requested_at desc);
create table restores (
    restore_id uuid primary key,
    store_id uuid not null references stores(store_id),
    tenant_id text not null,
    backup_id uuid not null references backups(backup_id),
    state text not null default 'requested'
        check (state in ('requested', 'running', 'completed', 'failed')),
    reason text,
    duration_ms bigint,
    requested_by text not null,
    requested_at timestamptz not null default now(),
    started_at timestamptz,
    finished_at timestamptz
);
create index restores_store on restores (store_id, requested_at desc);
