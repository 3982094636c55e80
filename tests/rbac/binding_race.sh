#!/usr/bin/env bash
# The RBAC authorizer sees a new RoleBinding through its watch cache, a moment after the write.
# The provisioner therefore writes nothing in a new store namespace until a SelfSubjectAccessReview
# there says yes (provisioner.cpp, EnsureAccess). This repeats that sequence ROUNDS times on the
# provisioner's token, back to back — namespace, RoleBinding, review until allowed, then at once
# a write and a Helm-style read — and requires every write and read to succeed: the wait is
# enough, the first call after it never meets a 403. It also counts how often the first review
# still said no (the race exists; 0 is possible on an idle machine).
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/../charts/lib.sh"
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
need_cluster
[[ -n $SA_KC && -s $SA_KC ]] || fail "STOREFLEET_PROVISIONER_KUBECONFIG is not set: the stack did not create the provisioner's identity"
ROUNDS=${ROUNDS:-15}
as_sa() { KUBECONFIG=$SA_KC kubectl --request-timeout=20s "$@"; }
late=0
for ((i = 1; i <= ROUNDS; i++)); do
    ns=$(store_namespace_name)
    NAMESPACES+=("$ns")
    out=$(as_sa apply --server-side --field-manager storefleet -f - 2>&1 <<YAML
apiVersion: v1
kind: Namespace
metadata:
  name: $ns
  labels: {app.kubernetes.io/managed-by: storefleet, pod-security.kubernetes.io/enforce: restricted}
YAML
) || fail "round $i: namespace $ns: $out"
    out=$(store_rolebinding "$ns" | as_sa apply --server-side --field-manager storefleet -f - 2>&1) ||
        fail "round $i: RoleBinding in $ns: $out"
    reviews=0 start=$SECONDS
    until [[ $(as_sa auth can-i get secrets -n "$ns" 2>/dev/null) == yes ]]; do
        reviews=$((reviews + 1))
        ((SECONDS - start < 15)) || fail "round $i: RoleBinding in $ns not in effect after 15s"
        sleep 0.05
    done
    ((reviews == 0)) || late=$((late + 1))
    out=$(as_sa -n "$ns" create configmap first-write --from-literal=a=b 2>&1) ||
        fail "round $i: the first write after the review said yes was refused: $out"
    out=$(as_sa -n "$ns" get secrets -l owner=helm -o name 2>&1) ||
        fail "round $i: Helm's first read (list release records) was refused: $out"
    as_sa delete namespace "$ns" --wait=false >/dev/null 2>&1 || fail "round $i: deleting $ns"
done
ok "$ROUNDS namespaces: RoleBinding, review until allowed, then the first write and Helm's first read all succeeded ($late round(s) needed more than one review)"
