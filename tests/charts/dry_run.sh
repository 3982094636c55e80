#!/usr/bin/env bash
# (c) Both charts, in every plan, are accepted by the real kube-apiserver (server-side dry run)
# in a namespace prepared exactly as the provisioner prepares a store's: the plan's ResourceQuota
# and LimitRange, Pod Security enforce=restricted (warn=restricted). Also dry-run: every pod the
# workloads would create and the StatefulSets' claims (a dry-run Deployment creates no pods, so
# this is where quota, LimitRange maximums and Pod Security meet the real pods). Asserts: no
# refusal, no Pod Security warning (every pod passes `restricted`), no LimitRange defaulting
# (every container sets its own requests and limits), and the labels on every object.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
need_cluster
checks="$(dirname "$0")/manifests.py"

# 1. Render and check every chart x plan; one namespace per pair (its labels name the engine).
combos=() specs=()
for chart in "${STORE_CHARTS[@]}"; do
    for plan in "${PLANS[@]}"; do
        id=$(new_uuid)
        base="$WORK/$chart-$plan"
        provisioner_values "$base.values.yaml" "$plan" "$id" nginx
        helm template "$RELEASE" "$CHARTS_ROOT/$chart" -f "$base.values.yaml" >"$base.yaml" \
            || fail "helm template $chart ($plan)"
        kubectl create --dry-run=client -o json -f "$base.yaml" >"$base.json"
        python3 "$checks" check-labels "$id" <"$base.json" || fail "$chart ($plan): labels"
        python3 "$checks" check-resources <"$base.json" || fail "$chart ($plan): requests/limits"
        python3 "$checks" workload-pods <"$base.json" >"$base.pods.json"
        combos+=("$chart:$plan")
        specs+=("$plan:$id:${ENGINE_OF[$chart]}:$RELEASE-$chart")
    done
done
store_namespaces dry "${specs[@]}"

# 2. Dry-run each pair in its namespace, all pairs at once.
dry_run() {  # dry_run BASE NAMESPACE: exit status and stderr in BASE.rc / BASE.err
    local base=$1 ns=$2
    {
        kubectl apply --dry-run=server -n "$ns" -f "$base.yaml" >"$base.out" &&
            kubectl apply --dry-run=server -n "$ns" -o json -f "$base.pods.json" >"$base.pods.out"
    } 2>"$base.err"
    echo $? >"$base.rc"
}
for i in "${!combos[@]}"; do
    IFS=: read -r chart plan <<<"${combos[i]}"
    dry_run "$WORK/$chart-$plan" "${NS_LIST[i]}" &
done
wait

# 3. Verdicts.
for i in "${!combos[@]}"; do
    IFS=: read -r chart plan <<<"${combos[i]}"
    base="$WORK/$chart-$plan"
    [[ $(<"$base.rc") == 0 ]] || fail "$chart ($plan) refused by the API server in ${NS_LIST[i]}:"$'\n'"$(cat "$base.err")"
    if grep -q 'PodSecurity' "$base.err"; then
        fail "$chart ($plan): Pod Security warnings (the namespace warns on restricted):"$'\n'"$(cat "$base.err")"
    fi
    if grep -q . "$base.err"; then
        fail "$chart ($plan): unexpected warnings:"$'\n'"$(cat "$base.err")"
    fi
    python3 "$checks" check-not-defaulted <"$base.pods.out" || fail "$chart ($plan): LimitRange defaults"
    echo "  $chart $plan: $(grep -c . "$base.out") objects and $(grep -c '"kind": "Pod"' "$base.pods.out") workload pods accepted in ${NS_LIST[i]}" >&2
done
for chart in "${STORE_CHARTS[@]}"; do
    ok "$chart: accepted by the API server (server-side dry run) in the namespace of each plan (${PLANS[*]}), pods restricted-clean, no LimitRange defaulting, labels complete"
done
