#!/usr/bin/env bash
# Real RBAC: a service account may do what it was granted and nothing else.
source "$(dirname "$0")/lib.sh"
test_namespace rbac
kubectl -n "$ns" create serviceaccount reader >/dev/null
kubectl -n "$ns" create role pod-reader --verb=get,list --resource=pods >/dev/null
kubectl -n "$ns" create rolebinding reader --role=pod-reader --serviceaccount="$ns:reader" >/dev/null
as=(--as "system:serviceaccount:$ns:reader")
# The API server authorizes from its watch cache, so a new binding counts a moment later.
can_list_pods() { [[ $(kubectl -n "$ns" auth can-i list pods "${as[@]}" 2>/dev/null) == yes ]]; }
poll 15 can_list_pods || fail "granted verb denied"
[[ $(kubectl -n "$ns" auth can-i create pods "${as[@]}" || true) == no ]] || fail "create pods allowed"
[[ $(kubectl auth can-i list secrets -n kube-system "${as[@]}" || true) == no ]] || fail "cross-namespace secrets allowed"
# And with a real token, not impersonation: the API server itself refuses.
token=$(kubectl -n "$ns" create token reader --duration 10m)
ca=$(mktemp)
kubectl config view --raw -o jsonpath='{.clusters[0].cluster.certificate-authority-data}' | base64 -d >"$ca"
server=$(kubectl config view -o jsonpath='{.clusters[0].cluster.server}')
code() { curl -s -o /dev/null -w '%{http_code}' --cacert "$ca" -H "Authorization: Bearer $token" "$server$1"; }
pods_allowed() { [[ $(code "/api/v1/namespaces/$ns/pods") == 200 ]]; }
poll 15 pods_allowed || true
pods=$(code "/api/v1/namespaces/$ns/pods")
secrets=$(code "/api/v1/namespaces/$ns/secrets")
rm -f "$ca"
[[ $pods == 200 ]] || fail "listing pods with the token answered $pods"
[[ $secrets == 403 ]] || fail "listing secrets with the token answered $secrets, want 403"
echo "ok: RBAC denied what was not granted"
