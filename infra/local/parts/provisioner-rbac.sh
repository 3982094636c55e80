# shellcheck shell=bash
# The provisioner's own identity on the local stack: the ServiceAccount storefleet-provisioner
# in storefleet-system with the RBAC and the admission fence of charts/storefleet, rendered from
# that chart's rbac-*.yaml templates (one source for the chart and the local stack), and a
# kubeconfig with its token at $STOREFLEET_STATE/provisioner.kubeconfig. infra/local/platform
# runs the provisioner with it (STOREFLEET_PROVISIONER_KUBECONFIG), so a verb missing from the
# chart fails a store in the e2e and fault tests; KUBECONFIG stays the admin one for the
# tests' own checks. The per-store Leases live in a namespace of their own, as the chart makes
# it (storefleet-leases: STOREFLEET_LEASE_NAMESPACE, in $STOREFLEET_STATE/env.d/provisioner, a
# file of this part's so restarting one Kubernetes component, which rewrites env.d/k8s, keeps
# it). Sourced by k8s.sh; k8s_start calls _k8s_provisioner_identity.

PROVISIONER_NAMESPACE=storefleet-system
PROVISIONER_SA=storefleet-provisioner
# The chart's default for release "storefleet" (<fullname>-leases), passed to it explicitly so
# the Role and the provisioner's env cannot disagree.
PROVISIONER_LEASE_NAMESPACE=storefleet-leases
# TokenRequest lifetime: a year, so a stack kept for days never sees it expire; every
# `infra/local/up` writes a fresh one (the old stays valid until it expires).
PROVISIONER_TOKEN_DURATION=${STOREFLEET_PROVISIONER_TOKEN_DURATION:-8760h}

_provisioner_kubeconfig_path() { echo "$STOREFLEET_STATE/provisioner.kubeconfig"; }

# provisioner_rbac_manifests: the chart's RBAC objects (the lease namespace included) for release
# "storefleet" in storefleet-system, exactly as `helm install storefleet charts/storefleet -n
# storefleet-system` renders them.
provisioner_rbac_manifests() {
    local chart="$STOREFLEET_ROOT/charts/storefleet" args=() f
    for f in "$chart"/templates/rbac-*.yaml; do
        args+=(--show-only "templates/$(basename "$f")")
    done
    "$STOREFLEET_CACHE/bin/helm" template storefleet "$chart" -n "$PROVISIONER_NAMESPACE" \
        -f "$chart/values-local.yaml" --set "provisioner.leaseNamespace=$PROVISIONER_LEASE_NAMESPACE" "${args[@]}"
}

# _k8s_provisioner_identity API_PORT: applies the namespace and the RBAC, then writes the
# kubeconfig with a token of the ServiceAccount.
_k8s_provisioner_identity() {
    local api=$1 kc=(kubectl --kubeconfig "$STOREFLEET_STATE/kubeconfig") manifests token out
    manifests=$(provisioner_rbac_manifests) || die "k8s: rendering charts/storefleet RBAC failed"
    # The lease namespace at Pod Security restricted: nothing but Leases lives there locally.
    "${kc[@]}" apply -f - >/dev/null <<NS || die "k8s: creating namespace $PROVISIONER_NAMESPACE failed"
apiVersion: v1
kind: Namespace
metadata:
  name: $PROVISIONER_NAMESPACE
  labels:
    app.kubernetes.io/managed-by: storefleet
    pod-security.kubernetes.io/enforce: restricted
NS
    # --server-side: the same field ownership each time; objects no longer rendered are not
    # pruned (a removed rule must be deleted by hand, as with any kubectl apply).
    "${kc[@]}" apply --server-side --force-conflicts --field-manager storefleet-local -f - >/dev/null <<<"$manifests" ||
        die "k8s: applying the provisioner's RBAC failed"
    # Removed from the chart (the in-store role is now bound per store namespace by the
    # provisioner): a stack from before keeps it unless it is deleted here.
    "${kc[@]}" delete clusterrolebinding "$PROVISIONER_SA-store" --ignore-not-found >/dev/null ||
        die "k8s: deleting the old cluster-wide binding $PROVISIONER_SA-store failed"
    # The lease Role moved to the lease namespace (it covered every Lease of storefleet-system).
    "${kc[@]}" -n "$PROVISIONER_NAMESPACE" delete role,rolebinding "$PROVISIONER_SA-leases" --ignore-not-found >/dev/null ||
        die "k8s: deleting the old lease Role in $PROVISIONER_NAMESPACE failed"
    token=$("${kc[@]}" -n "$PROVISIONER_NAMESPACE" create token "$PROVISIONER_SA" \
        --duration "$PROVISIONER_TOKEN_DURATION") || die "k8s: TokenRequest for $PROVISIONER_SA failed"
    out=$(_provisioner_kubeconfig_path)
    (
        umask 077
        cat >"$out.tmp" <<KC
apiVersion: v1
kind: Config
current-context: storefleet-provisioner
clusters:
- name: storefleet-local
  cluster:
    server: https://127.0.0.1:$api
    certificate-authority-data: $(base64 -w0 "$(_k8s_dir)/pki/ca.crt")
contexts:
- name: storefleet-provisioner
  context: {cluster: storefleet-local, user: $PROVISIONER_SA, namespace: $PROVISIONER_NAMESPACE}
users:
- name: $PROVISIONER_SA
  user:
    token: $token
KC
    )
    mv "$out.tmp" "$out"
    grep -q '^STOREFLEET_PROVISIONER_KUBECONFIG=' "$STOREFLEET_STATE/env.d/k8s" ||
        echo "STOREFLEET_PROVISIONER_KUBECONFIG=$out" >>"$STOREFLEET_STATE/env.d/k8s"
    # Who the provisioner is: it binds its in-store ClusterRole to this account in each store
    # namespace it creates (as the chart's Deployment tells it too).
    grep -q '^STOREFLEET_PROVISIONER_SERVICE_ACCOUNT=' "$STOREFLEET_STATE/env.d/k8s" ||
        echo "STOREFLEET_PROVISIONER_SERVICE_ACCOUNT=$PROVISIONER_NAMESPACE:$PROVISIONER_SA" >>"$STOREFLEET_STATE/env.d/k8s"
    # Where its Leases go: the namespace the chart's lease Role is in.
    echo "STOREFLEET_LEASE_NAMESPACE=$PROVISIONER_LEASE_NAMESPACE" >"$STOREFLEET_STATE/env.d/provisioner"
}
