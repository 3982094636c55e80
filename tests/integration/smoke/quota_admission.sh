#!/usr/bin/env bash
# Real admission: a pod asking for more than the namespace's ResourceQuota is refused,
# and a pod without limits gets the LimitRange's defaults.
source "$(dirname "$0")/lib.sh"
test_namespace quota
kubectl -n "$ns" apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: ResourceQuota
metadata: {name: store-quota}
spec:
  hard: {requests.cpu: "1", requests.memory: 1Gi, limits.cpu: "2", limits.memory: 2Gi, pods: "5"}
---
apiVersion: v1
kind: LimitRange
metadata: {name: store-limits}
spec:
  limits:
  - type: Container
    default: {cpu: 200m, memory: 256Mi}
    defaultRequest: {cpu: 100m, memory: 128Mi}
YAML
# The quota is enforced once kube-controller-manager has written its status. kubectl prints
# nothing and exits 0 while the field is missing, so the wait is for a non-empty value.
quota_has_status() {
    [[ -n $(kubectl -n "$ns" get resourcequota store-quota -o jsonpath='{.status.hard.pods}' 2>/dev/null) ]]
}
poll 30 quota_has_status || fail "quota never got a status"
pod() {  # pod NAME CPU_REQUEST
    cat <<YAML
apiVersion: v1
kind: Pod
metadata: {name: $1}
spec:
  containers:
  - name: c
    image: registry.k8s.io/pause:3.10
    resources: {requests: {cpu: "$2", memory: 64Mi}, limits: {cpu: "$2", memory: 64Mi}}
YAML
}
if out=$(pod too-big 1500m | kubectl -n "$ns" apply -f - 2>&1); then fail "a pod over quota was admitted"; fi
grep -q 'exceeded quota' <<<"$out" || fail "unexpected refusal: $out"
pod fits 500m | kubectl -n "$ns" apply -f - >/dev/null || fail "a pod within quota was refused"
kubectl -n "$ns" run defaults --image=registry.k8s.io/pause:3.10 >/dev/null
limit=$(kubectl -n "$ns" get pod defaults -o jsonpath='{.spec.containers[0].resources.limits.memory}')
[[ $limit == 256Mi ]] || fail "LimitRange default not applied (limit '$limit')"
echo "ok: ResourceQuota refused the pod over quota and LimitRange set defaults"
