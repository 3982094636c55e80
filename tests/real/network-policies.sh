#!/usr/bin/env bash
# tests/real/network-policies.sh: the store NetworkPolicies the provisioner writes hold on the
# real node, enforced by its kube-router (docs/decisions/0008-networkpolicy-enforcer.md).
# `make test-real` runs it (tests/real/run).
#
# Two stores are created through the API (POST /api/v1/stores; simulated placement, so only
# their namespaces and the provisioner's policies matter, and they come in seconds); the test
# checks the four policies are there as the provisioner made them, then puts its own pods on
# the real node: a plain pod, an internet-egress pod, a pod labelled as a backup Job's
# (storefleet.io/data-job) and one labelled as the database in store A, a web pod in store B
# (labelled as the chart's web pod, so B's Ingress reaches it), a pod in a namespace that is no
# store's, and one in the ingress controller's namespace the policy names. The stack's fence
# already drops what a pod sends to the host or off the pod network (except DNS), so every
# target is a listener this test starts (tests/real/netprobe.py, inside the pod's network
# namespace through nsenter; `kubectl exec` does not reach the real node), or one at
# 198.51.100.10 (TEST-NET-2) in the namespace the stack routes to as the outside. Each is shown
# reachable with the enforcer stopped (its rules removed), then blocked with it running:
#   another store's pod on any port, and its web port from a pod not in the ingress namespace;
#   a pod of a non-store namespace; the outside on a port other than 80/443, and on 80/443 from
#   a pod without storefleet.io/internet-egress=true.
# And with it running, what must still work: the store's own pods, web egress on 80/443 from an
# internet-egress pod, DNS through the kube-dns pod (and not to the node's resolver directly),
# the ingress controller's namespace to B's web port only, B's Ingress through the real node's
# ingress, and the fence (a pod no policy selects still cannot reach the host). Over IPv6 (the
# pods' link-local addresses, which the policies and kube-router do not cover here) neither
# another store's pod nor the host is reachable, enforcer or not: the fence drops it.
#
# Uses the stack of $STOREFLEET_STATE (default .state/test-real) when its real node and
# platform run; otherwise starts them and stops what it started. Leaves the enforcer running.
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
summary() { echo "network-policies: $passed passed, $failed failed"; }

PROBE="$ROOT/tests/real/netprobe.py"
TS=$(date +%s)
OTHER_NS="np-other-$TS"
started_stack=false
enforcer_stopped=false
created_ingress_ns=""
listeners=()
store_ids=()
ingress_pod_ns=""
cleanup() {
    local rc=$? pid id
    for pid in "${listeners[@]}"; do kill "$pid" 2>/dev/null || true; done
    if $enforcer_stopped; then realnode_enforcer_start || true; fi
    # The test's pods go now (their stores' namespaces go with the API's deletion, which a
    # stack stopped right after would only finish at its next start).
    for ns in "${store_ids[@]/#/store-}"; do
        kubectl delete pod -n "$ns" -l "np-test=$TS" --wait=true --timeout=30s >/dev/null 2>&1 || true
    done
    kubectl delete namespace "$OTHER_NS" --wait=false >/dev/null 2>&1 || true
    if [[ -n $created_ingress_ns ]]; then
        kubectl delete namespace "$created_ingress_ns" --wait=false >/dev/null 2>&1 || true
    elif [[ -n $ingress_pod_ns ]]; then
        kubectl delete pod -n "$ingress_pod_ns" np-ingress --wait=false >/dev/null 2>&1 || true
    fi
    for id in "${store_ids[@]}"; do
        curl -s -o /dev/null -X DELETE -H "Authorization: Bearer $TOKEN" "$STOREFLEET_URL/api/v1/stores/$id" || true
    done
    if $started_stack; then
        "$ROOT/infra/local/platform" down >/dev/null 2>&1 || true
        "$ROOT/infra/local/down" >/dev/null 2>&1 || true
    fi
    summary
    ((failed == 0 && rc == 0)) || exit 1
}
trap cleanup EXIT
trap 'exit 130' INT TERM

t0=$SECONDS
platform_ready() {
    [[ -f $STOREFLEET_STATE/env.d/realnode && -f $STOREFLEET_STATE/env.d/platform ]] && _rn_pid_alive kubelet &&
        "$ROOT/infra/local/platform" status >/dev/null 2>&1
}
if ! platform_ready; then
    started_stack=true
    bash "$ROOT/infra/local/build-tools.sh"
    bash "$ROOT/infra/images/build.sh"
    "$ROOT/infra/local/platform" down >/dev/null 2>&1 || true
    "$ROOT/infra/local/up"
    "$ROOT/infra/local/up" real-node
    "$ROOT/infra/local/platform" up >/dev/null
fi
set -a
# shellcheck disable=SC1091
source "$STOREFLEET_STATE/env"
set +a
[[ -n ${STOREFLEET_INGRESS_HTTP:-} && -n ${STOREFLEET_URL:-} ]] || die "no STOREFLEET_INGRESS_HTTP or STOREFLEET_URL in $STOREFLEET_STATE/env"
TOKEN=$(<"$STOREFLEET_TOKEN_FILE")
_rn_pid_alive kube-router || realnode_enforcer_start
api() {  # api METHOD PATH [BODY]: prints the body, then the status code on its own last line
    local args=(-s -w '\n%{http_code}' -X "$1" -H "Authorization: Bearer $TOKEN")
    [[ $# -ge 3 ]] && args+=(-H 'Content-Type: application/json' --data-binary "$3")
    curl "${args[@]}" "$STOREFLEET_URL$2"
}
field() { python3 -c 'import json,sys; v=json.loads(sys.argv[1]);
for k in sys.argv[2].split("."): v=v[int(k)] if isinstance(v,list) else v[k]
print(v)' "$1" "$2"; }

# --- two stores through the API, and the provisioner's policies in their namespaces --------
declare -A HOST_OF
for s in a b; do
    out=$(api POST /api/v1/stores '{"name":"np-'"$s-$TS"'","engine":"medusa","plan":"small","admin_email":"np@example.com"}')
    [[ ${out##*$'\n'} == 202 ]] || die "POST /api/v1/stores answered ${out##*$'\n'}: ${out%$'\n'*}"
    id=$(field "${out%$'\n'*}" id)
    store_ids+=("$id")
    HOST_OF[$s]=$(field "${out%$'\n'*}" host)
done
NS_A="store-${store_ids[0]}"
NS_B="store-${store_ids[1]}"
ok "two stores created through the API: $NS_A (A) and $NS_B (B)"
policies_of() {
    kubectl get networkpolicy -n "$1" -l app.kubernetes.io/managed-by=storefleet \
        -o jsonpath='{range .items[*]}{.metadata.name}{"\n"}{end}' 2>/dev/null | sort | paste -sd' '
}
has_policies() { [[ $(policies_of "$1") == "allow-from-ingress-controller allow-web-egress data-job-to-database default-deny" ]]; }
for ns in "$NS_A" "$NS_B"; do
    if wait_for "the provisioner's NetworkPolicies in $ns" 120 has_policies "$ns"; then
        ok "$ns has the provisioner's policies: $(policies_of "$ns")"
    else
        die "$ns: expected default-deny, allow-from-ingress-controller, allow-web-egress, data-job-to-database; found '$(policies_of "$ns")'"
    fi
done
INGRESS_NS=$(kubectl get networkpolicy -n "$NS_B" allow-from-ingress-controller \
    -o jsonpath='{.spec.ingress[0].from[0].namespaceSelector.matchLabels.kubernetes\.io/metadata\.name}')
WEB_PORT=$(kubectl get networkpolicy -n "$NS_B" allow-from-ingress-controller -o jsonpath='{.spec.ingress[0].ports[0].port}')
# The store database's port a backup Job may reach (decision 14).
DB_PORT=$(kubectl get networkpolicy -n "$NS_A" data-job-to-database -o jsonpath='{.spec.egress[0].ports[0].port}')
[[ -n $INGRESS_NS && -n $WEB_PORT ]] || die "could not read the ingress namespace and web port from $NS_B/allow-from-ingress-controller"
log "policies: the ingress controller's namespace is $INGRESS_NS, the web port $WEB_PORT"

# B's web Service (from the chart): the test's web pod carries its selector, so B's Ingress
# reaches it (the real node's ingress dials only endpoints on the pod network).
web_service() {
    kubectl get ingress -n "$NS_B" -o jsonpath='{.items[0].spec.rules[0].http.paths[0].backend.service.name}' 2>/dev/null
}
wait_for "B's Ingress" 180 bash -c "[[ -n \$(kubectl get ingress -n $NS_B -o name 2>/dev/null) ]]" ||
    die "store B has no Ingress after 180s"
WEB_SVC=$(web_service)
WEB_LABELS=$(kubectl get service -n "$NS_B" "$WEB_SVC" -o json | python3 -c '
import json, sys
print(", ".join("%s: %s" % (k, json.dumps(v)) for k, v in json.load(sys.stdin)["spec"]["selector"].items()))')
log "B's Ingress goes to Service $WEB_SVC (selector {$WEB_LABELS})"

# --- the test's pods on the real node --------------------------------------------------------
kubectl create namespace "$OTHER_NS" >/dev/null
if ! kubectl get namespace "$INGRESS_NS" >/dev/null 2>&1; then
    kubectl create namespace "$INGRESS_NS" >/dev/null
    created_ingress_ns=$INGRESS_NS
fi
ingress_pod_ns=$INGRESS_NS
pod() {  # pod NAMESPACE NAME LABELS(yaml flow) [PORT_NAME PORT]
    local ports=""
    [[ $# -ge 5 ]] && ports="ports: [{name: $4, containerPort: $5, protocol: TCP}]"
    cat <<YAML
---
apiVersion: v1
kind: Pod
metadata:
  name: $2
  namespace: $1
  labels: {np-test: "$TS", $3}
spec:
  nodeSelector: {storefleet.io/node-kind: real}
  tolerations: [{key: storefleet.io/real-node, operator: Exists, effect: NoSchedule}]
  automountServiceAccountToken: false
  terminationGracePeriodSeconds: 1
  securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
  containers:
  - name: pause
    image: storefleet.local/pause:1
    imagePullPolicy: Never
    resources:
      requests: {cpu: 10m, memory: 16Mi}
      limits: {cpu: 50m, memory: 32Mi}
    securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
    $ports
YAML
}
{
    pod "$NS_A" np-plain 'np-role: plain'
    pod "$NS_A" np-egress '"storefleet.io/internet-egress": "true"'
    pod "$NS_A" np-datajob '"storefleet.io/data-job": backup'
    pod "$NS_A" np-db '"app.kubernetes.io/component": database'
    pod "$NS_B" np-web "$WEB_LABELS" http "$WEB_PORT"
    pod "$OTHER_NS" np-other 'np-role: other'
    pod "$INGRESS_NS" np-ingress 'np-role: ingress'
} | kubectl apply -f - >/dev/null
declare -A IP PID
running() {
    local ns=$1 name=$2 ip cid
    ip=$(kubectl get pod -n "$ns" "$name" -o jsonpath='{.status.podIP}' 2>/dev/null)
    cid=$(kubectl get pod -n "$ns" "$name" -o jsonpath='{.status.containerStatuses[0].containerID}' 2>/dev/null)
    [[ -n $ip && $cid == containerd://* ]] || return 1
    [[ $(kubectl get pod -n "$ns" "$name" -o jsonpath='{.status.phase}') == Running ]] || return 1
    local tasks pid
    tasks=$(_rn_ctr tasks ls 2>/dev/null)
    pid=$(awk -v id="${cid#containerd://}" '$1 == id && $3 == "RUNNING" {print $2}' <<<"$tasks")
    [[ -n $pid ]] || return 1
    IP[$name]=$ip
    PID[$name]=$pid
}
for p in "$NS_A/np-plain" "$NS_A/np-egress" "$NS_A/np-datajob" "$NS_A/np-db" "$NS_B/np-web" "$OTHER_NS/np-other" "$INGRESS_NS/np-ingress"; do
    wait_for "pod $p to run" 120 running "${p%/*}" "${p#*/}" || {
        kubectl describe pod -n "${p%/*}" "${p#*/}" >&2 || true
        die "pod $p did not run on the real node"
    }
    running "${p%/*}" "${p#*/}"
done
ok "the test's pods run on $REALNODE_NAME: A ${IP[np-plain]} (plain), ${IP[np-egress]} (internet-egress); B ${IP[np-web]} (web); $OTHER_NS ${IP[np-other]}; $INGRESS_NS ${IP[np-ingress]}"

# --- the test's listeners --------------------------------------------------------------------
OTHER_PORT=5432  # on B's web pod: "any port" of another store (a database's, say)
start_listener() {  # start_listener PID|netns:NAME PORT...
    local where=$1
    shift
    if [[ $where == netns:* ]]; then
        ip netns exec "${where#netns:}" python3 "$PROBE" listen "$@" >/dev/null 2>&1 &
    else
        nsenter -t "$where" -n python3 "$PROBE" listen "$@" >/dev/null 2>&1 &
    fi
    listeners+=($!)
}
start_listener "${PID[np-web]}" "$WEB_PORT" "$OTHER_PORT"
start_listener "${PID[np-egress]}" 8080
start_listener "${PID[np-db]}" "$DB_PORT" 8080
start_listener "${PID[np-other]}" 8080
start_listener "netns:$REALNODE_OUTSIDE_NS" 80 443 8080
OUT=$REALNODE_OUTSIDE_IP
host_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("'"$REALNODE_IP"'", 0)); print(s.getsockname()[1])')
python3 "$PROBE" listen "$host_port" >/dev/null 2>&1 &  # on the host: every address, the node's too
listeners+=($!)
listening() {
    local out
    out=$(nsenter -t "${PID[np-web]}" -n python3 "$PROBE" connect "127.0.0.1:$WEB_PORT" "127.0.0.1:$OTHER_PORT"
        nsenter -t "${PID[np-other]}" -n python3 "$PROBE" connect "127.0.0.1:8080"
        nsenter -t "${PID[np-egress]}" -n python3 "$PROBE" connect "127.0.0.1:8080"
        nsenter -t "${PID[np-db]}" -n python3 "$PROBE" connect "127.0.0.1:$DB_PORT" "127.0.0.1:8080"
        ip netns exec "$REALNODE_OUTSIDE_NS" python3 "$PROBE" connect "$OUT:80" "$OUT:443" "$OUT:8080"
        python3 "$PROBE" connect "127.0.0.1:$host_port")
    [[ $(grep -c ' open$' <<<"$out") == 10 ]]
}
wait_for "the test's listeners" 10 listening || die "the listeners did not start"

# --- the probes --------------------------------------------------------------------------
# A check: FROM (a pod name) TARGET (ip:port) and what is expected with the enforcer off/on.
# "blocked" is refused (kube-router's REJECT) or a timeout.
declare -a CHECKS=(
    "np-plain ${IP[np-web]}:$OTHER_PORT open blocked another store's pod, any port (A -> B:$OTHER_PORT)"
    "np-plain ${IP[np-web]}:$WEB_PORT open blocked another store's web port from a pod of a store (A -> B:$WEB_PORT)"
    "np-other ${IP[np-web]}:$WEB_PORT open blocked a store's web port from a non-ingress pod ($OTHER_NS -> B:$WEB_PORT)"
    "np-ingress ${IP[np-web]}:$OTHER_PORT open blocked a store's other ports from the ingress namespace ($INGRESS_NS -> B:$OTHER_PORT)"
    "np-plain ${IP[np-other]}:8080 open blocked a pod of a non-store namespace from a store ($NS_A -> $OTHER_NS)"
    "np-other ${IP[np-egress]}:8080 open blocked a store's pod from a non-store namespace ($OTHER_NS -> A)"
    "np-egress $OUT:8080 open blocked the outside on a port other than 80/443, from an internet-egress pod"
    "np-plain $OUT:443 open blocked the outside on 443 from a pod without internet-egress"
    "np-plain $OUT:80 open blocked the outside on 80 from a pod without internet-egress"
    "np-egress $OUT:80 open open the outside on 80 from an internet-egress pod"
    "np-egress $OUT:443 open open the outside on 443 from an internet-egress pod"
    "np-plain ${IP[np-egress]}:8080 open open the store's own pods (A -> A)"
    "np-datajob ${IP[np-db]}:$DB_PORT open open a backup Job's pod to its store's database port (A -> A:$DB_PORT)"
    "np-datajob ${IP[np-db]}:8080 open blocked a backup Job's pod to another port of its store's database (A -> A:8080)"
    "np-datajob ${IP[np-egress]}:8080 open blocked a backup Job's pod to its store's other pods (A -> A)"
    "np-datajob ${IP[np-web]}:$OTHER_PORT open blocked a backup Job's pod to another store (A -> B:$OTHER_PORT)"
    "np-datajob $OUT:443 open blocked a backup Job's pod to the outside"
    "np-plain ${IP[np-db]}:$DB_PORT open open the store's own pods to its database (A -> A:$DB_PORT)"
    "np-ingress ${IP[np-web]}:$WEB_PORT open open the ingress controller's namespace to the web port ($INGRESS_NS -> B:$WEB_PORT)"
    "np-other $REALNODE_IP:$host_port blocked blocked the fence: a pod no policy selects still cannot reach the host"
)
# IPv6: the pods have link-local addresses on the bridge, which neither the policies (the node
# and kube-router are IPv4 only) nor the IPv4 fence cover: the fence drops IPv6 from the pods.
ll6() {  # ll6 PID|- IFACE: the link-local IPv6 address there (PID -: the host), "" if none
    local out
    if [[ $1 == - ]]; then out=$(ip -6 -o addr show dev "$2" scope link 2>/dev/null || true)
    else out=$(nsenter -t "$1" -n ip -6 -o addr show dev "$2" scope link 2>/dev/null || true); fi
    awk '{split($4, a, "/"); print a[1]; exit}' <<<"$out"
}
B_LL=$(ll6 "${PID[np-web]}" eth0)
HOST_LL=$(ll6 - "$REALNODE_BRIDGE")
if [[ -n $B_LL && -n $HOST_LL ]]; then
    CHECKS+=("np-plain $B_LL%eth0:$OTHER_PORT blocked blocked the fence: IPv6 (link-local) to another store's pod"
        "np-other $HOST_LL%eth0:$host_port blocked blocked the fence: IPv6 (link-local) to the host")
    # Each answers over IPv6 where the fence is not in the way: B's pod and the host, each
    # dialling its own link-local address (the fence drops pod-to-pod IPv6, and the host's
    # neighbour discovery to a pod with it).
    v6_control=$(nsenter -t "${PID[np-web]}" -n python3 "$PROBE" connect "$B_LL%eth0:$OTHER_PORT"
        python3 "$PROBE" connect "$HOST_LL%$REALNODE_BRIDGE:$host_port")
    if [[ $(grep -c ' open$' <<<"$v6_control") == 2 ]]; then
        ok "the IPv6 targets listen: B's pod answers at $B_LL, the host at $HOST_LL (each dialled from itself)"
    else
        bad "the IPv6 targets do not answer the host, so their checks prove nothing: $v6_control"
    fi
else
    log "the pods have no IPv6 link-local address (B: '${B_LL}', bridge: '${HOST_LL}'): no IPv6 checks"
fi
declare -A RESULT
probe_all() {  # runs every check's probe from its pod (all of one pod's targets at once)
    local from targets line
    RESULT=()
    for from in np-plain np-egress np-other np-ingress np-datajob; do
        targets=()
        for line in "${CHECKS[@]}"; do
            read -r f t _ <<<"$line"
            [[ $f == "$from" ]] && targets+=("$t")
        done
        ((${#targets[@]})) || continue
        while read -r t state; do RESULT["$from $t"]=$state; done < <(nsenter -t "${PID[$from]}" -n python3 "$PROBE" connect "${targets[@]}")
    done
}
matches() {  # matches EXPECTED STATE
    case $1 in
        open) [[ $2 == open ]] ;;
        blocked) [[ $2 == refused || $2 == timeout ]] ;;
    esac
}
column=0  # 3: enforcer off, 4: enforcer on
all_as_expected() {
    local line f t want
    probe_all
    for line in "${CHECKS[@]}"; do
        read -r f t _ <<<"$line"
        want=$(awk -v c=$column '{print $c}' <<<"$line")
        matches "$want" "${RESULT["$f $t"]:-none}" || return 1
    done
}
report() {  # report PHASE
    local line f t off on what want
    for line in "${CHECKS[@]}"; do
        read -r f t off on what <<<"$line"
        want=$([[ $column == 3 ]] && echo "$off" || echo "$on")
        if matches "$want" "${RESULT["$f $t"]:-none}"; then
            ok "$1: $what: $f -> $t ${RESULT["$f $t"]}"
        else
            bad "$1: $what: $f -> $t expected $want, got ${RESULT["$f $t"]:-none}"
        fi
    done
}

# DNS from store A: through its resolv.conf's server (the kube-dns Service, so the relay pod)
# always; to the node's resolver directly only without the enforcer (the fence allows DNS to the
# node; the policy allows DNS to the kube-dns pods only).
dns_server=$(awk '$1 == "nameserver" {print $2; exit}' "/proc/${PID[np-plain]}/root/etc/resolv.conf")
dns_checks() {  # dns_checks PHASE DIRECT_EXPECTED(answer|none)
    local out
    if out=$(nsenter -t "${PID[np-plain]}" -n python3 "$PROBE" dns "$dns_server" kubernetes.default.svc.cluster.local); then
        ok "$1: DNS from a store pod through its resolv.conf's server, the kube-dns Service: $out"
    else
        bad "$1: DNS from a store pod through the kube-dns Service failed: $out"
    fi
    if out=$(nsenter -t "${PID[np-plain]}" -n python3 "$PROBE" dns "$REALNODE_IP" kubernetes.default.svc.cluster.local); then
        if [[ $2 == answer ]]; then ok "$1: DNS to the node's resolver directly: $out"; else
            bad "$1: a store pod reached the node's resolver directly, not only the kube-dns pods: $out"; fi
    else
        if [[ $2 == none ]]; then ok "$1: DNS to the node's resolver directly is blocked for a store pod ($out)"; else
            bad "$1: DNS to the node's resolver directly failed: $out"; fi
    fi
}

# --- with the enforcer stopped: every target answers (only the fence holds) -------------------
realnode_enforcer_stop
enforcer_stopped=true
chains=$(iptables -w -S 2>/dev/null | grep -c -- '-N KUBE-ROUTER-\|-N KUBE-POD-FW-\|-N KUBE-NWPLCY-' || true)
if [[ $chains == 0 ]]; then ok "enforcer stopped: kube-router is not running and none of its chains is left"; else
    bad "enforcer stopped, but $chains of its chains are left"; fi
column=3
wait_for "every target to answer without the enforcer" 20 all_as_expected || true
report "enforcer off"
dns_checks "enforcer off" answer

# --- with the enforcer running: the policies hold -------------------------------------------
t_on=$SECONDS
realnode_enforcer_start
enforcer_stopped=false
column=4
wait_for "the policies to hold" 30 all_as_expected || true
log "enforcer on: policies in force $((SECONDS - t_on))s after its start"
report "enforcer on"
dns_checks "enforcer on" none
# The ingress (a host process, as an ingress controller is a pod the policy names) reaches B's
# web pod through B's own Ingress and Service.
ingress_get() { [[ $(curl -s -m 5 -H "Host: ${HOST_OF[b]}" "$STOREFLEET_INGRESS_HTTP/") == np-ok ]]; }
if wait_for "B's Ingress to reach the test's web pod" 30 ingress_get; then
    ok "the ingress reaches B's web pod with the enforcer on (Host ${HOST_OF[b]} -> $WEB_SVC -> ${IP[np-web]}:$WEB_PORT)"
else
    bad "the ingress does not reach B's web pod: $(curl -s -m 5 -w ' %{http_code}' -H "Host: ${HOST_OF[b]}" "$STOREFLEET_INGRESS_HTTP/" || true)"
fi
log "total $((SECONDS - t0))s"
