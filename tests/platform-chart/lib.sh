# shellcheck shell=bash
# Shared by the platform chart tests (charts/storefleet): paths, a scratch dir and namespaces
# removed at exit, and a unique release per run so runs never meet each other or the local
# stack's own release "storefleet" RBAC (whose cluster-scoped names they would clash with).
set -euo pipefail
export PATH="${STOREFLEET_CACHE:-$HOME/.cache/storefleet}/bin:$PATH"
# CHART and STORE_CHART_TESTS are read by the tests that source this file.
# shellcheck disable=SC2034
CHART="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../charts/storefleet" && pwd)"
# shellcheck disable=SC2034
STORE_CHART_TESTS="$(cd "$(dirname "${BASH_SOURCE[0]}")/../charts" && pwd)"
fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }
WORK="$(mktemp -d)"
NAMESPACES=()
RELEASES=()
_cleanup() {
    local r ns
    for r in "${RELEASES[@]}"; do helm uninstall "${r%%@*}" -n "${r##*@}" --wait=false >/dev/null 2>&1 || true; done
    for ns in "${NAMESPACES[@]}"; do kubectl delete namespace "$ns" --wait=false >/dev/null 2>&1 || true; done
    rm -rf "$WORK"
}
trap _cleanup EXIT
need_cluster() {
    : "${KUBECONFIG:?the stack env is not loaded (run through tests/with-stack)}"
    kubectl version --request-timeout=5s >/dev/null 2>&1 || fail "the Kubernetes API in $KUBECONFIG does not answer"
}
# platform_namespace NAME: a namespace at Pod Security enforce=restricted (the platform's pods
# must pass it), with the Secret the chart expects for Postgres.
platform_namespace() {
    local ns=$1
    NAMESPACES+=("$ns")
    kubectl apply -f - >/dev/null <<NS
apiVersion: v1
kind: Namespace
metadata:
  name: $ns
  labels: {pod-security.kubernetes.io/enforce: restricted, pod-security.kubernetes.io/warn: restricted}
NS
    kubectl -n "$ns" create secret generic storefleet-postgres \
        --from-literal=url=postgresql://storefleet:unused@postgres.invalid:5432/storefleet >/dev/null
}
# Values for a cluster without the images (KWOK runs no container): the defaults of values.yaml
# (two replicas and a PDB each) with a host of this run.
test_values() {  # test_values FILE HOST
    cat >"$1" <<YAML
kafka: {brokers: "kafka.invalid:9092"}
provisioner: {clusterSimulated: true}
ingress: {host: $2}
YAML
}
