# shellcheck shell=bash
# Shared by the smoke tests: fail loudly, poll with deadlines, clean up namespaces.
set -euo pipefail
export PATH="${STOREFLEET_CACHE:-$HOME/.cache/storefleet}/bin:$PATH"
: "${KUBECONFIG:?the stack env is not loaded (run through tests/with-stack)}"
fail() { echo "FAIL: $*" >&2; exit 1; }
poll() {  # poll DEADLINE_SECONDS COMMAND...
    local deadline=$1 start=$SECONDS
    shift
    until "$@" >/dev/null 2>&1; do
        (( SECONDS - start < deadline )) || return 1
        sleep 0.2
    done
}
test_namespace() {  # test_namespace NAME: sets $ns to a fresh namespace, deleted at exit
    ns="smoke-$1-$RANDOM"
    kubectl create namespace "$ns" >/dev/null
    # shellcheck disable=SC2064
    trap "kubectl delete namespace $ns --wait=false >/dev/null 2>&1 || true" EXIT
}
