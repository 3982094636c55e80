-- a gap-free log of store changes for live streams (SSE), in commit order
-- One row per committed change of a store row: its state right after. change_id is taken
-- under a transaction-scoped advisory lock held until commit, so ids become visible in
-- increasing order and a reader that has seen id N has seen every id below it.
create table store_changes (
    change_id bigint primary key,
    store_id uuid not null,
    tenant_id text not null,
    name text,
    engine text,
    plan text,
    host text,
    status text not null,
    step text,
    reason text,
    url text,
    admin_url text,
    namespace text,
    simulated boolean not null,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    recorded_at timestamptz not null default now()
);
create index store_changes_tenant on store_changes (tenant_id, change_id);
create index store_changes_recorded on store_changes (recorded_at);
create sequence store_changes_id;
