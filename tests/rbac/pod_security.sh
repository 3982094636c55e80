#!/usr/bin/env bash
# Store namespaces enforce Pod Security `restricted` (store_plan.cpp, NamespaceObject), and both
# store charts run there: every object they render and every pod their workloads would create,
# including charts/medusa-store/values-real-node.yaml (the local real node's placement), applied
# as server-side dry runs in a namespace labelled exactly as the provisioner labels a store's.
# No refusal, no warning. A control pod that is only baseline-clean (no runAsNonRoot, no seccomp,
# capabilities kept) must be refused there, which proves the namespace really enforces restricted.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/../charts/lib.sh"
need_cluster
checks="$(dirname "$0")/../charts/manifests.py"

# case name -> chart and extra values file
cases=(woocommerce medusa medusa-real-node)
declare -A CHART_OF=([woocommerce]=woocommerce-store [medusa]=medusa-store [medusa-real-node]=medusa-store)
declare -A EXTRA_OF=([medusa-real-node]="$CHARTS_ROOT/medusa-store/values-real-node.yaml")
specs=()
for c in "${cases[@]}"; do
    chart=${CHART_OF[$c]}
    id=$(new_uuid)
    base="$WORK/$c"
    provisioner_values "$base.values.yaml" small "$id" nginx
    extra=()
    [[ -n ${EXTRA_OF[$c]:-} ]] && extra=(-f "${EXTRA_OF[$c]}")
    helm template "$RELEASE" "$CHARTS_ROOT/$chart" "${extra[@]}" -f "$base.values.yaml" >"$base.yaml" || fail "helm template $c"
    kubectl create --dry-run=client -o json -f "$base.yaml" >"$base.json"
    python3 "$checks" workload-pods <"$base.json" >"$base.pods.json"
    pods=$(python3 -c 'import json,sys; d=json.load(sys.stdin); print(len(d.get("items", [])))' <"$base.pods.json")
    ((pods > 0)) || fail "$c: the chart renders no workload pods to check"
    specs+=("small:$id:${ENGINE_OF[$chart]}:$RELEASE-$chart")
done
store_namespaces psa "${specs[@]}"

for i in "${!cases[@]}"; do
    c=${cases[i]}
    ns=${NS_LIST[i]}
    base="$WORK/$c"
    [[ $(kubectl get namespace "$ns" -o jsonpath='{.metadata.labels.pod-security\.kubernetes\.io/enforce}') == restricted ]] ||
        fail "$ns is not labelled enforce=restricted (tests/charts/lib.sh out of step with store_plan.cpp?)"
    if ! kubectl apply --dry-run=server -n "$ns" -f "$base.yaml" >/dev/null 2>"$base.err" ||
        ! kubectl apply --dry-run=server -n "$ns" -f "$base.pods.json" >"$base.pods.out" 2>>"$base.err"; then
        fail "$c: refused in $ns (enforce=restricted):"$'\n'"$(cat "$base.err")"
    fi
    if grep -q . "$base.err"; then fail "$c: warnings in $ns:"$'\n'"$(cat "$base.err")"; fi
    n=$(grep -c '^pod/' "$base.pods.out" || true)
    ok "$c: $(grep -c '^kind:' "$base.yaml") objects and $n workload pods admitted at Pod Security enforce=restricted"
done

# The control: baseline-clean, not restricted-clean. Must be refused by Pod Security.
out=$(kubectl apply --dry-run=server -n "${NS_LIST[0]}" -f - 2>&1 <<YAML
apiVersion: v1
kind: Pod
metadata: {name: psa-control}
spec:
  containers:
    - name: c
      image: registry.k8s.io/pause:3.10
      resources: {requests: {cpu: 10m, memory: 16Mi}, limits: {cpu: 10m, memory: 16Mi}}
YAML
) && fail "a pod without runAsNonRoot/seccomp/dropped capabilities was admitted in ${NS_LIST[0]}: $out"
grep -q 'violates PodSecurity "restricted:latest"' <<<"$out" || fail "the control pod was refused, but not by Pod Security restricted: $out"
ok "control pod refused: $(grep -o 'violates PodSecurity "restricted:latest".*' <<<"$out" | cut -c1-160)"
