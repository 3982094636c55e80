-- when a retry was last accepted, so a reader shows it under way before the projector has it
-- Read-your-writes after POST .../retry, as after a create, a change or a deletion: the read
-- model's stores_seen shows a failed or degraded store as requested again when the ledger
-- accepted a retry after the read model's last change of it.
alter table stores add column retry_requested_at timestamptz;

-- The readers' view keeps its columns and their meaning; the new one comes last.
create or replace view store_requests as
select store_id, tenant_id, name, engine, plan, host, state, created_at, deletion_requested_at,
       generation, suspended, admin_email, chart_version, retry_requested_at
  from intake.stores;
