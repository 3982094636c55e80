#!/usr/bin/env bash
# tests/real/medusa-backup.sh: a Medusa store's backup and restore through the API, on the local
# real node, with real data (docs/decisions/0014-backups.md). `make test-real` runs it.
#
# Through the public API only: creates a Medusa store with placement real-node, waits for it to
# be Ready, places a first order (charts/medusa-store/files/test-order.sh, through the ingress),
# asks for a backup (POST /api/v1/stores/{id}/backups) and waits until GET .../backups says
# completed (its size above zero, simulated false); places a second order; asks for a restore of
# that backup (POST .../restore) and waits until it completed; then the merchant's admin API shows
# the first order and no longer the second (a restore loses what was written after its backup).
# The store's timeline has the backup's and the restore's steps. Prints the backup and restore
# times (POST to completed in the API, and the Job's own duration). Deletes the store at the end.
# Every wait polls with a deadline.
#
# Uses the stack of $STOREFLEET_STATE (default .state/test-real) when its real node and
# platform run; otherwise starts what is missing there and stops what it started at the end.
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
now_ms() { date +%s%3N; }

started_stack=false
NAME="backup-$(date +%s)"
STORE_ID=""
ADMIN_EMAIL=merchant@example.com
cleanup() {
    local rc=$?
    if [[ -n $STORE_ID ]] && [[ -n ${STOREFLEET_URL:-} ]]; then
        curl -s -o /dev/null -X DELETE -H "Authorization: Bearer $TOKEN" "$STOREFLEET_URL/api/v1/stores/$STORE_ID" || true
    fi
    if $started_stack; then
        "$ROOT/infra/local/platform" down >/dev/null 2>&1 || true
        "$ROOT/infra/local/down" >/dev/null 2>&1 || true
    fi
    echo "real backup: $passed passed, $failed failed"
    ((failed == 0 && rc == 0)) || exit 1
}
trap cleanup EXIT
trap 'exit 130' INT TERM

t0=$SECONDS
bash "$ROOT/infra/local/build-tools.sh"
bash "$ROOT/infra/images/build.sh"
platform_ready() {
    [[ -f $STOREFLEET_STATE/env.d/realnode && -f $STOREFLEET_STATE/env.d/platform ]] && _rn_pid_alive kubelet &&
        "$ROOT/infra/local/platform" status >/dev/null 2>&1
}
if ! platform_ready; then
    started_stack=true
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
api() {  # api METHOD PATH [BODY]: prints the body, then the status code on its own last line
    local args=(-s -w '\n%{http_code}' -X "$1" -H "Authorization: Bearer $TOKEN")
    [[ $# -ge 3 ]] && args+=(-H 'Content-Type: application/json' --data-binary "$3")
    curl "${args[@]}" "$STOREFLEET_URL$2"
}
field() { python3 -c 'import json,sys; v=json.loads(sys.argv[1]);
for k in sys.argv[2].split("."): v=v[int(k)] if isinstance(v,list) else v[k]
print(str(v).lower() if isinstance(v,bool) else v)' "$1" "$2"; }

# --- a Medusa store on the real node, Ready --------------------------------------------------
out=$(api POST /api/v1/stores '{"name":"'"$NAME"'","engine":"medusa","plan":"small","admin_email":"'"$ADMIN_EMAIL"'","placement":"real-node"}')
[[ ${out##*$'\n'} == 202 ]] || die "POST /api/v1/stores answered ${out##*$'\n'}: ${out%$'\n'*}"
STORE_ID=$(field "${out%$'\n'*}" id)
HOST=$(field "${out%$'\n'*}" host)
store_view=""
store_settled() {
    local out
    out=$(api GET "/api/v1/stores/$STORE_ID")
    [[ ${out##*$'\n'} == 200 ]] || return 1
    store_view=${out%$'\n'*}
    case $(field "$store_view" status) in ready | failed) return 0 ;; *) return 1 ;; esac
}
wait_for "the store to become Ready" 900 store_settled || die "the store did not settle: $store_view"
[[ $(field "$store_view" status) == ready ]] || die "the store failed: $store_view"
NS=$(field "$store_view" namespace)
ok "Medusa store $STORE_ID Ready on the real node"
ADMIN_PASSWORD=$(kubectl get secret -n "$NS" store-credentials -o jsonpath='{.data.admin-password}' | base64 -d)
health() { [[ $(curl -s -o /dev/null -w '%{http_code}' -H "Host: $HOST" --max-time 10 "$STOREFLEET_INGRESS_HTTP/health") == 200 ]]; }
wait_for "the store to answer through the ingress" 600 health || die "the store never answered through the ingress"
setup_done() { [[ $(kubectl get job -n "$NS" -l app.kubernetes.io/instance=store -o jsonpath='{.items[0].status.succeeded}' 2>/dev/null) == 1 ]]; }
wait_for "the setup Job" 900 setup_done || die "the setup Job did not succeed"

place_order() {  # place_order: prints the new order's id
    local order_log order
    order_log=$(mktemp)
    if BASE_URL="$STOREFLEET_INGRESS_HTTP" STORE_HOST="$HOST" ADMIN_EMAIL="$ADMIN_EMAIL" ADMIN_PASSWORD="$ADMIN_PASSWORD" \
        PUBLISHABLE_KEY_TITLE=storefleet REGION_NAME=Default PRODUCT_HANDLE=storefleet-sample COUNTRY_CODE=us \
        WAIT_SECONDS=300 sh "$ROOT/charts/medusa-store/files/test-order.sh" 2>"$order_log"; then
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

first=$(place_order)
[[ -n $first ]] || die "the first order could not be placed"
if admin_has "$first"; then ok "first order $first placed and in the admin API"; else die "the admin API does not show $first"; fi

# --- a backup through the API ------------------------------------------------------------------
backup_ms=$(now_ms)
out=$(api POST "/api/v1/stores/$STORE_ID/backups")
[[ ${out##*$'\n'} == 202 ]] || die "POST .../backups answered ${out##*$'\n'}: ${out%$'\n'*}"
BACKUP_ID=$(field "${out%$'\n'*}" id)
ok "POST .../backups accepted: 202, backup $BACKUP_ID, keep $(field "${out%$'\n'*}" keep)"
out=$(api POST "/api/v1/stores/$STORE_ID/backups")
if [[ ${out##*$'\n'} == 409 ]]; then ok "a second backup while one is under way: 409"; else bad "a second backup while one is under way answered ${out##*$'\n'}"; fi
backups=""
backup_done() {
    local out
    out=$(api GET "/api/v1/stores/$STORE_ID/backups")
    [[ ${out##*$'\n'} == 200 ]] || return 1
    backups=${out%$'\n'*}
    python3 -c 'import json,sys; b=[x for x in json.loads(sys.argv[1])["items"] if x["id"]==sys.argv[2]][0]
sys.exit(0 if b["state"] in ("completed","failed") else 1)' "$backups" "$BACKUP_ID"
}
wait_for "backup $BACKUP_ID to complete" 600 backup_done || die "the backup did not end in 600s: $backups"
backup_s=$(( $(now_ms) - backup_ms ))
read -r b_state b_size b_job_ms b_simulated < <(python3 -c 'import json,sys; b=[x for x in json.loads(sys.argv[1])["items"] if x["id"]==sys.argv[2]][0]
print(b["state"], b["size_bytes"], b["duration_ms"], str(b["simulated"]).lower())' "$backups" "$BACKUP_ID")
if [[ $b_state == completed && $b_size -gt 0 && $b_simulated == false ]]; then
    ok "backup completed: $b_size bytes, simulated false; POST to completed ${backup_s} ms, the provisioner's run ${b_job_ms} ms"
else
    die "backup $BACKUP_ID: state $b_state, size $b_size, simulated $b_simulated: $backups"
fi

# --- a second order, then a restore of the backup ----------------------------------------------
second=$(place_order)
[[ -n $second ]] || die "the second order could not be placed"
if admin_has "$second" && admin_has "$first"; then ok "second order $second placed; the admin API shows both"; else die "the admin API does not show both orders"; fi
restore_ms=$(now_ms)
out=$(api POST "/api/v1/stores/$STORE_ID/restore" '{"backup_id":"'"$BACKUP_ID"'"}')
[[ ${out##*$'\n'} == 202 ]] || die "POST .../restore answered ${out##*$'\n'}: ${out%$'\n'*}"
RESTORE_ID=$(field "${out%$'\n'*}" id)
ok "POST .../restore accepted: 202, restore $RESTORE_ID of backup $BACKUP_ID"
restore_done() {
    local out
    out=$(api GET "/api/v1/stores/$STORE_ID/backups")
    [[ ${out##*$'\n'} == 200 ]] || return 1
    backups=${out%$'\n'*}
    python3 -c 'import json,sys; r=[x for x in json.loads(sys.argv[1])["restores"] if x["id"]==sys.argv[2]][0]
sys.exit(0 if r["state"] in ("completed","failed") else 1)' "$backups" "$RESTORE_ID"
}
wait_for "restore $RESTORE_ID to complete" 600 restore_done || die "the restore did not end in 600s: $backups"
restore_s=$(( $(now_ms) - restore_ms ))
read -r r_state r_job_ms < <(python3 -c 'import json,sys; r=[x for x in json.loads(sys.argv[1])["restores"] if x["id"]==sys.argv[2]][0]
print(r["state"], r["duration_ms"])' "$backups" "$RESTORE_ID")
[[ $r_state == completed ]] || die "restore $RESTORE_ID: $r_state: $backups"
ok "restore completed: POST to completed ${restore_s} ms, the provisioner's run ${r_job_ms} ms"

# --- only the first order remains ---------------------------------------------------------------
if wait_for "the admin API to show the first order after the restore" 300 admin_has "$first"; then
    ok "after the restore the first order $first is there"
else
    bad "after the restore the first order $first is gone"
fi
if admin_lacks "$second"; then
    ok "after the restore the second order $second is gone (placed after the backup)"
else
    bad "after the restore the admin API still answers $(admin_order_status "$second") for the second order $second"
fi
if wait_for "the store to answer GET /health after the restore" 120 health; then ok "the store serves after the restore"; else bad "the store does not serve after the restore"; fi

# --- the timeline says so -------------------------------------------------------------------------
timeline_has() {
    local out
    out=$(api GET "/api/v1/stores/$STORE_ID/events")
    [[ ${out##*$'\n'} == 200 ]] || return 1
    python3 -c 'import json,sys; steps=[e.get("step") for e in json.loads(sys.argv[1])]
sys.exit(0 if all(s in steps for s in sys.argv[2:]) else 1)' "${out%$'\n'*}" "$@"
}
if wait_for "the timeline to show the backup and the restore" 60 timeline_has backup-requested backup-completed restore-requested restore-completed; then
    ok "the timeline shows backup-requested, backup-completed, restore-requested, restore-completed"
else
    bad "the timeline lacks the backup's or the restore's steps: $(api GET "/api/v1/stores/$STORE_ID/events")"
fi
log "backup on the real node: ${b_size} bytes, POST to completed ${backup_s} ms (Job ${b_job_ms} ms); restore: POST to completed ${restore_s} ms (Job ${r_job_ms} ms)"
echo "figures: backup_bytes=$b_size backup_ms=$backup_s backup_job_ms=$b_job_ms restore_ms=$restore_s restore_job_ms=$r_job_ms"

out=$(api DELETE "/api/v1/stores/$STORE_ID")
if [[ ${out##*$'\n'} == 202 ]]; then ok "store deleted through the API (its backups with it)"; STORE_ID=""; else bad "DELETE answered ${out##*$'\n'}"; fi
log "total $((SECONDS - t0))s"
