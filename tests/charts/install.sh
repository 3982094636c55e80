#!/usr/bin/env bash
# (d) Both charts, in every plan, installed into the KWOK cluster as the provisioner installs them
# (release "store", its values file, a namespace with the plan's quota, limits, policies and the
# credentials Secret), all six at once: `helm install --wait --wait-for-jobs` succeeds, every Deployment and StatefulSet of the
# release is Ready and the setup Job is Complete, by the provisioner's own readiness rules, all
# claims are bound and the namespace's quota holds everything. Then a replay: `helm upgrade
# --install` with the same values (what the provisioner does after a crash) succeeds and leaves
# the setup Job and the generated secrets untouched. KWOK runs no containers: this proves the
# objects, admission, scheduling and readiness wiring, not the shop.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
need_cluster

combos=() specs=()
for chart in "${STORE_CHARTS[@]}"; do
    for plan in "${PLANS[@]}"; do
        id=$(new_uuid)
        provisioner_values "$WORK/$chart-$plan.values.yaml" "$plan" "$id"
        combos+=("$chart-$plan")
        specs+=("$plan:$id:${ENGINE_OF[$chart]}")
    done
done
store_namespaces install "${specs[@]}"

# helm_run LOG ARGS...: helm, output to LOG, exit status to LOG.rc.
helm_run() {
    local log=$1
    shift
    helm "$@" >"$log" 2>&1
    echo $? >"$log.rc"
}
install_all() {  # install_all VERB: every chart x plan at once
    local i combo
    for i in "${!combos[@]}"; do
        combo=${combos[i]}
        helm_run "$WORK/$combo.$1.log" upgrade --install "$RELEASE" "$CHARTS_ROOT/${combo%-*}" -n "${NS_LIST[i]}" \
            -f "$WORK/$combo.values.yaml" --wait --wait-for-jobs --timeout 120s &
    done
    wait
    for combo in "${combos[@]}"; do
        [[ $(<"$WORK/$combo.$1.log.rc") == 0 ]] || fail "$combo: helm $1 failed:"$'\n'"$(cat "$WORK/$combo.$1.log")"
    done
}

# readiness NAMESPACE: the provisioner's rules (CheckReadiness in provisioner.cpp) over the
# release's Deployments, StatefulSets and Jobs; prints what is not ready, exits 1 if anything is.
readiness() {
    kubectl -n "$1" get deployments,statefulsets,jobs -l "app.kubernetes.io/instance=$RELEASE" -o json | python3 -c '
import json, sys
items = json.load(sys.stdin)["items"]
problems, seen = [], {"Deployment": 0, "StatefulSet": 0, "Job": 0}
for o in items:
    kind, name, status = o["kind"], o["metadata"]["name"], o.get("status", {})
    seen[kind] += 1
    if kind == "Job":
        conditions = {c["type"]: c["status"] for c in status.get("conditions", [])}
        if conditions.get("Complete") != "True":
            problems.append(f"job {name} not complete ({conditions})")
        continue
    want = o["spec"].get("replicas", 1)
    ready = status.get("availableReplicas" if kind == "Deployment" else "readyReplicas", 0)
    current = status.get("observedGeneration", 0) >= o["metadata"].get("generation", 0)
    if ready < want or not current:
        problems.append(f"{kind.lower()} {name} {ready}/{want} ready")
if seen["Job"] != 1 or seen["Deployment"] + seen["StatefulSet"] < 2:
    problems.append(f"unexpected workloads {seen}")
print("\n".join(problems) or "ready: " + ", ".join(f"{n} {k}" for k, n in seen.items()))
sys.exit(1 if problems else 0)
'
}

install_all install
for i in "${!combos[@]}"; do
    chart=${combos[i]} ns=${NS_LIST[i]}
    out=$(readiness "$ns") || fail "$chart in $ns is not ready after helm install --wait:"$'\n'"$out"
    pending=$(kubectl -n "$ns" get pvc -o jsonpath='{range .items[?(@.status.phase!="Bound")]}{.metadata.name} {end}')
    [[ -z $pending ]] || fail "$chart: claims not bound: $pending"
    used=$(kubectl -n "$ns" get resourcequota store-quota -o jsonpath='{.status.used.pods} pods, {.status.used.requests\.cpu} cpu, {.status.used.requests\.memory} memory, {.status.used.requests\.storage} storage requested')
    echo "  $chart in $ns: $out; quota used: $used" >&2
    kubectl -n "$ns" get job -l "app.kubernetes.io/instance=$RELEASE" -o jsonpath='{.items[0].metadata.uid}' >"$WORK/$chart.job-uid"
    kubectl -n "$ns" get secrets -l "app.kubernetes.io/instance=$RELEASE" -o jsonpath='{range .items[*]}{.metadata.name}={.data}{"\n"}{end}' \
        | sha256sum >"$WORK/$chart.secrets"
done
ok "woocommerce-store and medusa-store installed in every plan (${PLANS[*]}) with --wait --wait-for-jobs: workloads Ready, setup Job Complete, claims bound, within the plan's quota"

install_all upgrade
for i in "${!combos[@]}"; do
    chart=${combos[i]} ns=${NS_LIST[i]}
    out=$(readiness "$ns") || fail "$chart in $ns is not ready after the replayed upgrade:"$'\n'"$out"
    uid=$(kubectl -n "$ns" get job -l "app.kubernetes.io/instance=$RELEASE" -o jsonpath='{.items[0].metadata.uid}')
    [[ $uid == "$(<"$WORK/$chart.job-uid")" ]] || fail "$chart: the replayed upgrade replaced the setup Job"
    kubectl -n "$ns" get secrets -l "app.kubernetes.io/instance=$RELEASE" -o jsonpath='{range .items[*]}{.metadata.name}={.data}{"\n"}{end}' \
        | sha256sum | cmp -s - "$WORK/$chart.secrets" || fail "$chart: the replayed upgrade changed a generated secret"
done
ok "a replayed helm upgrade --install with the same values succeeds and keeps the setup Job and the generated secrets (both charts, every plan)"
