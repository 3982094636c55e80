#!/usr/bin/env bash
# infra/kind/e2e.sh [all|up|test|down]: the real end-to-end run of storefleet on a local
# Kubernetes cluster whose containers really run (kind or k3d on Docker or Podman).
#
#   up    create the cluster, install ingress-nginx, build the Medusa store image and load it into
#         the nodes, start PostgreSQL + Kafka + the storefleet services on this machine pointed at
#         the cluster (STOREFLEET_CLUSTER_SIMULATED=false, STOREFLEET_INGRESS_CLASS=nginx)
#   test  for each engine, create a store through the API, wait until it is Ready, reach it through
#         the Ingress, run `helm test store -n store-<id>` (places a real order), delete the store
#         through the API and wait until its namespace is gone
#   down  stop the services and delete the cluster
#   all   up, test, then down (also when the test fails, unless STOREFLEET_E2E_KEEP=1)
#
# Settings (environment):
#   STOREFLEET_KIND_TOOL        kind | k3d            (default: whichever is installed, kind first)
#   STOREFLEET_CONTAINER_ENGINE docker | podman       (default: whichever answers, docker first)
#   STOREFLEET_KIND_CLUSTER     cluster name          (default: storefleet-e2e)
#   STOREFLEET_KIND_HTTP_PORT   host port of the Ingress (default: 8080)
#   STOREFLEET_E2E_ENGINES      engines to test       (default: "medusa woocommerce")
#   STOREFLEET_E2E_KEEP         1: leave stores, services and cluster running at the end
#   STOREFLEET_STATE            state folder          (default: .state/kind; never the local stack's)
#   STOREFLEET_KIND_NODE_IMAGE / STOREFLEET_K3S_IMAGE   node image (default: the one kind/k3d pins)
# The services run on this machine like `make run` runs them. The provisioner talks to the cluster
# as the ServiceAccount storefleet-provisioner with charts/storefleet's RBAC and admission fence
# (the chart's rbac-*.yaml templates, applied here as infra/local/parts/provisioner-rbac.sh applies
# them to the local stack), through a kubeconfig holding a token of that account; kind's admin
# kubeconfig is only for this script's own checks and `helm test`.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
export STOREFLEET_STATE="${STOREFLEET_STATE:-$ROOT/.state/kind}"
: "${STOREFLEET_CACHE:=${XDG_CACHE_HOME:-$HOME/.cache}/storefleet}"
export PATH="$STOREFLEET_CACHE/bin:$PATH"
CLUSTER="${STOREFLEET_KIND_CLUSTER:-storefleet-e2e}"
HTTP_PORT="${STOREFLEET_KIND_HTTP_PORT:-8080}"
E2E_ENGINES="${STOREFLEET_E2E_ENGINES:-medusa woocommerce}"
KEEP="${STOREFLEET_E2E_KEEP:-0}"
KUBECONFIG_FILE="$STOREFLEET_STATE/kind-kubeconfig"
# Pinned versions of what the script installs into the cluster.
INGRESS_NGINX_CHART_VERSION=4.11.3   # controller v1.11.3
# The node image: by default the one the installed kind / k3d release pins (with its digest);
# set these to pin another Kubernetes version.
KIND_NODE_IMAGE="${STOREFLEET_KIND_NODE_IMAGE:-}"
K3S_IMAGE="${STOREFLEET_K3S_IMAGE:-}"
STORE_READY_DEADLINE=1800   # seconds: image pulls, WooCommerce download, Medusa's first migration
STORE_GONE_DEADLINE=600

log() { printf '[%s] e2e: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# poll DEADLINE_SECONDS DESCRIPTION COMMAND...: runs COMMAND every 5 s until it succeeds.
poll() {
    local deadline=$1 what=$2 start=$SECONDS
    shift 2
    until "$@"; do
        (( SECONDS - start < deadline )) || { log "timed out after ${deadline}s waiting for $what"; return 1; }
        sleep 5
    done
}

pick_tools() {
    TOOL="${STOREFLEET_KIND_TOOL:-}"
    if [[ -z $TOOL ]]; then
        if command -v kind >/dev/null; then TOOL=kind
        elif command -v k3d >/dev/null; then TOOL=k3d
        else die "neither kind nor k3d is installed (https://kind.sigs.k8s.io, https://k3d.io)"; fi
    fi
    [[ $TOOL == kind || $TOOL == k3d ]] || die "STOREFLEET_KIND_TOOL must be kind or k3d"
    command -v "$TOOL" >/dev/null || die "$TOOL is not installed"
    ENGINE="${STOREFLEET_CONTAINER_ENGINE:-}"
    if [[ -z $ENGINE ]]; then
        if command -v docker >/dev/null && docker info >/dev/null 2>&1; then ENGINE=docker
        elif command -v podman >/dev/null && podman info >/dev/null 2>&1; then ENGINE=podman
        else die "no container engine answers (docker info / podman info)"; fi
    fi
    "$ENGINE" info >/dev/null 2>&1 || die "$ENGINE does not answer"
    if [[ $ENGINE == podman ]]; then
        [[ $TOOL == kind ]] || die "k3d needs Docker (or Podman's Docker-compatible socket as DOCKER_HOST); use kind with podman"
        export KIND_EXPERIMENTAL_PROVIDER=podman
    fi
    local bin
    for bin in helm kubectl curl python3 openssl; do
        command -v "$bin" >/dev/null || die "$bin is missing (make deps provides helm and kubectl)"
    done
    log "using $TOOL on $ENGINE, cluster $CLUSTER, Ingress on 127.0.0.1:$HTTP_PORT, state in $STOREFLEET_STATE"
}

kc() { kubectl --kubeconfig "$KUBECONFIG_FILE" "$@"; }
hl() { helm --kubeconfig "$KUBECONFIG_FILE" "$@"; }

cluster_exists() {
    case $TOOL in
        kind) grep -qx "$CLUSTER" <<<"$(kind get clusters 2>/dev/null)" ;;
        k3d) k3d cluster get "$CLUSTER" >/dev/null 2>&1 ;;
    esac
}

cluster_up() {
    mkdir -p "$STOREFLEET_STATE"
    if cluster_exists; then
        log "cluster $CLUSTER exists"
    elif [[ $TOOL == kind ]]; then
        # The Ingress controller binds the node's port 80 (hostPort); the node container publishes
        # it on 127.0.0.1:$HTTP_PORT.
        kind create cluster --name "$CLUSTER" ${KIND_NODE_IMAGE:+--image "$KIND_NODE_IMAGE"} --wait 180s --config - <<YAML
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
nodes:
  - role: control-plane
    labels:
      ingress-ready: "true"
    extraPortMappings:
      - containerPort: 80
        hostPort: $HTTP_PORT
        listenAddress: 127.0.0.1
        protocol: TCP
YAML
    else
        # k3s ships Traefik; storefleet's stores use the nginx IngressClass.
        k3d cluster create "$CLUSTER" ${K3S_IMAGE:+--image "$K3S_IMAGE"} --servers 1 --agents 0 \
            --k3s-arg "--disable=traefik@server:0" -p "127.0.0.1:$HTTP_PORT:80@loadbalancer" \
            --kubeconfig-update-default=false --wait --timeout 180s
    fi
    case $TOOL in
        kind) kind get kubeconfig --name "$CLUSTER" >"$KUBECONFIG_FILE" ;;
        k3d) k3d kubeconfig get "$CLUSTER" >"$KUBECONFIG_FILE" ;;
    esac
    chmod 600 "$KUBECONFIG_FILE"
    poll 180 "nodes Ready" kc wait --for=condition=Ready nodes --all --timeout=5s >/dev/null
    grep -q . <<<"$(kc get storageclass -o name)" || die "the cluster has no StorageClass (kind and k3d ship local-path)"
}

ingress_up() {
    # In ingress-nginx: the provisioner's NetworkPolicies admit traffic from that namespace.
    local values=(--set controller.ingressClassResource.name=nginx
        --set controller.ingressClassResource.default=true
        --set controller.admissionWebhooks.enabled=false
        --set controller.resources.requests.cpu=100m --set controller.resources.requests.memory=128Mi)
    if [[ $TOOL == kind ]]; then
        values+=(--set controller.hostPort.enabled=true --set controller.service.type=NodePort
            --set-string controller.nodeSelector.ingress-ready=true
            --set 'controller.tolerations[0].key=node-role.kubernetes.io/control-plane'
            --set 'controller.tolerations[0].operator=Exists'
            --set 'controller.tolerations[0].effect=NoSchedule')
    else
        values+=(--set controller.service.type=LoadBalancer)
    fi
    log "installing ingress-nginx (chart $INGRESS_NGINX_CHART_VERSION)"
    hl upgrade --install ingress-nginx ingress-nginx --repo https://kubernetes.github.io/ingress-nginx \
        --version "$INGRESS_NGINX_CHART_VERSION" -n ingress-nginx --create-namespace \
        "${values[@]}" --wait --timeout 300s >/dev/null
    # Any path on an unknown host answers 404 from the controller once it serves.
    poll 120 "ingress-nginx on 127.0.0.1:$HTTP_PORT" \
        bash -c "[[ \$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$HTTP_PORT/healthz-e2e) == 404 ]]"
}

# The Medusa store image: built from charts/medusa-store/image with the exact reference the chart
# uses by default (the provisioner passes no image values), then loaded into the nodes.
images_up() {
    local image tar="$STOREFLEET_STATE/medusa-store-image.tar"
    image=$(helm template s "$ROOT/charts/medusa-store" --set host=e2e.localtest.me --set storeId=e2e \
        --show-only templates/medusa-deployment.yaml | sed -n 's/^ *image: "\(.*\)"$/\1/p' | sed -n 1p)  # not head: under pipefail, head exiting early could SIGPIPE helm
    [[ -n $image ]] || die "cannot read the Medusa image reference from the chart"
    log "building $image with $ENGINE (several minutes the first time)"
    "$ENGINE" build -t "$image" "$ROOT/charts/medusa-store/image"
    "$ENGINE" save -o "$tar" "$image"
    log "loading $image into the nodes"
    case $TOOL in
        kind) kind load image-archive "$tar" --name "$CLUSTER" ;;
        k3d) k3d image import "$tar" -c "$CLUSTER" ;;
    esac
    rm -f "$tar"
}

# identity_up: the provisioner's ServiceAccount, RBAC and fence in the cluster, and
# $PROVISIONER_KUBECONFIG with a token of that account (never the admin credential).
PROVISIONER_NAMESPACE=storefleet-system
PROVISIONER_SA=storefleet-provisioner
PROVISIONER_KUBECONFIG="$STOREFLEET_STATE/provisioner.kubeconfig"
identity_up() {
    local chart="$ROOT/charts/storefleet" args=() f manifests token server ca
    for f in "$chart"/templates/rbac-*.yaml; do
        args+=(--show-only "templates/$(basename "$f")")
    done
    manifests=$(helm template storefleet "$chart" -n "$PROVISIONER_NAMESPACE" -f "$chart/values-local.yaml" "${args[@]}") ||
        die "rendering charts/storefleet's RBAC failed"
    kc apply -f - >/dev/null <<YAML || die "creating namespace $PROVISIONER_NAMESPACE failed"
apiVersion: v1
kind: Namespace
metadata:
  name: $PROVISIONER_NAMESPACE
  labels:
    app.kubernetes.io/managed-by: storefleet
    pod-security.kubernetes.io/enforce: restricted
YAML
    kc apply --server-side --force-conflicts --field-manager storefleet-e2e -f - >/dev/null <<<"$manifests" ||
        die "applying the provisioner's RBAC failed"
    # Removed from the chart: the in-store role is bound per store namespace by the provisioner.
    kc delete clusterrolebinding "$PROVISIONER_SA-store" --ignore-not-found >/dev/null
    token=$(kc -n "$PROVISIONER_NAMESPACE" create token "$PROVISIONER_SA" --duration 48h) ||
        die "TokenRequest for $PROVISIONER_SA failed"
    server=$(kc config view --raw --minify -o jsonpath='{.clusters[0].cluster.server}')
    ca=$(kc config view --raw --minify -o jsonpath='{.clusters[0].cluster.certificate-authority-data}')
    [[ -n $server && -n $ca ]] || die "cannot read the API server and its CA from $KUBECONFIG_FILE"
    (
        umask 077
        cat >"$PROVISIONER_KUBECONFIG.tmp" <<KC
apiVersion: v1
kind: Config
current-context: storefleet-provisioner
clusters:
- name: storefleet-e2e
  cluster:
    server: $server
    certificate-authority-data: $ca
contexts:
- name: storefleet-provisioner
  context: {cluster: storefleet-e2e, user: $PROVISIONER_SA, namespace: $PROVISIONER_NAMESPACE}
users:
- name: $PROVISIONER_SA
  user:
    token: $token
KC
    )
    mv "$PROVISIONER_KUBECONFIG.tmp" "$PROVISIONER_KUBECONFIG"
    [[ $(kubectl --kubeconfig "$PROVISIONER_KUBECONFIG" auth whoami -o jsonpath='{.status.userInfo.username}') == \
        "system:serviceaccount:$PROVISIONER_NAMESPACE:$PROVISIONER_SA" ]] || die "the provisioner's kubeconfig is not its ServiceAccount's"
    [[ $(kubectl --kubeconfig "$PROVISIONER_KUBECONFIG" auth can-i get secrets -n kube-system) == no ]] ||
        die "the provisioner's ServiceAccount can read secrets in kube-system"
    log "provisioner identity: ServiceAccount $PROVISIONER_NAMESPACE/$PROVISIONER_SA with charts/storefleet's RBAC"
}

platform_up() {
    if [[ ! -x $ROOT/build/services/provisioner/storefleet-provisioner ]]; then
        log "building the services (make build)"
        make -C "$ROOT" build
    fi
    # infra/local/platform reads the cluster from $STOREFLEET_STATE/env; this file takes the place
    # of the simulated cluster's (the k8s part of infra/local is never started here).
    mkdir -p "$STOREFLEET_STATE/env.d"
    # KUBECONFIG (admin) for the checks; the provisioner gets STOREFLEET_PROVISIONER_KUBECONFIG
    # (infra/local/platform) and binds its in-store role to STOREFLEET_PROVISIONER_SERVICE_ACCOUNT.
    # The provisioner's store Leases live in a namespace of their own (ADR 0009).
    printf 'KUBECONFIG=%s\nSTOREFLEET_CLUSTER_SIMULATED=false\nSTOREFLEET_PROVISIONER_KUBECONFIG=%s\nSTOREFLEET_PROVISIONER_SERVICE_ACCOUNT=%s\nSTOREFLEET_LEASE_NAMESPACE=storefleet-leases\n' \
        "$KUBECONFIG_FILE" "$PROVISIONER_KUBECONFIG" "$PROVISIONER_NAMESPACE:$PROVISIONER_SA" >"$STOREFLEET_STATE/env.d/k8s"
    "$ROOT/infra/local/up" postgres kafka
    STOREFLEET_INGRESS_CLASS=nginx STOREFLEET_CLUSTER_SIMULATED=false \
        STOREFLEET_STORE_DEADLINE_SECONDS=$STORE_READY_DEADLINE "$ROOT/infra/local/platform" up >/dev/null
    log "platform up (logs in $STOREFLEET_STATE/platform)"
}

up() {
    pick_tools
    cluster_up
    ingress_up
    images_up
    identity_up
    platform_up
}

# api METHOD PATH [JSON]: the storefleet API through the front door; prints the body, fails on
# a status other than 2xx.
api() {
    local method=$1 path=$2 body=${3:-}
    local args=(-sS --fail-with-body -X "$method" -H "Authorization: Bearer $(<"$STOREFLEET_TOKEN_FILE")")
    [[ -z $body ]] || args+=(-H 'Content-Type: application/json' --data "$body")
    curl "${args[@]}" "$STOREFLEET_URL$path"
}

field() { python3 -c 'import json,sys; v=json.load(sys.stdin).get(sys.argv[1]); print("" if v is None else v)' "$1"; }

# store_view ID: the store as the API shows it; `{}` while the read model has not caught up with
# a request intake just accepted (the API answers 404 until the projector has seen it).
store_view() {
    local out code
    out=$(curl -sS -w '\n%{http_code}' -H "Authorization: Bearer $(<"$STOREFLEET_TOKEN_FILE")" \
        "$STOREFLEET_URL/api/v1/stores/$1")
    code=${out##*$'\n'}
    case $code in
        200) printf '%s\n' "${out%$'\n'*}" ;;
        404) echo '{}' ;;
        *) die "GET /api/v1/stores/$1 answered HTTP $code: ${out%$'\n'*}" ;;
    esac
}

# wait_status ID WANT DEADLINE: polls the store until its status is WANT; fails on `failed`.
wait_status() {
    local id=$1 want=$2 deadline=$3 start=$SECONDS store status step last=""
    while :; do
        store=$(store_view "$id")
        status=$(field status <<<"$store")
        step=$(field step <<<"$store")
        if [[ -n $status && "$status/$step" != "$last" ]]; then
            log "store $id: $status${step:+ ($step)}"
            last="$status/$step"
        fi
        [[ $status == "$want" ]] && return 0
        if [[ $status == failed ]]; then
            log "store $id failed: $(field reason <<<"$store")"
            kc -n "store-$id" get pods,jobs,pvc 2>/dev/null || true
            return 1
        fi
        (( SECONDS - start < deadline )) || { log "store $id is still $status after ${deadline}s"; return 1; }
        sleep 5
    done
}

test_engine() {
    local engine=$1 name id store host ns url code
    name="e2e-$engine-$(openssl rand -hex 3)"
    store=$(api POST /api/v1/stores "{\"name\":\"$name\",\"engine\":\"$engine\",\"plan\":\"small\"}")
    id=$(field id <<<"$store")
    [[ -n $id ]] || die "POST /api/v1/stores returned no id: $store"
    ns="store-$id"
    log "created $engine store $name ($id)"
    wait_status "$id" ready "$STORE_READY_DEADLINE"
    store=$(api GET "/api/v1/stores/$id")
    host=$(field host <<<"$store")
    url=$(field url <<<"$store")
    [[ $(field simulated <<<"$store") == False ]] || die "the platform reports store $id as simulated"
    log "store $id is ready at $url (admin $(field admin_url <<<"$store"))"

    # Through the Ingress, as a browser would reach it (the host resolves to 127.0.0.1).
    case $engine in
        medusa) url="http://$host:$HTTP_PORT/health" ;;
        *) url="http://$host:$HTTP_PORT/" ;;
    esac
    code=$(curl -s -o /dev/null -w '%{http_code}' --resolve "$host:$HTTP_PORT:127.0.0.1" "$url")
    [[ $code == 200 ]] || die "$url answered HTTP $code through the Ingress"
    log "$url answers 200 through ingress-nginx"

    log "helm test store -n $ns"
    hl test store -n "$ns" --timeout 10m --logs || die "helm test failed for the $engine store $id"

    if [[ $KEEP == 1 ]]; then
        log "keeping store $id (STOREFLEET_E2E_KEEP=1)"
        return 0
    fi
    api DELETE "/api/v1/stores/$id" >/dev/null
    wait_status "$id" deleted "$STORE_GONE_DEADLINE"
    poll "$STORE_GONE_DEADLINE" "namespace $ns to go" bash -c "! kubectl --kubeconfig '$KUBECONFIG_FILE' get namespace '$ns' >/dev/null 2>&1"
    log "store $id deleted, namespace $ns gone"
}

run_tests() {
    [[ -f $STOREFLEET_STATE/env ]] || die "nothing is up (run: infra/kind/e2e.sh up)"
    set -a
    # shellcheck disable=SC1091
    source "$STOREFLEET_STATE/env"
    set +a
    [[ ${STOREFLEET_CLUSTER_SIMULATED:-} == false ]] || die "$STOREFLEET_STATE/env is not a real cluster's"
    curl -sf "$STOREFLEET_URL/healthz" >/dev/null || die "the front door $STOREFLEET_URL does not answer"
    local engine
    for engine in $E2E_ENGINES; do
        test_engine "$engine"
    done
    log "PASSED: ${E2E_ENGINES// /, } store(s) created, Ready, reachable through the Ingress, an order placed by helm test, deleted"
}

down() {
    pick_tools
    if [[ -d $STOREFLEET_STATE ]]; then
        "$ROOT/infra/local/platform" down >/dev/null 2>&1 || true
        "$ROOT/infra/local/down" kafka postgres >/dev/null 2>&1 || true
        rm -f "$STOREFLEET_STATE/env.d/k8s" "$PROVISIONER_KUBECONFIG"
    fi
    if cluster_exists; then
        log "deleting cluster $CLUSTER"
        case $TOOL in
            kind) kind delete cluster --name "$CLUSTER" ;;
            k3d) k3d cluster delete "$CLUSTER" ;;
        esac
    fi
}

case ${1:-all} in
    up) up ;;
    test) run_tests ;;
    down) down ;;
    all)
        # In a subshell with errexit of its own, so that a failure anywhere still reaches `down`.
        set +e
        (
            set -e
            up
            run_tests
        )
        rc=$?
        set -e
        if [[ $KEEP == 1 ]]; then
            log "leaving everything running (STOREFLEET_E2E_KEEP=1); stop with: infra/kind/e2e.sh down"
        else
            down
        fi
        exit $rc
        ;;
    *) die "usage: infra/kind/e2e.sh [all|up|test|down]" ;;
esac
