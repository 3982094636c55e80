#!/usr/bin/env bash
# Helm against the real API server: a chart's Deployment becomes Ready through KWOK.
source "$(dirname "$0")/lib.sh"
test_namespace helm
chart="$(dirname "$0")/../../../charts/smoke"
helm install smoke "$chart" -n "$ns" --wait --timeout 90s >/dev/null || fail "helm install --wait failed"
# Helm judges readiness from the ReplicaSet; the Deployment's own status follows a sync later.
ready_replicas() { kubectl -n "$ns" get deploy -l app.kubernetes.io/instance=smoke -o jsonpath='{.items[0].status.readyReplicas}'; }
deployment_ready() { [[ $(ready_replicas 2>/dev/null) == 1 ]]; }
poll 30 deployment_ready || true
ready=$(ready_replicas)
[[ $ready == 1 ]] || fail "deployment has '$ready' ready replicas"
phase=$(kubectl -n "$ns" get pods -o jsonpath='{.items[0].status.phase}')
[[ $phase == Running ]] || fail "pod phase '$phase'"
status=$(helm status smoke -n "$ns" -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["info"]["status"])')
[[ $status == deployed ]] || fail "release status '$status'"
helm uninstall smoke -n "$ns" --wait >/dev/null
echo "ok: helm install became Ready through KWOK"
