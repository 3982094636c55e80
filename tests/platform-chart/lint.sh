#!/usr/bin/env bash
# charts/storefleet: `helm lint --strict` with the defaults, values-local.yaml and
# values-prod.yaml; the schema rejects bad values; and every rendered workload meets the chart's
# promises (probes on /healthz and /readyz, requests and limits, non-root, read-only root
# filesystem, ALL capabilities dropped, seccomp RuntimeDefault, a PDB and topology spread for
# every Deployment, no ServiceAccount token outside the provisioner). Needs only helm.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
for values in "" values-local.yaml values-prod.yaml; do
    args=()
    [[ -n $values ]] && args=(-f "$CHART/$values")
    out=$(helm lint --strict "$CHART" "${args[@]}" 2>&1) || { echo "$out" >&2; fail "helm lint --strict ${values:-defaults}"; }
    ok "helm lint --strict ${values:-(defaults)}"
done
# The schema: each of these must be refused, with the offending key named.
refuse() {  # refuse KEY ARGS...
    local key=$1 out
    shift
    if out=$(helm template sf "$CHART" "$@" 2>&1); then fail "schema accepted $*"; fi
    grep -q "$key" <<<"$out" || fail "schema refused $* without naming $key: $out"
    ok "schema refuses $*"
}
refuse bogus --set bogus=1
refuse replicas --set intake.replicas=-1
refuse storeUrlScheme --set provisioner.storeUrlScheme=ftp
refuse host --set ingress.host=Not_A_Host
refuse brokers --set kafka.brokers=
refuse storeNamespacePrefix --set provisioner.storeNamespacePrefix=shop-
refuse ingressAnnotations --set 'rbac.fence.ingressAnnotations[0]=nginx.ingress.kubernetes.io/server-snippet'
refuse reservedHosts --set 'rbac.fence.reservedHosts[0]=Not_A_Host'
refuse existingSecret --set postgres.existingSecret=
refuse backoffLimit --set migrations.job.backoffLimit=-1
refuse bogus --set migrations.job.bogus=1

for values in values.yaml values-local.yaml values-prod.yaml; do
    helm template sf "$CHART" -n sf -f "$CHART/$values" >"$WORK/$values.yaml" || fail "helm template ($values)"
    python3 - "$WORK/$values.yaml" "$values" <<'PY' || fail "rendered workloads ($values)"
import sys
docs, name = [], sys.argv[2]
try:
    import yaml
    docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
except ImportError:
    sys.exit("python3-yaml is missing")
problems = []
kinds = {}
for d in docs:
    kinds.setdefault(d["kind"], []).append(d)
deployments = {d["metadata"]["labels"]["app.kubernetes.io/component"]: d for d in kinds.get("Deployment", [])}
pdbs = {d["metadata"]["labels"]["app.kubernetes.io/component"] for d in kinds.get("PodDisruptionBudget", [])}
want = {"intake", "query", "projector", "provisioner", "dashboard"}
if set(deployments) != want:
    problems.append(f"Deployments {sorted(deployments)}, want {sorted(want)}")
pod_specs = [(f"Deployment/{c}", d["spec"]["template"]["spec"]) for c, d in deployments.items()]
pod_specs += [(f"Job/{j['metadata']['name']}", j["spec"]["template"]["spec"]) for j in kinds.get("Job", [])]
for where, spec in pod_specs:
    psc = spec.get("securityContext", {})
    if psc.get("runAsNonRoot") is not True: problems.append(f"{where}: pod runAsNonRoot")
    if psc.get("seccompProfile", {}).get("type") != "RuntimeDefault": problems.append(f"{where}: pod seccomp")
    token = spec.get("automountServiceAccountToken")
    if where == "Deployment/provisioner":
        if token is not True or not spec.get("serviceAccountName", "").endswith("-provisioner"):
            problems.append(f"{where}: must run as the provisioner ServiceAccount with its token")
    elif token is not False:
        problems.append(f"{where}: mounts a ServiceAccount token")
    for c in spec["containers"]:
        sc = c.get("securityContext", {})
        if sc.get("readOnlyRootFilesystem") is not True: problems.append(f"{where}: readOnlyRootFilesystem")
        if sc.get("allowPrivilegeEscalation") is not False: problems.append(f"{where}: allowPrivilegeEscalation")
        if sc.get("capabilities", {}).get("drop") != ["ALL"]: problems.append(f"{where}: capabilities drop ALL")
        for kind in ("requests", "limits"):
            r = c.get("resources", {}).get(kind, {})
            if "cpu" not in r or "memory" not in r: problems.append(f"{where}: {kind}")
        if where.startswith("Deployment/"):
            if c.get("livenessProbe", {}).get("httpGet", {}).get("path") != "/healthz": problems.append(f"{where}: liveness /healthz")
            if c.get("startupProbe", {}).get("httpGet", {}).get("path") != "/healthz": problems.append(f"{where}: startup /healthz")
            if c.get("readinessProbe", {}).get("httpGet", {}).get("path") != "/readyz": problems.append(f"{where}: readiness /readyz")
for c, d in deployments.items():
    if not d["spec"]["template"]["spec"].get("topologySpreadConstraints"): problems.append(f"{c}: topology spread")
    if name != "values-local.yaml" and c not in pdbs: problems.append(f"{c}: no PodDisruptionBudget")
ing = kinds.get("Ingress", [])
if len(ing) != 1: problems.append(f"{len(ing)} Ingresses, want 1")
if name == "values-prod.yaml" and ing:
    if ing[0]["metadata"].get("annotations", {}).get("cert-manager.io/cluster-issuer") != "letsencrypt-prod" or not ing[0]["spec"].get("tls"):
        problems.append("prod Ingress without cert-manager TLS")
# The stores' NetworkPolicies admit web traffic from the ingress controller's namespace:
# ingress-nginx by default, kube-system for k3s's Traefik in prod.
want_ns = "kube-system" if name == "values-prod.yaml" else "ingress-nginx"
prov = deployments.get("provisioner")
if prov:
    env = {e["name"]: e.get("value") for e in prov["spec"]["template"]["spec"]["containers"][0].get("env", [])}
    if env.get("STOREFLEET_INGRESS_NAMESPACE") != want_ns:
        problems.append(f"provisioner STOREFLEET_INGRESS_NAMESPACE={env.get('STOREFLEET_INGRESS_NAMESPACE')}, want {want_ns}")
else:
    problems.append("no provisioner Deployment")
for p in problems: print(f"{name}: {p}", file=sys.stderr)
sys.exit(1 if problems else 0)
PY
    ok "rendered workloads meet the chart's promises ($values)"
done

# Schema migrations: a pre-install/pre-upgrade hook Job (on by default) running intake and
# projector with --migrate-only, the Postgres URL from the Secret as in the Deployments (its pod
# promises are checked with the Deployments' above); none when migrations.job.enabled=false or
# when neither service runs; only the enabled services' containers otherwise.
migrations_job() {  # migrations_job ARGS...: the containers of the rendered Job, or "none"
    helm template sf "$CHART" "$@" | python3 -c '
import sys, yaml
jobs = [d for d in yaml.safe_load_all(sys.stdin) if d and d["kind"] == "Job" and d["metadata"]["name"].endswith("-migrations")]
if not jobs: print("none"); sys.exit(0)
job = jobs[0]
a = job["metadata"]["annotations"]
assert a["helm.sh/hook"] == "pre-install,pre-upgrade", a
assert a["helm.sh/hook-delete-policy"] == "before-hook-creation", a
spec = job["spec"]["template"]["spec"]
assert spec["restartPolicy"] in ("OnFailure", "Never") and spec["automountServiceAccountToken"] is False, spec
names = []
for c in spec["containers"]:
    assert c["args"] == ["--migrate-only"], c
    assert c["image"].endswith("/storefleet-" + c["name"] + ":0.1.0"), c["image"]
    url = [e for e in c["env"] if e["name"] == "STOREFLEET_PG_URL"]
    assert url and url[0]["valueFrom"]["secretKeyRef"]["name"] == "storefleet-postgres", c["env"]
    assert not any("value" in e and "postgresql://" in str(e["value"]) for e in c["env"]), "a URL in plain env"
    names.append(c["name"])
print(" ".join(names))' || fail "the migrations Job ($*)"
}
[[ $(migrations_job) == "intake projector" ]] || fail "migrations Job by default: '$(migrations_job)', want intake projector"
[[ $(migrations_job --set projector.enabled=false) == "intake" ]] || fail "migrations Job without the projector: '$(migrations_job --set projector.enabled=false)'"
[[ $(migrations_job --set migrations.job.enabled=false) == "none" ]] || fail "migrations.job.enabled=false still renders the Job"
[[ $(migrations_job --set intake.enabled=false --set projector.enabled=false) == "none" ]] || fail "a migrations Job with neither service"
ok "migrations: pre-install/pre-upgrade hook Job runs intake and projector --migrate-only (URL from the Secret); off with migrations.job.enabled=false"

# Autoscaling (off by default): KEDA on consumer lag for the provisioner, HPAs on CPU for intake
# and query; a maximum above the partition count of store-commands is refused.
out=$(helm template sf "$CHART" --set provisioner.keda.enabled=true --set intake.hpa.enabled=true \
    --set query.hpa.enabled=true) || fail "helm template with autoscaling"
[[ $(grep -c '^kind: ScaledObject' <<<"$out") == 1 && $(grep -c '^kind: HorizontalPodAutoscaler' <<<"$out") == 2 ]] ||
    fail "autoscaling renders $(grep -c '^kind: ScaledObject' <<<"$out") ScaledObject(s), $(grep -c '^kind: HorizontalPodAutoscaler' <<<"$out") HPA(s); want 1 and 2"
grep -q 'consumerGroup: provisioner' <<<"$out" || fail "the ScaledObject does not watch the provisioner group"
refuse commandsPartitions --set provisioner.keda.enabled=true --set provisioner.keda.maxReplicas=13
ok "autoscaling: one ScaledObject (lag of group provisioner), two HPAs; maxReplicas above the partitions refused"

# Monitoring (off by default): the alert rules and the Grafana dashboard render from files/.
out=$(helm template sf "$CHART" --set monitoring.prometheusRule.enabled=true --set monitoring.grafanaDashboard.enabled=true) ||
    fail "helm template with monitoring"
python3 - <<'PY' "$out" || fail "monitoring objects"
import json, sys, yaml
docs = [d for d in yaml.safe_load_all(sys.argv[1]) if d]
rules = [d for d in docs if d["kind"] == "PrometheusRule"]
dash = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["labels"].get("grafana_dashboard") == "1"]
assert len(rules) == 1 and len(dash) == 1, (len(rules), len(dash))
alerts = {r["alert"] for g in rules[0]["spec"]["groups"] for r in g["rules"]}
want = {"StorefleetProvisioningStalled", "StorefleetConsumerLagGrowing", "StorefleetOutboxBacklog", "StorefleetDeadLetters"}
assert want <= alerts, alerts
panels = json.loads(dash[0]["data"]["storefleet.json"])["panels"]
titles = {p["title"] for p in panels}
want = {"Stores by status", "POST to Ready, p50 / p95 / p99", "Step duration p95 by step", "Consumer lag per partition",
        "Outbox: oldest unsent request", "HTTP latency p95 by service and route"}
assert want <= titles, sorted(want - titles)
assert len({p["id"] for p in panels}) == len(panels), "duplicate panel ids"
PY
ok "monitoring: PrometheusRule (stuck store, lag growing, outbox, dead letters, ...) and the Grafana dashboard (stores by status, POST to Ready, steps, lag per partition, outbox, HTTP latency) render"
# Their metric names against a real scrape: metrics_match.sh (needs the running platform).
# The provisioner runs Helm through storefleet-helm-agent in its image, never a Helm CLI
# (docs/decisions/0010-one-helm-path.md).
provisioner=$(helm template sf "$CHART" --show-only templates/provisioner-deployment.yaml)
grep -A1 'name: STOREFLEET_HELM_AGENT$' <<<"$provisioner" | grep -q 'value: /usr/local/bin/storefleet-helm-agent' ||
    fail "the provisioner is not given STOREFLEET_HELM_AGENT=/usr/local/bin/storefleet-helm-agent"
if grep -q 'STOREFLEET_HELM_BINARY\|/usr/local/bin/helm' <<<"$provisioner"; then fail "the provisioner is given a Helm CLI"; fi
ok "provisioner: Helm through /usr/local/bin/storefleet-helm-agent, no Helm CLI"

# Drift (docs/decisions/0012-drift-repair.md): provisioner.drift.* reach the provisioner's env;
# a mode or an ignore rule the provisioner would refuse at start is refused by the schema.
drift_env() {  # drift_env ARGS...: NAME=value lines of the provisioner's STOREFLEET_DRIFT_* env
    helm template sf "$CHART" "$@" --show-only templates/provisioner-deployment.yaml | python3 -c '
import sys, yaml
d = yaml.safe_load(sys.stdin)
for e in d["spec"]["template"]["spec"]["containers"][0]["env"]:
    if e["name"].startswith("STOREFLEET_DRIFT_"): print(e["name"] + "=" + e["value"])' ||
        fail "the provisioner's drift env ($*)"
}
want=$'STOREFLEET_DRIFT_MODE=repair\nSTOREFLEET_DRIFT_IGNORE=\nSTOREFLEET_DRIFT_MAX_REPAIRS=4\nSTOREFLEET_DRIFT_RESYNC_SECONDS=3600\nSTOREFLEET_DRIFT_RESYNC_RATE=5'
[[ $(drift_env) == "$want" ]] || fail "drift env by default: $(drift_env)"
want=$'STOREFLEET_DRIFT_MODE=warn\nSTOREFLEET_DRIFT_IGNORE=Deployment/spec.replicas,*/deleted\nSTOREFLEET_DRIFT_MAX_REPAIRS=8\nSTOREFLEET_DRIFT_RESYNC_SECONDS=0\nSTOREFLEET_DRIFT_RESYNC_RATE=2'
got=$(drift_env --set provisioner.drift.mode=warn --set 'provisioner.drift.ignore={Deployment/spec.replicas,*/deleted}' \
    --set provisioner.drift.maxRepairs=8 --set provisioner.drift.resyncSeconds=0 --set provisioner.drift.resyncRate=2)
[[ $got == "$want" ]] || fail "drift env with every value set: $got"
refuse mode --set provisioner.drift.mode=fix
refuse ignore --set 'provisioner.drift.ignore={replicas}'
refuse maxRepairs --set provisioner.drift.maxRepairs=0
ok "drift: provisioner.drift.{mode,ignore,maxRepairs,resyncSeconds,resyncRate} reach STOREFLEET_DRIFT_*; a bad mode or rule refused"

# The first admin token from an existing Secret: a file mounted from that Secret (key chosen in
# values), its path in STOREFLEET_BOOTSTRAP_ADMIN_TOKEN_FILE, with or without a bootstrap tenant.
for extra in "" "--set intake.bootstrap.tenant=acme --set intake.bootstrap.existingSecret=acme-token"; do
    # shellcheck disable=SC2086  # $extra is a list of arguments
    out=$(helm template sf "$CHART" -s templates/intake-deployment.yaml \
        --set intake.bootstrap.adminExistingSecret=sf-admin --set intake.bootstrap.adminTokenKey=admin $extra) ||
        fail "helm template with intake.bootstrap.adminExistingSecret"
    python3 - "$out" <<'PY' || fail "admin bootstrap token ${extra:-(alone)}"
import sys, yaml
deploy = yaml.safe_load(sys.argv[1])
pod = deploy["spec"]["template"]["spec"]
(container,) = [c for c in pod["containers"] if c["name"] == "intake"]
env = {e["name"]: e.get("value") for e in container["env"]}
path = env.get("STOREFLEET_BOOTSTRAP_ADMIN_TOKEN_FILE")
assert path, "no STOREFLEET_BOOTSTRAP_ADMIN_TOKEN_FILE"
mounts = [m for m in container["volumeMounts"] if path.startswith(m["mountPath"] + "/")]
assert len(mounts) == 1 and mounts[0].get("readOnly"), f"{path} is not on one read-only mount"
(volume,) = [v for v in pod["volumes"] if v["name"] == mounts[0]["name"]]
secret = volume.get("secret", {})
assert secret.get("secretName") == "sf-admin", volume
assert secret.get("items") == [{"key": "admin", "path": path.rsplit("/", 1)[1]}], secret
PY
done
ok "intake.bootstrap.adminExistingSecret: the admin token is a file from that Secret (alone or beside a tenant's)"
