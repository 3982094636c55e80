# shellcheck shell=bash
# Shared by the RBAC tests: the provisioner's own kubeconfig, and a store namespace's RoleBinding
# written the way the provisioner writes it (services/provisioner/src/store_plan.cpp,
# RoleBindingObject; provisioner.cpp, EnsureAccess): right after the namespace, with its token,
# then waiting until the API server authorizes with it.

SA_KC=${STOREFLEET_PROVISIONER_KUBECONFIG:-}
PROVISIONER_NS=storefleet-system
PROVISIONER_SA=storefleet-provisioner
STORE_ROLE=$PROVISIONER_SA-store

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
