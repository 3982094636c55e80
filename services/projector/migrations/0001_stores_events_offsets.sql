-- stores, store_events, consumer_offsets
create table stores (
    store_id uuid primary key,
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
    simulated boolean not null default false,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    last_sequence bigint not null default 0
);
-- The query service's listing: a tenant's stores, newest first, keyset-paginated.
create index stores_tenant_newest on stores (tenant_id, created_at desc, store_id desc);
create table store_events (
    event_id uuid primary key,
    store_id uuid not null,
    tenant_id text not null,
    type text not null,
    status text,
    step text,
    reason text,
    occurred_at timestamptz not null,
    correlation_id text,
    recorded_at timestamptz not null default now()
);
create index store_events_timeline on store_events (store_id, occurred_at, event_id);
-- Kafka offsets committed in the same transaction as the rows they produced.
create table consumer_offsets (
    consumer_group text,
    topic text,
    partition int,
    next_offset bigint not null,
    primary key (consumer_group, topic, partition)
);
