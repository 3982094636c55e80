# shellcheck shell=bash
# Shared by the RBAC tests: the provisioner's own kubeconfig, and a store namespace's RoleBinding
# written the way the provisioner writes it (services/provisioner/src/store_plan.cpp,
# RoleBindingObject; provisioner.cpp, EnsureAccess): right after the namespace, with its token,
# then waiting until the API server authorizes with it.

SA_KC=${STOREFLEET_PROVISIONER_KUBECONFIG:-}
PROVISIONER_NS=storefleet-system
PROVISIONER_SA=storefleet-provisioner
STORE_ROLE=$PROVISIONER_SA-store
# Where the provisioner's Leases go (infra/local/parts/provisioner-rbac.sh writes it to the env).
# shellcheck disable=SC2034  # read by the tests sourcing this file
LEASE_NS=${STOREFLEET_LEASE_NAMESPACE:-storefleet-leases}

# store_namespace_name: a store namespace named as the provisioner names one (store-<uuid>,
# NamespaceFor in store_plan.cpp); the admission fence admits no other name.
store_namespace_name() { echo "store-$(cat /proc/sys/kernel/random/uuid)"; }

# store_namespace NAME [ENFORCE]: a namespace manifest labelled as the provisioner labels a
# store's (Pod Security enforce ENFORCE, restricted by default).
store_namespace() {
    printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n  labels: {app.kubernetes.io/managed-by: storefleet, pod-security.kubernetes.io/enforce: %s}\n' \
        "$1" "${2:-restricted}"
}

# as_provisioner KUBECTL-ARGS...: kubectl with the provisioner's own token.
as_provisioner() { kubectl --kubeconfig "$SA_KC" --request-timeout=20s "$@"; }

# Writes sent with the provisioner's token as server-side dry runs: they pass RBAC and both
# admission policies (storefleet-provisioner-fence, -fence-objects) but change nothing. Each
# prints its verdict; a wrong one counts in FENCE_FAILURES (the caller fails at the end).
FENCE_FAILURES=0
_fence_fail() { echo "FAIL $*" >&2; FENCE_FAILURES=$((FENCE_FAILURES + 1)); }
# denied WHAT COMMAND...: refused by the provisioner's admission fence.
denied() { denied_because "$1" . "${@:2}"; }
# denied_because WHAT PATTERN COMMAND...: refused by the fence, PATTERN (grep -E) in its message.
denied_because() {
    local what=$1 pattern=$2 out
    shift 2
    if out=$(as_provisioner "$@" --dry-run=server 2>&1); then
        _fence_fail "admission: $what was admitted: $out"
    elif ! grep -q "ValidatingAdmissionPolicy 'storefleet-provisioner-fence" <<<"$out"; then
        _fence_fail "admission: $what failed, but not by the fence: $out"
    elif ! grep -qE "$pattern" <<<"$out"; then
        _fence_fail "admission: $what was denied, but not for /$pattern/: $out"
    else
        echo "admission: $what -> denied ($(grep -o 'denied request: .*' <<<"$out" | head -1))"
    fi
}
# refused WHAT PATTERN COMMAND...: refused by RBAC itself (PATTERN: its message, e.g. "cannot
# create" or the escalation check's "not currently held") or by the fence.
refused() {
    local what=$1 pattern=$2 out
    shift 2
    if out=$(as_provisioner "$@" --dry-run=server 2>&1); then
        _fence_fail "$what was admitted: $out"
    elif grep -q "storefleet-provisioner-fence" <<<"$out"; then
        echo "refused: $what -> by the fence ($(grep -o 'denied request: .*' <<<"$out" | head -1))"
    elif grep -qE "$pattern" <<<"$out"; then
        echo "refused: $what -> by RBAC ($(head -1 <<<"$out" | grep -oE "$pattern" | head -1))"
    else
        _fence_fail "$what failed, but neither by RBAC nor by the fence: $out"
    fi
}
# admitted WHAT COMMAND...: admitted (RBAC and both policies).
admitted() {
    local what=$1 out
    shift
    if out=$(as_provisioner "$@" --dry-run=server 2>&1); then
        echo "admission: $what -> admitted"
    else
        _fence_fail "admission: $what was refused: $out"
    fi
}

# store_rolebinding NAMESPACE [ROLE [SUBJECT_NAME [SUBJECT_NAMESPACE]]]: the RoleBinding manifest
# (the defaults are the provisioner's own; the tests change them to show the fence refuse).
store_rolebinding() {
    local ns=$1 role=${2:-$STORE_ROLE} name=${3:-$PROVISIONER_SA} sa_ns=${4:-$PROVISIONER_NS}
    cat <<YAML
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: $PROVISIONER_SA
  namespace: $ns
  labels: {app.kubernetes.io/managed-by: storefleet, app.kubernetes.io/part-of: storefleet}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: $role}
subjects:
  - {kind: ServiceAccount, name: $name, namespace: $sa_ns}
YAML
}

# bind_as_provisioner NAMESPACE: applies the RoleBinding with the provisioner's token and waits
# (up to 15 s, like the provisioner) until `can-i get secrets` there says yes. Prints how long.
bind_as_provisioner() {
    local ns=$1 out start=$SECONDS
    out=$(store_rolebinding "$ns" | KUBECONFIG=$SA_KC kubectl apply --server-side --field-manager storefleet -f - 2>&1) ||
        fail "the provisioner could not bind its store role in $ns: $out"
    until [[ $(KUBECONFIG=$SA_KC kubectl auth can-i get secrets -n "$ns" 2>/dev/null) == yes ]]; do
        ((SECONDS - start < 15)) || fail "RoleBinding $ns/$PROVISIONER_SA not in effect after 15s"
        sleep 0.1
    done
}
