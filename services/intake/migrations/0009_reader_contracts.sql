-- what other schemas read of the ledger: store requests and the token lookup, not the tables
-- The contract of schema intake with its readers (the query service, the read model's
-- stores_seen): they read these, never intake's tables, so the tables may change as long as
-- these keep their columns and meaning. services/query's schema_contract test holds query to it.

-- Every store the ledger accepted, with its state: active (requested, not being deleted),
-- deleting (a DELETE was accepted at deletion_requested_at), deletion_failed, deleted.
create view store_requests as
select store_id, tenant_id, name, engine, plan, host, state, created_at, deletion_requested_at
  from intake.stores;

-- Who holds an API token, if it authenticates: neither revoked nor expired. The one copy of
-- the rule, for intake's authentication and the query service's (a SQL function, inlined
-- into the caller's statement).
create function principal_of_token(p_token_sha256 text)
returns table (tenant_id text, admin boolean, rate_per_second float8, token_id text)
language sql stable as $fn$
    select k.tenant_id, k.role = 'admin', coalesce(t.rate_per_second, 0)::float8, k.token_id::text
      from intake.api_tokens k join intake.tenants t on t.id = k.tenant_id
     where k.token_sha256 = p_token_sha256
       and k.revoked_at is null and (k.expires_at is null or k.expires_at > now())
$fn$;
