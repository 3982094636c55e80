#!/usr/bin/env bash
# Both store charts, driven exactly as the provisioner drives them but with Helm and kubectl
# on the provisioner's own token (STOREFLEET_PROVISIONER_KUBECONFIG): the namespace, then its
# RoleBinding to the in-store role (the only grant of those verbs), then the guardrails and the
# credentials Secret applied (tests/charts/lib.sh mirrors store_plan.cpp),
# `helm upgrade --install` twice (install, then an upgrade with a changed value), the
# interrupted-install recovery's DELETE of the release record, `helm status`, `helm uninstall`,
# and the namespace deleted until it is gone. Any verb missing from charts/storefleet's RBAC
# fails here with the API server's "forbidden" message. (The e2e test covers WooCommerce
# through the running provisioner; this covers Medusa too.)
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/../charts/lib.sh"
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
need_cluster
[[ -n $SA_KC && -s $SA_KC ]] || fail "STOREFLEET_PROVISIONER_KUBECONFIG is not set: the stack did not create the provisioner's identity"
as_sa() { KUBECONFIG=$SA_KC "$@"; }
for chart in "${STORE_CHARTS[@]}"; do
    id=$(new_uuid)
    ns=store-$id
    NAMESPACES+=("$ns")
    provisioner_objects "$ns" small "$id" "${ENGINE_OF[$chart]}" >"$WORK/$chart.objects.yaml"
    # The namespace is the first document; nothing else may be written in it before the binding.
    awk '/^---$/ {exit} {print}' "$WORK/$chart.objects.yaml" >"$WORK/$chart.namespace.yaml"
    out=$(as_sa kubectl apply --server-side --field-manager storefleet -f "$WORK/$chart.namespace.yaml" 2>&1) ||
        fail "$chart: applying the namespace as the provisioner: $out"
    # Before the binding the provisioner can do nothing in it: not even read.
    [[ $(as_sa kubectl auth can-i get secrets -n "$ns" 2>/dev/null) == no ]] ||
        fail "$chart: the provisioner can read secrets in $ns before it bound its store role there"
    bind_as_provisioner "$ns"
    out=$(as_sa kubectl apply --server-side --field-manager storefleet -f "$WORK/$chart.objects.yaml" 2>&1) ||
        fail "$chart: applying the namespace and guardrails as the provisioner: $out"
    provisioner_values "$WORK/$chart.values.yaml" small "$id"
    helm_sa() { as_sa helm "$@" -n "$ns" 2>&1; }
    out=$(helm_sa upgrade --install "$RELEASE" "$CHARTS_ROOT/$chart" -f "$WORK/$chart.values.yaml" --disable-openapi-validation --timeout 120s) ||
        fail "$chart: helm install as the provisioner: $out"
    out=$(helm_sa upgrade --install "$RELEASE" "$CHARTS_ROOT/$chart" -f "$WORK/$chart.values.yaml" --set "storeName=Renamed" --disable-openapi-validation --timeout 120s) ||
        fail "$chart: helm upgrade as the provisioner: $out"
    status=$(helm_sa status "$RELEASE" -o json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["version"], d["info"]["status"])') ||
        fail "$chart: helm status as the provisioner"
    [[ $status == "2 deployed" ]] || fail "$chart: release is '$status' after install and upgrade, want '2 deployed'"
    # The recovery of an interrupted first install deletes the first release record (helm.cpp).
    out=$(as_sa kubectl -n "$ns" delete secret "sh.helm.release.v1.$RELEASE.v1" 2>&1) ||
        fail "$chart: deleting a release record as the provisioner: $out"
    out=$(helm_sa uninstall "$RELEASE" --ignore-not-found --timeout 120s) || fail "$chart: helm uninstall as the provisioner: $out"
    left=$(kubectl -n "$ns" get deploy,sts,job,svc,ingress,cm -l "app.kubernetes.io/instance=$RELEASE" -o name 2>/dev/null | wc -l)
    ((left == 0)) || fail "$chart: $left objects left after uninstall"
    out=$(as_sa kubectl delete namespace "$ns" --wait=false 2>&1) || fail "$chart: deleting the namespace as the provisioner: $out"
    deadline=$((SECONDS + 120))
    while as_sa kubectl get namespace "$ns" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || fail "$chart: namespace $ns still there 120s after delete"
        sleep 1
    done
    ok "$chart: namespace, RoleBinding, guardrails, secret, helm install + upgrade (revision 2), record delete, uninstall and namespace deletion, all as the provisioner's ServiceAccount"
done
