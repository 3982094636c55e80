#!/usr/bin/env bash
# charts/storefleet's monitoring objects, rendered with everything on (defaults, values-local and
# values-prod): every service with /metrics (intake, query, projector, provisioner) has a Service
# labelled storefleet.io/metrics whose http port is a port of its pods; the ServiceMonitor selects
# exactly those Services and the PodMonitor exactly their pods; every alert has a runbook_url
# whose anchor is a heading of docs/operations.md; and there is a target-down and a target-absent
# alert for each service, selecting the pods of its Deployment. Needs only helm. (What the rules'
# metrics are: metrics_match.sh, against a real scrape.)
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)
on=(--set monitoring.prometheusRule.enabled=true --set monitoring.serviceMonitor.enabled=true
    --set monitoring.podMonitor.enabled=true)
for values in values.yaml values-local.yaml values-prod.yaml; do
    helm template sf "$CHART" -n sf -f "$CHART/$values" "${on[@]}" >"$WORK/$values.yaml" ||
        fail "helm template ($values) with monitoring on"
    python3 - "$WORK/$values.yaml" "$root/docs/operations.md" <<'PY' || fail "monitoring objects ($values)"
import re, sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
by_kind = {}
for d in docs:
    by_kind.setdefault(d["kind"], []).append(d)
problems = []
with_metrics = ["intake", "query", "projector", "provisioner"]

def matches(selector, labels):
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions", []):
        if expr["operator"] == "In" and labels.get(expr["key"]) not in expr["values"]:
            return False
    return True

deployments = {d["metadata"]["labels"]["app.kubernetes.io/component"]: d for d in by_kind.get("Deployment", [])}
services = by_kind.get("Service", [])
for component in with_metrics:
    deploy = deployments.get(component)
    if deploy is None:
        problems.append(f"no Deployment for {component}")
        continue
    pod_ports = {p["name"] for c in deploy["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])}
    svc = [s for s in services if s["metadata"]["labels"].get("app.kubernetes.io/component") == component]
    if len(svc) != 1:
        problems.append(f"{component}: {len(svc)} Services, expected 1")
        continue
    svc = svc[0]
    if svc["metadata"]["labels"].get("storefleet.io/metrics") != "true":
        problems.append(f"{component}: its Service is not labelled storefleet.io/metrics")
    http = [p for p in svc["spec"]["ports"] if p["name"] == "http"]
    if not http or http[0]["targetPort"] not in pod_ports:
        problems.append(f"{component}: the Service's http port does not reach a port of its pods ({pod_ports})")
    if not matches({"matchLabels": svc["spec"]["selector"]}, deploy["spec"]["template"]["metadata"]["labels"]):
        problems.append(f"{component}: the Service does not select the Deployment's pods")

(monitor,) = by_kind["ServiceMonitor"]
selected = sorted(s["metadata"]["labels"]["app.kubernetes.io/component"] for s in services
                  if matches(monitor["spec"]["selector"], s["metadata"]["labels"]))
if selected != sorted(with_metrics):
    problems.append(f"the ServiceMonitor selects {selected}, expected {sorted(with_metrics)}")
if [e["port"] for e in monitor["spec"]["endpoints"]] != ["http"]:
    problems.append("the ServiceMonitor does not scrape the http port")
(pod_monitor,) = by_kind["PodMonitor"]
selected = sorted(c for c, d in deployments.items()
                  if matches(pod_monitor["spec"]["selector"], d["spec"]["template"]["metadata"]["labels"]))
if selected != sorted(with_metrics):
    problems.append(f"the PodMonitor selects the pods of {selected}, expected {sorted(with_metrics)}")

# GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens.
anchors = set()
for line in open(sys.argv[2]):
    m = re.match(r"^#+\s+(.*)", line)
    if m:
        anchors.add(re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-"))
(rule,) = by_kind["PrometheusRule"]
down, absent = {}, {}
count = 0
for group in rule["spec"]["groups"]:
    for r in group["rules"]:
        count += 1
        url = r.get("annotations", {}).get("runbook_url", "")
        anchor = url.partition("#")[2]
        if not url.startswith("https://") or anchor not in anchors:
            problems.append(f"alert {r['alert']}: runbook_url {url!r} is not a heading of docs/operations.md")
        if "runbook" in r.get("annotations", {}):
            problems.append(f"alert {r['alert']}: the bare runbook anchor was left in")
        pods = re.search(r'pod=~"([^"]+)"', r["expr"])
        if r["alert"] in ("StorefleetTargetDown", "StorefleetTargetAbsent") and pods:
            (down if r["alert"] == "StorefleetTargetDown" else absent)[r["labels"]["component"]] = pods.group(1)
for component in with_metrics:
    name = deployments[component]["metadata"]["name"]
    pod = name + "-5d8f7c9b4-x2x7q"  # a pod of the Deployment, as its ReplicaSet names them
    for kind, found in (("down", down), ("absent", absent)):
        if component not in found or not re.fullmatch(found[component], pod):
            problems.append(f"no target-{kind} alert selecting the pods of {name}")
if not any(r["alert"] == "StorefleetApiErrors" for g in rule["spec"]["groups"] for r in g["rules"]):
    problems.append("no 5xx alert")
for p in problems:
    print(p, file=sys.stderr)
print(f"{count} alerts, each with a runbook; {len(with_metrics)} services scraped")
sys.exit(1 if problems else 0)
PY
    ok "monitoring objects ($values)"
done
