-- a store's chart version, pinned at create (issue 24)
-- Each store records the store chart version it was created with: the engine's default in the
-- chart catalogue when intake accepted it (charts/releases/README.md), so a later default (a new
-- build, a rollout) never moves a store by itself. null: a store created before this version;
-- its commands carry "" (the provisioner's default). The set-based create takes the versions as
-- one more array; the previous signature stays for a replica of the previous build.
create function create_stores(p_ids uuid[], p_tenants text[], p_names text[], p_engines text[],
                              p_plans text[], p_hosts text[], p_correlations text[], p_topic text,
                              p_commands_hex text[], p_admin_emails text[], p_placements text[],
                              p_chart_versions text[])
returns text[] language plpgsql as $fn$
declare
    outcomes text[];
begin
    outcomes := intake.create_stores(p_ids, p_tenants, p_names, p_engines, p_plans, p_hosts,
                                     p_correlations, p_topic, p_commands_hex, p_admin_emails,
                                     p_placements);
    -- The rows this call inserted (their ids are new): the same transaction, so a create is
    -- never seen without its version.
    update intake.stores s
       set chart_version = v.version
      from unnest(p_ids, p_chart_versions) as v(id, version)
     where s.store_id = v.id and s.chart_version is null and coalesce(v.version, '') <> '';
    return outcomes;
end
$fn$;
