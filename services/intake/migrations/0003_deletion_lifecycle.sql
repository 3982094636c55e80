-- deletion as a lifecycle: quota and name held until the store is deleted; one outbox relay
alter table stores drop constraint stores_state_check;
alter table stores add constraint stores_state_check
    check (state in ('active', 'deleting', 'deletion_failed', 'deleted'));
alter table stores add column deleted_at timestamptz;
-- Before this version a name was freed when its deletion was requested, so a store being
-- deleted may share its name with a newer live one: those deletions count as done here,
-- or the stricter index below could not be built.
update stores s set state = 'deleted', deleted_at = now()
where s.state = 'deleting' and exists (
    select 1 from stores a where a.tenant_id = s.tenant_id and a.name = s.name and a.state = 'active');
drop index stores_live_name;
create unique index stores_live_name on stores (tenant_id, name) where state <> 'deleted';
drop index stores_tenant_active;
-- The quota counts every store not yet deleted.
update tenants t set live_stores =
    (select count(*) from stores s where s.tenant_id = t.id and s.state <> 'deleted');
-- The outbox relay that published last, and until when its messages may still land.
create table outbox_relay (
    id int primary key check (id = 1),
    holder text not null,
    publish_until timestamptz not null
);
