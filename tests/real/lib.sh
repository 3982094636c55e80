#!/usr/bin/env bash
# tests/real/lib.sh: what the real-node scripts share (sourced by medusa-order.sh,
# medusa-backup.sh, medusa-rollout.sh and, through them, backup-steps.sh; never run). After `source`, a script has:
#
#   ok / bad TEXT        a PASS or FAIL line, counted; the summary at exit says both counts
#   now_ms               milliseconds since the epoch
#   real_start           the tools and images built, the stack of $STOREFLEET_STATE with its real
#                        node and platform (started when missing, then stopped at exit), its env
#                        loaded, TOKEN (the tenant's) and ADMIN_TOKEN set
#   api M PATH [BODY]    the platform's API with the stack's tenant token: the body, then the
#                        status code on its own last line; admin_api the same as the platform admin
#   field JSON KEY.PATH  one value of a JSON text (booleans as true/false)
#   create_medusa_store NAME
#                        POST a Medusa store on the real node, wait until the API says Ready, it
#                        answers through the ingress and its setup Job succeeded; sets STORE_ID,
#                        HOST, NS, ADMIN_PASSWORD and store_view. Deleted at exit unless the
#                        script empties STORE_ID.
#   place_order          a shopper's order through the ingress (charts/medusa-store/files/
#                        test-order.sh); prints its id, or nothing when it failed
#   admin_has / admin_lacks ORDER
#                        the merchant's admin API answers 200 / 404 for the order
#   health               the store answers GET /health through the ingress
#   container_pid NS C   the pid of a running container C of namespace NS on the node
#   store_psql SQL       runs SQL in the store's database (the host's psql in its pod's network)
#
# A script may define real_on_exit (run at exit, whatever happened, after the store's DELETE). REAL_LABEL names the
# script in its summary line. Every wait polls with a deadline.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
: "${STOREFLEET_STATE:=$ROOT/.state/test-real}"
export STOREFLEET_STATE
source "$ROOT/infra/local/lib/common.sh"
source "$ROOT/infra/local/lib/parts.sh"

passed=0
failed=0
ok() { passed=$((passed + 1)); log "PASS: $*"; }
bad() { failed=$((failed + 1)); log "FAIL: $*"; }
now_ms() { date +%s%3N; }

started_stack=false
STORE_ID=""
HOST=""
NS=""
ADMIN_EMAIL=merchant@example.com
ADMIN_PASSWORD=""
store_view=""
: "${REAL_LABEL:=real}"

# shellcheck disable=SC2317  # run by the EXIT trap
real_cleanup() {
    local rc=$?
    if [[ -n $STORE_ID ]] && [[ -n ${STOREFLEET_URL:-} ]]; then
        curl -s -o /dev/null -X DELETE -H "Authorization: Bearer $TOKEN" "$STOREFLEET_URL/api/v1/stores/$STORE_ID" || true
    fi
    if declare -F real_on_exit >/dev/null; then real_on_exit || rc=1; fi
    if $started_stack; then
        "$ROOT/infra/local/platform" down >/dev/null 2>&1 || true
        "$ROOT/infra/local/down" >/dev/null 2>&1 || true
    fi
    echo "$REAL_LABEL: $passed passed, $failed failed"
    ((failed == 0 && rc == 0)) || exit 1
}
trap real_cleanup EXIT
trap 'exit 130' INT TERM

platform_ready() {
    [[ -f $STOREFLEET_STATE/env.d/realnode && -f $STOREFLEET_STATE/env.d/platform ]] && _rn_pid_alive kubelet &&
        "$ROOT/infra/local/platform" status >/dev/null 2>&1
}

real_start() {
    local t0=$SECONDS
    bash "$ROOT/infra/local/build-tools.sh"
    bash "$ROOT/infra/images/build.sh"
    log "tools and images ready in $((SECONDS - t0))s"
    if ! platform_ready; then
        started_stack=true
        "$ROOT/infra/local/platform" down >/dev/null 2>&1 || true
        "$ROOT/infra/local/up"
        "$ROOT/infra/local/up" real-node
        # The platform reads the real node's environment at start: intake then offers
        # placement real-node for Medusa, the provisioner layers values-real-node.yaml.
        "$ROOT/infra/local/platform" up >/dev/null
    fi
    set -a
    # shellcheck disable=SC1091
    source "$STOREFLEET_STATE/env"
    set +a
    [[ -n ${STOREFLEET_INGRESS_HTTP:-} && -n ${STOREFLEET_URL:-} ]] || die "no STOREFLEET_INGRESS_HTTP or STOREFLEET_URL in $STOREFLEET_STATE/env"
    TOKEN=$(<"$STOREFLEET_TOKEN_FILE")
    ADMIN_TOKEN=$(<"$STOREFLEET_ADMIN_TOKEN_FILE")
}

api() {  # api METHOD PATH [BODY]: prints the body, then the status code on its own last line
    local args=(-s -w '\n%{http_code}' -X "$1" -H "Authorization: Bearer ${API_TOKEN:-$TOKEN}")
    [[ $# -ge 3 ]] && args+=(-H 'Content-Type: application/json' --data-binary "$3")
    curl "${args[@]}" "$STOREFLEET_URL$2"
}
admin_api() { API_TOKEN=$ADMIN_TOKEN api "$@"; }  # admin_api: api with the platform admin's token
field() { python3 -c 'import json,sys; v=json.loads(sys.argv[1]);
for k in sys.argv[2].split("."): v=v[int(k)] if isinstance(v,list) else v[k]
print(str(v).lower() if isinstance(v,bool) else v)' "$1" "$2"; }

store_settled() {  # the API shows the store ready or failed (its answer in store_view)
    local out
    out=$(api GET "/api/v1/stores/$STORE_ID")
    [[ ${out##*$'\n'} == 200 ]] || return 1
    store_view=${out%$'\n'*}
    case $(field "$store_view" status) in ready | failed) return 0 ;; *) return 1 ;; esac
}
health() { [[ $(curl -s -o /dev/null -w '%{http_code}' -H "Host: $HOST" --max-time 10 "$STOREFLEET_INGRESS_HTTP/health") == 200 ]]; }
setup_done() { [[ $(kubectl get job -n "$NS" -l app.kubernetes.io/component=setup -o jsonpath='{.items[0].status.succeeded}' 2>/dev/null) == 1 ]]; }

create_medusa_store() {  # create_medusa_store NAME
    local out
    out=$(api POST /api/v1/stores '{"name":"'"$1"'","engine":"medusa","plan":"small","admin_email":"'"$ADMIN_EMAIL"'","placement":"real-node"}')
    [[ ${out##*$'\n'} == 202 ]] || die "POST /api/v1/stores answered ${out##*$'\n'}: ${out%$'\n'*}"
    STORE_ID=$(field "${out%$'\n'*}" id)
    HOST=$(field "${out%$'\n'*}" host)
    wait_for "the store to become Ready" 900 store_settled || die "the store did not settle: $store_view"
    [[ $(field "$store_view" status) == ready ]] || die "the store failed: $store_view"
    NS=$(field "$store_view" namespace)
    ok "Medusa store $STORE_ID Ready on the real node (chart $(field "$store_view" chart_version))"
    ADMIN_PASSWORD=$(kubectl get secret -n "$NS" store-credentials -o jsonpath='{.data.admin-password}' | base64 -d)
    wait_for "the store to answer through the ingress" 600 health || die "the store never answered through the ingress"
    wait_for "the setup Job" 900 setup_done || die "the setup Job did not succeed"
}

place_order() {  # place_order: prints the new order's id (test-order.sh waits ORDER_WAIT_SECONDS, 300, for the store)
    local order_log order
    order_log=$(mktemp)
    if BASE_URL="$STOREFLEET_INGRESS_HTTP" STORE_HOST="$HOST" ADMIN_EMAIL="$ADMIN_EMAIL" ADMIN_PASSWORD="$ADMIN_PASSWORD" \
        PUBLISHABLE_KEY_TITLE=storefleet REGION_NAME=Default PRODUCT_HANDLE=storefleet-sample COUNTRY_CODE=us \
        WAIT_SECONDS="${ORDER_WAIT_SECONDS:-300}" sh "$ROOT/charts/medusa-store/files/test-order.sh" 2>"$order_log"; then
        order=$(grep -o 'order order_[A-Za-z0-9]*' "$order_log" | awk '{print $2}' | tail -1)
    else
        cat "$order_log" >&2
        order=""
    fi
    rm -f "$order_log"
    echo "$order"
}
admin_order_status() {  # admin_order_status ORDER: the admin API's HTTP status for the order
    local token
    token=$(printf '{"email":"%s","password":"%s"}' "$ADMIN_EMAIL" "$ADMIN_PASSWORD" |
        curl -sf -H "Host: $HOST" -H 'Content-Type: application/json' --data-binary @- \
            "$STOREFLEET_INGRESS_HTTP/auth/user/emailpass" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])') || {
        echo 000
        return 0
    }
    curl -s -o /dev/null -w '%{http_code}' -H "Host: $HOST" -H "Authorization: Bearer $token" \
        "$STOREFLEET_INGRESS_HTTP/admin/orders/$1?fields=id"
}
admin_has() { [[ $(admin_order_status "$1") == 200 ]]; }
admin_lacks() { [[ $(admin_order_status "$1") == 404 ]]; }

container_pid() {  # container_pid NAMESPACE CONTAINER: the pid of that running container on the node
    local c pid info
    while read -r c pid; do
        info=$(_rn_ctr containers info "$c" 2>/dev/null) || continue
        if grep -q "\"io.kubernetes.pod.namespace\": \"$1\"" <<<"$info" &&
            grep -q "\"io.kubernetes.container.name\": \"$2\"" <<<"$info"; then
            echo "$pid"
            return 0
        fi
    done < <(_rn_ctr tasks ls 2>/dev/null | awk '$3 == "RUNNING" {print $1, $2}')
    return 1
}
store_psql() {  # store_psql SQL: the store database's answer (unaligned, tuples only), as its owner
    # `kubectl exec` does not reach the real node: the host's psql in the database pod's network
    # namespace, with the password of the store's Secret.
    local pid password
    pid=$(container_pid "$NS" postgresql) || { echo "no running PostgreSQL container in $NS" >&2; return 1; }
    password=$(kubectl get secret -n "$NS" store-credentials -o jsonpath='{.data.db-password}' | base64 -d)
    PGPASSWORD="$password" nsenter -t "$pid" -n psql -X -q -t -A -h 127.0.0.1 -U medusa -d medusa -c "$1"
}
