-- tenants, stores, idempotency keys, outbox
create table tenants (
    id text primary key,
    token_sha256 text not null unique,
    store_quota int not null check (store_quota >= 0),
    created_at timestamptz not null default now()
);
create table stores (
    store_id uuid primary key,
    tenant_id text not null references tenants(id),
    name text not null,
    engine text not null,
    plan text not null,
    host text not null,
    state text not null default 'active' check (state in ('active', 'deleting')),
    correlation_id text not null,
    created_at timestamptz not null default now(),
    deletion_requested_at timestamptz
);
-- A name is taken while its store is live; deleting a store frees its name.
create unique index stores_live_name on stores (tenant_id, name) where state = 'active';
create index stores_tenant_active on stores (tenant_id) where state = 'active';
create table idempotency_keys (
    tenant_id text not null,
    key text not null,
    request_sha256 text not null,
    http_status int not null,
    response jsonb not null,
    created_at timestamptz not null default now(),
    primary key (tenant_id, key)
);
create table outbox (
    id bigserial primary key,
    topic text not null,
    key text not null,
    payload bytea not null,
    created_at timestamptz not null default now(),
    sent_at timestamptz
);
create index outbox_unsent on outbox (id) where sent_at is null;
