#!/usr/bin/env bash
# (a) `helm lint --strict` of both store charts, in every plan, with the values the provisioner
# passes (values file with storeId, storeName, host, plan, adminEmail, credentials.existingSecret,
# ingress.className) and with only the two required values on the command line. Needs no cluster.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"

for chart in "${STORE_CHARTS[@]}"; do
    dir="$CHARTS_ROOT/$chart"
    # The minimal install: only the required values, everything else from the chart's defaults.
    out=$(helm lint --strict "$dir" --set host="$TEST_HOST" --set-string storeId=0123456789 2>&1) \
        || fail "helm lint --strict $chart (required values only):"$'\n'"$out"
    for plan in "${PLANS[@]}"; do
        provisioner_values "$WORK/$chart-$plan.yaml" "$plan" "$(new_uuid)" nginx
        out=$(helm lint --strict "$dir" -f "$WORK/$chart-$plan.yaml" 2>&1) \
            || fail "helm lint --strict $chart (provisioner values, plan $plan):"$'\n'"$out"
    done
    # TLS on, no persistence, no ServiceAccount: the other branches of the templates.
    out=$(helm lint --strict "$dir" -f "$WORK/$chart-small.yaml" --set ingress.tls.enabled=true \
        --set persistence.enabled=false --set serviceAccount.create=false 2>&1) \
        || fail "helm lint --strict $chart (tls, no persistence):"$'\n'"$out"
    ok "helm lint --strict $chart: required values only, provisioner values for ${PLANS[*]}, tls/no persistence"
done

# Suspend (ADR 0011): with suspended=true every Deployment and StatefulSet renders 0 replicas and
# the Ingress carries storefleet.io/suspended; the setup Job renders the same in every plan,
# suspended or not, so neither a plan change nor suspend/resume changes it (a Job's template is
# immutable, and an unchanged Job is not run again by `helm upgrade`).
for chart in "${STORE_CHARTS[@]}"; do
    dir="$CHARTS_ROOT/$chart"
    id=$(new_uuid)
    for plan in "${PLANS[@]}"; do
        for suspended in false true; do
            SUSPENDED=$suspended provisioner_values "$WORK/$chart-$plan-$suspended.yaml" "$plan" "$id" nginx
            helm template store "$dir" -n "store-$id" -f "$WORK/$chart-$plan-$suspended.yaml" \
                >"$WORK/$chart-$plan-$suspended.out" || fail "helm template $chart ($plan, suspended $suspended)"
        done
    done
    problems=$(python3 - "$WORK" "$chart" "${PLANS[@]}" <<'PY'
import sys
import yaml
work, chart, plans = sys.argv[1], sys.argv[2], sys.argv[3:]
def objects(plan, suspended):
    with open(f"{work}/{chart}-{plan}-{suspended}.out") as f:
        return [o for o in yaml.safe_load_all(f) if o]
jobs = set()
for plan in plans:
    for suspended in ("false", "true"):
        for o in objects(plan, suspended):
            kind, name = o["kind"], o["metadata"]["name"]
            if kind in ("Deployment", "StatefulSet"):
                want = 0 if suspended == "true" else 1
                if o["spec"].get("replicas") != want:
                    print(f"{kind} {name} ({plan}, suspended {suspended}): replicas {o['spec'].get('replicas')}, want {want}")
            if kind == "Ingress":
                marked = (o["metadata"].get("annotations") or {}).get("storefleet.io/suspended")
                if marked != ("true" if suspended == "true" else None):
                    print(f"Ingress {name} ({plan}, suspended {suspended}): storefleet.io/suspended is {marked!r}")
            if kind == "Job":
                jobs.add(yaml.safe_dump(o, sort_keys=True))
if len(jobs) != 1:
    print(f"the setup Job renders {len(jobs)} different ways across plans and suspend; want one")
PY
) || fail "checking the rendered $chart"
    [[ -z $problems ]] || fail "$chart suspend and plan changes:"$'\n'"$problems"
    ok "$chart: suspended puts every Deployment and StatefulSet at 0 and marks the Ingress; the setup Job is the same in every plan, suspended or not"
done
