-- a rate per tenant, and the audit trail of tenant and token changes
alter table tenants add column rate_per_second float8 check (rate_per_second > 0);
create table audit_log (
    id bigserial primary key,
    at timestamptz not null default now(),
    actor text not null,
    action text not null,
    tenant_id text,
    target text,
    detail jsonb not null default '{}'
);
create index audit_log_tenant on audit_log (tenant_id, id);
