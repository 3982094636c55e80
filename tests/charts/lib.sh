# shellcheck shell=bash
# Shared by the chart tests: the charts under test, the values the provisioner passes, and store
# namespaces prepared exactly as the provisioner prepares them (services/provisioner/src/
# store_plan.cpp: namespace labels with Pod Security enforce=restricted (version latest) and
# warn+audit=restricted, ResourceQuota `store-quota`, LimitRange `store-limits`, the three
# NetworkPolicies and the `store-credentials` Secret). Keep provisioner_objects in step with
# store_plan.cpp. (The provisioner's RoleBinding is not here: these namespaces are the admin's.)
# shellcheck disable=SC2034 # the variables below are used by the scripts that source this
set -euo pipefail
export PATH="${STOREFLEET_CACHE:-$HOME/.cache/storefleet}/bin:$PATH"

CHARTS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../charts" && pwd)"
# chart directory -> the provisioner's engine name
declare -A ENGINE_OF=([woocommerce-store]=woocommerce [medusa-store]=medusa)
STORE_CHARTS=(woocommerce-store medusa-store)
PLANS=(small medium large)
# The provisioner installs every store as release "store".
RELEASE=store
TEST_HOST=demo.stores.localtest.me

fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }

need_cluster() {
    : "${KUBECONFIG:?the stack env is not loaded (source \$STOREFLEET_STATE/env or run through tests/with-stack)}"
    kubectl version --request-timeout=5s >/dev/null 2>&1 || fail "the Kubernetes API in $KUBECONFIG does not answer"
}

# A scratch directory, removed at exit.
WORK="$(mktemp -d)"
NAMESPACES=()
_cleanup() {
    local ns
    for ns in "${NAMESPACES[@]}"; do
        kubectl delete namespace "$ns" --wait=false >/dev/null 2>&1 || true
    done
    rm -rf "$WORK"
}
trap _cleanup EXIT

new_uuid() { cat /proc/sys/kernel/random/uuid; }

plan_factor() {
    case $1 in small) echo 1 ;; medium) echo 2 ;; large) echo 4 ;; *) fail "unknown plan $1" ;; esac
}

# provisioner_values FILE PLAN STORE_ID [INGRESS_CLASS]: the values file the provisioner writes
# (ChartValues in store_plan.cpp).
provisioner_values() {
    local file=$1 plan=$2 id=$3 class=${4:-}
    {
        echo "storeId: \"$id\""
        echo "storeName: \"Chart test's store\""
        echo "host: $TEST_HOST"
        echo "plan: $plan"
        echo "suspended: ${SUSPENDED:-false}"
        echo "adminEmail: owner@example.com"
        echo "credentials: {existingSecret: store-credentials}"
        if [[ -n $class ]]; then echo "ingress: {className: $class}"; fi
    } >"$file"
}

# provisioner_objects NAMESPACE PLAN STORE_ID ENGINE: the objects the provisioner applies before
# it installs the chart.
provisioner_objects() {
    local ns=$1 plan=$2 id=$3 engine=$4 f web_port=80
    f=$(plan_factor "$plan")
    [[ $engine == medusa ]] && web_port=9000
    local labels="app.kubernetes.io/managed-by: storefleet, app.kubernetes.io/part-of: storefleet, storefleet.io/store-id: \"$id\", storefleet.io/tenant: chart-tests, storefleet.io/engine: $engine, storefleet.io/plan: $plan"
    local meta="namespace: $ns, labels: {$labels}"
    local cpu=$((1000 * f))
    cpu=$([[ $((cpu % 1000)) == 0 ]] && echo $((cpu / 1000)) || echo "${cpu}m")
    cat <<YAML
apiVersion: v1
kind: Namespace
metadata:
  name: $ns
  labels: {$labels, pod-security.kubernetes.io/enforce: restricted, pod-security.kubernetes.io/enforce-version: latest, pod-security.kubernetes.io/warn: restricted, pod-security.kubernetes.io/audit: restricted}
---
apiVersion: v1
kind: ResourceQuota
metadata: {name: store-quota, $meta}
spec:
  hard:
    requests.cpu: "$cpu"
    requests.memory: $((2 * f))Gi
    limits.cpu: "$((2 * f))"
    limits.memory: $((4 * f))Gi
    requests.storage: $((10 * f))Gi
    persistentvolumeclaims: "4"
    pods: "$((10 * f))"
    services: "5"
    services.loadbalancers: "0"
    services.nodeports: "0"
    secrets: "20"
    configmaps: "20"
---
apiVersion: v1
kind: LimitRange
metadata: {name: store-limits, $meta}
spec:
  limits:
    - type: Container
      default: {cpu: 500m, memory: 512Mi}
      defaultRequest: {cpu: 100m, memory: 128Mi}
      max: {cpu: "$cpu", memory: $((2 * f))Gi}
    - type: PersistentVolumeClaim
      max: {storage: $((10 * f))Gi}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny, $meta}
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
  ingress: [{from: [{podSelector: {}}]}]
  egress:
    - to: [{podSelector: {}}]
    - to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}, podSelector: {matchLabels: {k8s-app: kube-dns}}}]
      ports: [{protocol: UDP, port: 53}, {protocol: TCP, port: 53}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-from-ingress-controller, $meta}
spec:
  podSelector: {matchLabels: {app.kubernetes.io/component: web}}
  policyTypes: [Ingress]
  ingress:
    - from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: ingress-nginx}}}]
      ports: [{protocol: TCP, port: $web_port}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-web-egress, $meta}
spec:
  podSelector: {matchLabels: {storefleet.io/internet-egress: "true"}}
  policyTypes: [Egress]
  egress:
    - to:
        - ipBlock: {cidr: 0.0.0.0/0, except: [10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10, 169.254.0.0/16, 127.0.0.0/8, 0.0.0.0/8, 198.18.0.0/15, 224.0.0.0/4, 240.0.0.0/4]}
        - ipBlock: {cidr: "::/0", except: ["fc00::/7", "fe80::/10", "::1/128", "ff00::/8", "64:ff9b::/96"]}
      ports: [{protocol: TCP, port: 443}, {protocol: TCP, port: 80}]
---
apiVersion: v1
kind: Secret
metadata: {name: store-credentials, $meta}
type: Opaque
stringData:
  db-root-password: "$(openssl rand -hex 24)"
  db-password: "$(openssl rand -hex 24)"
  admin-password: "$(openssl rand -hex 16)"
  jwt-secret: "$(openssl rand -hex 32)"
  cookie-secret: "$(openssl rand -hex 32)"
YAML
}

# store_namespaces PREFIX SPEC...: creates namespaces prepared like stores' (deleted at exit),
# all with one request, and waits until their ResourceQuotas are in force. Each SPEC is
# PLAN:STORE_ID:ENGINE[:SERVICE_ACCOUNT] (the ServiceAccount is created for real too, for the
# tests that dry-run pods: Pod admission requires it to exist). Sets the array NS_LIST to the
# names, in SPEC order. Not in a subshell: the exit trap must learn the names.
store_namespaces() {
    local prefix=$1 spec plan id engine sa ns
    shift
    NS_LIST=()
    for spec in "$@"; do
        IFS=: read -r plan id engine sa <<<"$spec"
        ns="charts-$prefix-$plan-$(head -c4 /dev/urandom | od -An -tx1 | tr -d ' \n')"
        NAMESPACES+=("$ns")
        NS_LIST+=("$ns")
        provisioner_objects "$ns" "$plan" "$id" "$engine"
        if [[ -n $sa ]]; then
            printf -- '---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {name: %s, namespace: %s}\nautomountServiceAccountToken: false\n' "$sa" "$ns"
        fi
        echo "---"
    done >"$WORK/namespaces.yaml"
    kubectl apply -f "$WORK/namespaces.yaml" >/dev/null
    # Quota admission refuses pods until the quota controller has computed the quota's status.
    local start=$SECONDS
    for ns in "${NS_LIST[@]}"; do
        until [[ -n $(kubectl -n "$ns" get resourcequota store-quota -o jsonpath='{.status.hard.pods}' 2>/dev/null) ]]; do
            (( SECONDS - start < 30 )) || fail "ResourceQuota in $ns never got a status"
            sleep 0.2
        done
    done
}
