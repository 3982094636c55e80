-- API tokens: many per tenant, named, hashed, with a role, an expiry and revocation
create table api_tokens (
    token_id uuid primary key,
    tenant_id text not null references tenants(id),
    name text not null,
    role text not null default 'tenant' check (role in ('tenant', 'admin')),
    token_sha256 text not null unique,
    created_at timestamptz not null default now(),
    expires_at timestamptz,
    revoked_at timestamptz
);
create index api_tokens_tenant on api_tokens (tenant_id);
insert into api_tokens (token_id, tenant_id, name, token_sha256)
    select md5(id)::uuid, id, 'bootstrap', token_sha256 from tenants;
alter table tenants drop column token_sha256;
-- Idempotency keys live 24 h; the relay leader prunes older ones along this index.
create index idempotency_keys_created on idempotency_keys (created_at);
