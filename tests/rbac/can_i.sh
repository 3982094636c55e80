#!/usr/bin/env bash
# What the provisioner's ServiceAccount can and cannot do, asked with its own token (the
# kubeconfig the local stack writes from charts/storefleet's RBAC, the one the platform runs
# the provisioner with), never by impersonation. Two layers are checked:
#   RBAC:      `kubectl auth can-i` with the token (SelfSubjectAccessReview);
#   admission: writes sent with the token as server-side dry runs, which pass through the
#              ValidatingAdmissionPolicy storefleet-provisioner-fence but change nothing.
# Every answer is printed (`can-i ... -> yes|no`) and compared with the expected one.
# The in-store verbs exist only through the RoleBinding the provisioner writes in each store
# namespace it creates; the test creates one the same way (tests/rbac/lib.sh) and asks before
# and after.
# Needs the stack env (tests/with-stack): KUBECONFIG (admin) and STOREFLEET_PROVISIONER_KUBECONFIG.
set -euo pipefail
export PATH="${STOREFLEET_CACHE:-$HOME/.cache/storefleet}/bin:$PATH"
fail() { echo "FAIL: $*" >&2; exit 1; }
: "${KUBECONFIG:?the stack env is not loaded (run through tests/with-stack)}"
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
[[ -n $SA_KC && -s $SA_KC ]] || fail "STOREFLEET_PROVISIONER_KUBECONFIG is not set or empty: the stack did not create the provisioner's identity"
sa=(kubectl --kubeconfig "$SA_KC" --request-timeout=20s)
admin=(kubectl --request-timeout=20s)

# The token really is the ServiceAccount's (not an admin credential).
who=$("${sa[@]}" auth whoami -o jsonpath='{.status.userInfo.username}')
[[ $who == system:serviceaccount:storefleet-system:storefleet-provisioner ]] || fail "the provisioner kubeconfig authenticates as '$who'"
echo "whoami -> $who"

failures=0
# expect ANSWER VERB RESOURCE [kubectl flags...]
expect() {
    local want=$1 got
    shift
    got=$("${sa[@]}" auth can-i "$@" 2>/dev/null || true)
    [[ $got == yes || $got == no ]] || fail "auth can-i $* answered '$got'"
    if [[ $got == "$want" ]]; then
        echo "can-i $* -> $got"
    else
        echo "FAIL can-i $* -> $got, want $want" >&2
        failures=$((failures + 1))
    fi
}

store_a=$(store_namespace_name)
store_b=$(store_namespace_name)
other=sf-rbac-other-$RANDOM$RANDOM
cleanup() { "${admin[@]}" delete namespace "$store_a" "$store_b" "$other" --ignore-not-found --wait=false >/dev/null 2>&1 || true; }
trap cleanup EXIT

echo "--- namespaces (cluster-scoped; names made at run time)"
expect yes create namespaces
expect yes patch namespaces
expect yes get namespaces
expect yes delete namespaces
# list/watch: the drift watch of store namespaces (label-selected; docs/decisions/0012).
expect yes list namespaces
expect yes watch namespaces
expect no update namespaces

echo "--- leases: only in their own namespace, $LEASE_NS (not the release namespace's other Leases)"
for verb in get create update delete; do expect yes "$verb" leases.coordination.k8s.io -n "$LEASE_NS"; done
expect no list leases.coordination.k8s.io -n "$LEASE_NS"
expect no get leases.coordination.k8s.io -n storefleet-system
expect no create leases.coordination.k8s.io -n storefleet-system
expect no create leases.coordination.k8s.io -n default
expect no create leases.coordination.k8s.io -n kube-system

echo "--- readiness and drift: cluster-wide list/watch of the kinds a store is made of, no other"
for r in deployments.apps statefulsets.apps jobs.batch services ingresses.networking.k8s.io \
    networkpolicies.networking.k8s.io resourcequotas limitranges rolebindings.rbac.authorization.k8s.io; do
    expect yes list "$r" --all-namespaces
    expect yes watch "$r" --all-namespaces
done
expect no list pods --all-namespaces
expect no watch secrets --all-namespaces
expect no list configmaps --all-namespaces
expect no list persistentvolumeclaims --all-namespaces
expect no list serviceaccounts --all-namespaces
expect no get services -n kube-system

echo "--- no way to grant itself more"
expect no create clusterrolebindings.rbac.authorization.k8s.io
expect no create clusterroles.rbac.authorization.k8s.io
expect no escalate clusterroles.rbac.authorization.k8s.io
# bind: on its in-store ClusterRole only (to write the per-namespace RoleBinding), by name.
expect yes bind "clusterroles.rbac.authorization.k8s.io/$STORE_ROLE"
expect no bind clusterroles.rbac.authorization.k8s.io
expect no bind clusterroles.rbac.authorization.k8s.io/cluster-admin
expect no bind clusterroles.rbac.authorization.k8s.io/admin
expect no bind "clusterroles.rbac.authorization.k8s.io/$PROVISIONER_SA"
expect no escalate "clusterroles.rbac.authorization.k8s.io/$STORE_ROLE"
expect no escalate roles.rbac.authorization.k8s.io -n "$store_a"
expect no bind roles.rbac.authorization.k8s.io -n "$store_a"
expect no impersonate users
expect no impersonate groups
expect no impersonate serviceaccounts -n kube-system
expect no create certificatesigningrequests.certificates.k8s.io
expect no create tokenreviews.authentication.k8s.io
expect no delete validatingadmissionpolicies.admissionregistration.k8s.io
expect no patch validatingadmissionpolicybindings.admissionregistration.k8s.io
expect no create mutatingwebhookconfigurations.admissionregistration.k8s.io
expect no create customresourcedefinitions.apiextensions.k8s.io
expect no get nodes
expect no create persistentvolumes
expect no '*' '*'

echo "--- kube-system and other namespaces: nothing, reads included"
# The in-store role is bound only per store namespace, so outside them RBAC says no.
expect no get secrets -n kube-system
expect no list secrets -n kube-system
expect no list secrets --all-namespaces
expect no get configmaps -n kube-system
expect no get secrets -n default
expect no get secrets -n storefleet-system
expect no get secrets -n "$store_b"
expect no list pods -n kube-system
expect no create serviceaccounts --subresource=token -n kube-system
expect no create pods -n kube-system
expect no create daemonsets.apps -n kube-system
expect no create deployments.apps -n kube-system
expect no patch networkpolicies.networking.k8s.io -n kube-system
# RoleBindings: create/patch are cluster-wide (store namespaces are named at run time); the
# admission fence allows them only in store-*, to the store role, for itself (below).
expect yes create rolebindings.rbac.authorization.k8s.io -n kube-system
expect yes patch rolebindings.rbac.authorization.k8s.io -n "$store_b"
expect no get rolebindings.rbac.authorization.k8s.io -n kube-system
expect no update rolebindings.rbac.authorization.k8s.io -n kube-system
expect no delete rolebindings.rbac.authorization.k8s.io -n "$store_b"
expect no create roles.rbac.authorization.k8s.io -n "$store_b"

echo "--- writes made with the token (server-side dry runs): refused by RBAC or by the admission fence"
refused "create secret in kube-system" "cannot create resource" -n kube-system create secret generic sf-rbac --from-literal=a=b
refused "create configmap in kube-system" "cannot create resource" -n kube-system create configmap sf-rbac --from-literal=a=b
refused "create deployment in kube-system" "cannot create resource" -n kube-system create deployment sf-rbac --image=registry.k8s.io/pause:3.10
refused "create secret in default" "cannot create resource" -n default create secret generic sf-rbac --from-literal=a=b
denied "label namespace kube-system" label namespace kube-system storefleet.io/x=y
# default and kube-system are immortal anyway (NamespaceLifecycle): use one of the admin's.
"${admin[@]}" create namespace "$other" >/dev/null || fail "admin could not create $other"
denied "delete namespace $other (not a store's)" delete namespace "$other"
denied "delete namespace storefleet-system" delete namespace storefleet-system
denied "create namespace not-a-store" create namespace not-a-store
denied "create store namespace without Pod Security enforce" create namespace "$store_b"
denied "create store namespace at enforce=privileged" apply --server-side --field-manager storefleet -f - < <(store_namespace "$store_b" privileged)
denied "create store namespace at enforce=baseline" apply --server-side --field-manager storefleet -f - < <(store_namespace "$store_b" baseline)
denied "create store namespace at enforce=restricted, enforce-version=v1.24" apply --server-side --field-manager storefleet -f - \
    < <(store_namespace "$store_b" restricted | sed 's/labels: {/labels: {pod-security.kubernetes.io\/enforce-version: v1.24, /')
# RoleBindings: never outside store-*, never another role, never another subject.
denied "RoleBinding in kube-system" apply --server-side --field-manager storefleet -f - < <(store_rolebinding kube-system)
denied "RoleBinding in default" apply --server-side --field-manager storefleet -f - < <(store_rolebinding default)

# The real thing, as the provisioner does it: create a store namespace, bind its role there,
# write in it, delete it.
if ! out=$("${sa[@]}" apply --server-side --field-manager storefleet -f - < <(store_namespace "$store_a" restricted) 2>&1); then
    fail "the provisioner could not create store namespace $store_a: $out"
fi
echo "admission: create store namespace $store_a (enforce=restricted) -> admitted"
expect no get secrets -n "$store_a"   # made, not yet bound: nothing there either
refused "RoleBinding in $store_a to cluster-admin" "attempting to grant RBAC permissions not currently held" apply --server-side --field-manager storefleet -f - < <(store_rolebinding "$store_a" cluster-admin)
refused "RoleBinding in $store_a to admin" "attempting to grant RBAC permissions not currently held" apply --server-side --field-manager storefleet -f - < <(store_rolebinding "$store_a" admin)
denied "RoleBinding in $store_a to ClusterRole $PROVISIONER_SA" apply --server-side --field-manager storefleet -f - < <(store_rolebinding "$store_a" "$PROVISIONER_SA")
denied "RoleBinding in $store_a for ServiceAccount $store_a/default" apply --server-side --field-manager storefleet -f - < <(store_rolebinding "$store_a" "$STORE_ROLE" default "$store_a")
denied "RoleBinding in $store_a for kube-system/$PROVISIONER_SA" apply --server-side --field-manager storefleet -f - < <(store_rolebinding "$store_a" "$STORE_ROLE" "$PROVISIONER_SA" kube-system)
denied "RoleBinding in $store_a for itself and a user" apply --server-side --field-manager storefleet -f - \
    < <(store_rolebinding "$store_a"; printf '  - {kind: User, name: mallory, apiGroup: rbac.authorization.k8s.io}\n')
start=$SECONDS
bind_as_provisioner "$store_a"
echo "admission: RoleBinding $store_a/$PROVISIONER_SA to $STORE_ROLE for itself -> admitted, in effect after $((SECONDS - start))s"

echo "--- in its store namespace, once bound: the guardrails and the kinds the store charts render"
expect yes create resourcequotas -n "$store_a"
expect yes patch limitranges -n "$store_a"
expect yes patch networkpolicies.networking.k8s.io -n "$store_a"
expect yes get secrets -n "$store_a"
expect yes list secrets -n "$store_a"
expect yes create secrets -n "$store_a"
expect yes update secrets -n "$store_a"
expect yes delete secrets -n "$store_a"
for r in services configmaps persistentvolumeclaims serviceaccounts deployments.apps statefulsets.apps jobs.batch ingresses.networking.k8s.io; do
    expect yes get "$r" -n "$store_a"
    expect yes create "$r" -n "$store_a"
    expect yes patch "$r" -n "$store_a"
    expect yes delete "$r" -n "$store_a"
done
# Backups (decision 14): its backup Job's pod is listed for the termination message (the dump's
# size); nothing more of pods: no get by name, no watch, no logs, no exec, no create.
expect yes list pods -n "$store_a"
expect no watch pods -n "$store_a"
expect no get pods --subresource=log -n "$store_a"
expect no create pods -n "$store_a"
expect no create pods --subresource=exec -n "$store_a"
expect no get pods -n "$store_a"
expect no delete pods -n "$store_a"
expect no create serviceaccounts --subresource=token -n "$store_a"
expect no delete resourcequotas -n "$store_a"
expect no delete networkpolicies.networking.k8s.io -n "$store_a"
expect no create roles.rbac.authorization.k8s.io -n "$store_a"
expect no escalate roles.rbac.authorization.k8s.io -n "$store_a"
expect no delete rolebindings.rbac.authorization.k8s.io -n "$store_a"
expect no create daemonsets.apps -n "$store_a"
expect no create cronjobs.batch -n "$store_a"
expect no get secrets -n "$store_b"   # another store's namespace: not bound there

admitted "create secret in $store_a" -n "$store_a" create secret generic sf-rbac --from-literal=a=b
admitted "create deployment in $store_a" -n "$store_a" create deployment sf-rbac --image=registry.k8s.io/pause:3.10
denied "relabel $store_a to enforce=privileged" label namespace "$store_a" --overwrite pod-security.kubernetes.io/enforce=privileged
denied "relabel $store_a to enforce=baseline" label namespace "$store_a" --overwrite pod-security.kubernetes.io/enforce=baseline
"${sa[@]}" delete namespace "$store_a" --wait=false >/dev/null || fail "the provisioner could not delete its store namespace $store_a"
echo "admission: delete namespace $store_a -> admitted"

failures=$((failures + FENCE_FAILURES))
((failures == 0)) || fail "$failures check(s) did not hold"
echo "ok: the provisioner's ServiceAccount can do what it uses and no more (RBAC + admission fence); nothing outside its store namespaces, reads included"
