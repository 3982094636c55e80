#!/usr/bin/env bash
# The alert rules (charts/storefleet/files/alert-rules.yaml) and the Grafana dashboard
# (files/grafana-dashboard.json) ask only for what the services really export: every metric
# name in their expressions is a sample in a real /metrics scrape of the running intake,
# query, projector and provisioner, and every label they select on or aggregate by is on that
# metric (le only on a _bucket; job and instance come from Prometheus). A histogram queried
# as if it were a gauge fails here (its samples are <name>_bucket/_sum/_count).
#
# Some series exist only once something happened, so first one store is provisioned to Ready
# on the KWOK cluster, as a tenant of this run's own (quota 1, the store deleted afterwards),
# and the test waits for intake's platform gauges to count it. The platform is started with
# infra/local/platform unless it runs (and stopped again). Needs the stack (tests/with-stack).
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)
: "${STOREFLEET_PG_URL:?run through tests/with-stack, which gives the stack environment}"
: "${STOREFLEET_STATE:?run through tests/with-stack, which gives the stack environment}"
files="$root/charts/storefleet/files"

platform="$root/infra/local/platform"
started=0
if ! bash "$platform" status >/dev/null 2>&1; then
    bash "$platform" up >/dev/null
    started=1
fi
tenant="metrics-$(openssl rand -hex 4)"
token=$(openssl rand -hex 24)
sha=$(printf '%s' "$token" | sha256sum | cut -d' ' -f1)
store_id=""
_metrics_cleanup() {
    if [[ -n $store_id ]]; then
        curl -s -o /dev/null -X DELETE -H "Authorization: Bearer $token" "$STOREFLEET_URL/api/v1/stores/$store_id" || true
    fi
    psql -q "$STOREFLEET_PG_URL" -c "update intake.api_tokens set revoked_at = now() where tenant_id = '$tenant'" \
        >/dev/null 2>&1 || true
    if ((started)); then bash "$platform" down >/dev/null 2>&1 || true; fi
    _cleanup
}
trap _metrics_cleanup EXIT
set -a
# shellcheck disable=SC1091
source "$STOREFLEET_STATE/env.d/platform"
set +a
psql -q "$STOREFLEET_PG_URL" -v ON_ERROR_STOP=1 >/dev/null <<SQL
insert into intake.tenants (id, store_quota) values ('$tenant', 1);
insert into intake.api_tokens (token_id, tenant_id, name, role, token_sha256) values
    (md5('$sha')::uuid, '$tenant', 'metrics-test', 'tenant', '$sha');
SQL

# One store to Ready: the provisioner's step, store and POST-to-Ready histograms and its
# stores_total{outcome} get their series.
code=$(curl -s -o "$WORK/created.json" -w '%{http_code}' -X POST -H "Authorization: Bearer $token" \
    -H 'Content-Type: application/json' -d "{\"name\":\"$tenant\",\"engine\":\"woocommerce\"}" "$STOREFLEET_URL/api/v1/stores")
[[ $code == 202 ]] || fail "POST /api/v1/stores answered $code: $(cat "$WORK/created.json")"
store_id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$WORK/created.json")
deadline=$((SECONDS + 240))
status=""
until [[ $status == ready ]]; do
    status=$(curl -s -H "Authorization: Bearer $token" "$STOREFLEET_URL/api/v1/stores/$store_id" |
        python3 -c 'import json,sys; print(json.load(sys.stdin).get("status", ""))' 2>/dev/null || true)
    [[ $status != failed ]] || fail "store $store_id failed"
    ((SECONDS < deadline)) || fail "store $store_id not Ready after 240s (status '$status')"
    sleep 1
done
ok "store $store_id Ready"

scrape() {  # scrape NAME URL: its /metrics into $WORK/NAME.prom
    curl -sf "$2/metrics" -o "$WORK/$1.prom" || fail "no /metrics from $1 at $2"
}
# intake refreshes its platform gauges every 15 s: wait until they count the Ready store.
deadline=$((SECONDS + 60))
until scrape intake "$STOREFLEET_INTAKE_URL" &&
    grep -qE '^storefleet_stores\{status="ready"\} [1-9]' "$WORK/intake.prom" &&
    grep -q '^storefleet_consumer_lag{' "$WORK/intake.prom"; do
    ((SECONDS < deadline)) || fail "intake's storefleet_stores / storefleet_consumer_lag gauges did not appear in 60s"
    sleep 1
done
scrape query "$STOREFLEET_QUERY_URL"
scrape projector "$STOREFLEET_PROJECTOR_URL"
scrape provisioner "$STOREFLEET_PROVISIONER_URL"

python3 - "$files/alert-rules.yaml" "$files/grafana-dashboard.json" "$WORK" <<'PY' || fail "the alert rules or the dashboard ask for what the services do not export"
import json, re, sys, yaml
rules_file, dash_file, work = sys.argv[1:4]
exprs = []  # (where, expr)
for group in yaml.safe_load(open(rules_file))["groups"]:
    for rule in group["rules"]:
        exprs.append((f"alert {rule['alert']}", rule["expr"]))
for panel in json.load(open(dash_file))["panels"]:
    for target in panel.get("targets", []):
        exprs.append((f"panel '{panel['title']}'", target["expr"]))

# Samples of the scrapes: name -> set of label names, and name -> services exporting it.
labels, services = {}, {}
sample = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? ')
for service in ("intake", "query", "projector", "provisioner"):
    for line in open(f"{work}/{service}.prom"):
        m = sample.match(line)
        if not m or line.startswith("#"):
            continue
        name = m.group(1)
        labels.setdefault(name, set()).update(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="', m.group(3) or ""))
        services.setdefault(name, set()).add(service)

from_prometheus = {"job", "instance"}
problems, checked = [], {}
for where, expr in exprs:
    names = re.findall(r'\b(storefleet_[a-zA-Z0-9_]+)', expr)
    if not names:
        problems.append(f"{where}: no storefleet metric in {expr!r}")
    for name in names:
        if name not in labels:
            problems.append(f"{where}: {name} is not exported by any service")
            continue
        checked[name] = sorted(services[name])
    for name, selector in re.findall(r'\b(storefleet_[a-zA-Z0-9_]+)\{([^}]*)\}', expr):
        for label in re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!=|!~|=)', selector):
            if name in labels and label not in labels[name]:
                problems.append(f"{where}: {name} has no label {label}")
    for clause in re.findall(r'\b(?:by|without)\s*\(([^)]*)\)', expr):
        for label in [l.strip() for l in clause.split(",") if l.strip()]:
            if label in from_prometheus:
                continue
            if not any(label in labels.get(n, ()) for n in names):
                problems.append(f"{where}: no metric of {sorted(set(names))} has the label {label}")
            if label == "le" and not all(n.endswith("_bucket") for n in names if n in labels):
                problems.append(f"{where}: by (le) on a metric that is not a histogram bucket")
for p in problems:
    print(p, file=sys.stderr)
for name, where in sorted(checked.items()):
    print(f"  {name}: {', '.join(where)}")
print(f"{len(exprs)} expressions, {len(checked)} metrics checked against the scrape")
sys.exit(1 if problems else 0)
PY
ok "every metric and label of the alert rules and the dashboard is in a real /metrics scrape"
