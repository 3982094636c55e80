-- live store counter per tenant, so the quota check is one row update
alter table tenants add column live_stores int not null default 0;
update tenants t set live_stores =
    (select count(*) from stores s where s.tenant_id = t.id and s.state = 'active');
