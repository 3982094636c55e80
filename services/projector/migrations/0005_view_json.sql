-- each store row keeps its API JSON ready (view_json), so a list only copies bytes
-- The exact bytes the query API sends for the store (services/query/src/views.cpp ToJson,
-- dumped compactly: keys in byte order, empty text as null, times in RFC 3339 UTC with
-- microseconds); a test in services/query compares the two. Kept by a trigger, so every
-- writer of the row (the projector, a repair by hand, the benchmark's seeding) keeps it.
alter table stores add column view_json text;
create function store_view_json() returns trigger language plpgsql as $fn$
begin
    new.view_json :=
        '{"admin_url":' || case when coalesce(new.admin_url, '') = '' then 'null' else to_json(new.admin_url)::text end ||
        ',"created_at":"' || to_char(new.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') ||
        '","engine":' || case when coalesce(new.engine, '') = '' then 'null' else to_json(new.engine)::text end ||
        ',"host":' || case when coalesce(new.host, '') = '' then 'null' else to_json(new.host)::text end ||
        ',"id":"' || new.store_id::text ||
        '","name":' || case when coalesce(new.name, '') = '' then 'null' else to_json(new.name)::text end ||
        ',"namespace":' || case when coalesce(new.namespace, '') = '' then 'null' else to_json(new.namespace)::text end ||
        case when new.simulated then ',"note":"simulated cluster (KWOK): the Kubernetes objects are real, '
                                     'the shop behind this URL is not running"' else '' end ||
        ',"plan":' || case when coalesce(new.plan, '') = '' then 'null' else to_json(new.plan)::text end ||
        ',"reason":' || case when coalesce(new.reason, '') = '' then 'null' else to_json(new.reason)::text end ||
        ',"simulated":' || case when new.simulated then 'true' else 'false' end ||
        ',"status":' || to_json(new.status)::text ||
        ',"step":' || case when coalesce(new.step, '') = '' then 'null' else to_json(new.step)::text end ||
        ',"updated_at":"' || to_char(new.updated_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') ||
        '","url":' || case when coalesce(new.url, '') = '' then 'null' else to_json(new.url)::text end || '}';
    return new;
end
$fn$;
create trigger stores_view_json before insert or update on stores
    for each row execute function store_view_json();
update stores set view_json = null;
