#!/usr/bin/env bash
# tests/real/medusa-rollout.sh: a fleet rollout's data-safe path on the local real node, with
# real data (docs/decisions/0013-chart-versions-and-rollouts.md, 0014-backups.md). `make
# test-real` runs it.
#
# The platform's intake and provisioner run with a catalogue that adds one Medusa version that
# must never ship (tests/real/rollout_catalogue.py: 0.2.1 whose migration commits, records itself
# in the store's storefleet_schema_versions table and then fails). Through the public API only:
#   1. a Medusa store on the real node (the engine's default chart), Ready; a backup and a
#      restore through the API (tests/real/backup-steps.sh: of two orders only the first, A,
#      remains);
#   2. a rollout of that store to 0.2.1, which migrates data: the rollout backs the store up
#      first, upgrades it, the migration runs; done, the store at 0.2.1, order A there;
#   3. order B;
#   4. a rollout to the failing version with "roll back" on a halt: backed up first, upgraded,
#      its migration commits and fails, the store fails its health gate, the rollout halts,
#      rolls the store back to 0.2.1 and restores the backup taken before the upgrade: the API
#      says rolled_back, the store is Ready at 0.2.1, orders A and B are there and the failing
#      migration's row is gone (what a Helm rollback alone would leave behind). An order C
#      placed once the rollout's backup completed (during the failing upgrade, when the store
#      takes one) is gone too: what is written between a backup and its restore is lost, as
#      the rollout's settings say;
#   5. a new store, created once the first rollout's canary passed (while 3 and 4 run), is
#      installed at 0.2.1 and Ready, its migration run (its Job fits beside setup in the small
#      plan's quota).
# Prints each step's time. Deletes the store and restarts the services with the product's
# catalogue at the end. Every wait polls with a deadline.
#
# Uses the stack of $STOREFLEET_STATE (default .state/test-real) when its real node and
# platform run; otherwise starts what is missing there and stops what it started at the end.
set -euo pipefail
REAL_LABEL="real rollout"
source "$(dirname "$0")/lib.sh"

FAILING_VERSION="9.0.0-fails-after-migrating"  # tests/real/rollout_catalogue.py's
MIGRATING_VERSION="0.2.1"

t0=$SECONDS
real_start

# --- the services with the test catalogue ----------------------------------------------------
catalogue="$STOREFLEET_STATE/rollout-catalogue"
python3 "$ROOT/tests/real/rollout_catalogue.py" "$catalogue" >/dev/null
mapfile -t services < <("$ROOT/infra/local/platform" ps | awk '$4 == "running" && ($1 == "intake" || $1 ~ /^provisioner/) {print $1}')
((${#services[@]} >= 2)) || die "intake and a provisioner must run: $("$ROOT/infra/local/platform" ps)"
restart_services() {  # restart_services [CATALOGUE]: intake and the provisioners, with it or the product's
    local name
    for name in "${services[@]}"; do
        "$ROOT/infra/local/platform" kill "$name" >/dev/null
        if [[ -n ${1:-} ]]; then
            STOREFLEET_CHART_CATALOGUE="$1" "$ROOT/infra/local/platform" start "$name" >/dev/null
        else
            "$ROOT/infra/local/platform" start "$name" >/dev/null
        fi
    done
}
# shellcheck disable=SC2317  # run by lib.sh's EXIT trap
real_on_exit() {
    [[ -z ${NEW_ID:-} ]] || api DELETE "/api/v1/stores/$NEW_ID" >/dev/null || true
    ((${#services[@]} == 0)) || restart_services || return 1
}
restart_services "$catalogue"
offered() {  # the admin API lists the failing version for Medusa
    local out
    out=$(admin_api GET /api/v1/admin/charts)
    [[ ${out##*$'\n'} == 200 ]] && grep -q "$FAILING_VERSION" <<<"${out%$'\n'*}"
}
wait_for "intake to offer $FAILING_VERSION" 60 offered || die "intake does not list $FAILING_VERSION: $(admin_api GET /api/v1/admin/charts)"
ok "intake and the provisioners (${services[*]}) run with the test catalogue ($FAILING_VERSION added)"

# --- 1. a Medusa store, backed up and restored through the API; order A ------------------------
create_medusa_store "rollout-$(date +%s)"
# shellcheck source=tests/real/backup-steps.sh
source "$(dirname "$0")/backup-steps.sh"
order_a=$first
ok "order A is $order_a (the order the restore kept)"

rollout_view=""
rollout() {  # rollout VERSION: POSTs a rollout of this store to VERSION; prints its id
    local body out
    body='{"engine":"medusa","target_version":"'"$1"'","selector":{"store_ids":["'"$STORE_ID"'"]},'
    body+='"strategy":{"canary":1,"waves":[100],"max_in_flight":1,"ready_within_seconds":900,"max_failed":0},'
    body+='"on_halt":"rollback"}'
    out=$(admin_api POST /api/v1/admin/rollouts "$body")
    [[ ${out##*$'\n'} == 20[12] ]] || die "POST /api/v1/admin/rollouts ($1) answered ${out##*$'\n'}: ${out%$'\n'*}"
    field "${out%$'\n'*}" id
}
rollout_ended() {  # rollout_ended ID: done, halted or aborted with no store under way
    local out
    out=$(admin_api GET "/api/v1/admin/rollouts/$1")
    [[ ${out##*$'\n'} == 200 ]] || return 1
    rollout_view=${out%$'\n'*}
    python3 -c 'import json,sys; r=json.loads(sys.argv[1]); c=r["counts"]
sys.exit(0 if r["state"] in ("done","halted","aborted") and c["pending"]+c["upgrading"]+c["rolling_back"]==0 else 1)' "$rollout_view"
}
backup_count() {
    local out
    out=$(api GET "/api/v1/stores/$STORE_ID/backups")
    python3 -c 'import json,sys; print(sum(1 for b in json.loads(sys.argv[1])["items"] if b["state"]=="completed"))' "${out%$'\n'*}"
}
store_now() {
    local out
    out=$(api GET "/api/v1/stores/$STORE_ID")
    store_view=${out%$'\n'*}
}
schema_versions() { store_psql "select string_agg(version, ',' order by version) from storefleet_schema_versions" 2>/dev/null || true; }

# --- 2. to the migrating version, backed up first -------------------------------------------
store_now
from_version=$(field "$store_view" chart_version)
if [[ $from_version == "$MIGRATING_VERSION" ]]; then
    die "the store was created at $MIGRATING_VERSION (an earlier rollout moved the engine's default on this stack); run on a fresh stack"
fi
backups_before=$(backup_count)
step_ms=$(now_ms)
rollout_1=$(rollout "$MIGRATING_VERSION")
wait_for "rollout $rollout_1 to $MIGRATING_VERSION to end" 1200 rollout_ended "$rollout_1" || die "rollout $rollout_1 did not end: $rollout_view"
upgrade_s=$(( ($(now_ms) - step_ms) / 1000 ))
if [[ $(field "$rollout_view" state) == "done" && $(field "$rollout_view" counts.upgraded) == 1 && $(field "$rollout_view" migrates_data) == true ]]; then
    ok "rollout to $MIGRATING_VERSION (migrates data): done, 1 store upgraded, ${upgrade_s}s from POST"
else
    die "rollout to $MIGRATING_VERSION: $rollout_view"
fi
store_now
if [[ $(field "$store_view" status) == ready && $(field "$store_view" chart_version) == "$MIGRATING_VERSION" ]]; then
    ok "the store is Ready at $MIGRATING_VERSION (from $from_version)"
else
    bad "after the rollout the store is not Ready at $MIGRATING_VERSION: $store_view"
fi
backups_after=$(backup_count)
if ((backups_after == backups_before + 1)); then ok "the rollout took a backup before the upgrade ($backups_after completed)"; else bad "completed backups before/after the rollout: $backups_before/$backups_after"; fi
versions=$(schema_versions)
if [[ $versions == "$MIGRATING_VERSION" ]]; then ok "the migration ran: storefleet_schema_versions = $versions"; else bad "storefleet_schema_versions after $MIGRATING_VERSION: '$versions'"; fi
wait_for "the store to serve at $MIGRATING_VERSION" 300 health || bad "the store does not serve at $MIGRATING_VERSION"

# A new store now gets the migrating version (the canary passed): installed fresh while the rest
# runs, checked in step 5.
out=$(api POST /api/v1/stores '{"name":"rollout-new-'"$(date +%s)"'","engine":"medusa","plan":"small","admin_email":"'"$ADMIN_EMAIL"'","placement":"real-node"}')
[[ ${out##*$'\n'} == 202 ]] || die "POST /api/v1/stores (the new store) answered ${out##*$'\n'}: ${out%$'\n'*}"
NEW_ID=$(field "${out%$'\n'*}" id)
new_ms=$(now_ms)
if wait_for "order A in the admin API" 300 admin_has "$order_a"; then ok "order A is there after the upgrade"; else bad "order A is gone after the upgrade"; fi

# --- 3. order B -------------------------------------------------------------------------------
order_b=$(place_order)
[[ -n $order_b ]] || die "order B could not be placed"
ok "order B $order_b placed at $MIGRATING_VERSION"

# --- 4. to the failing version: halted, rolled back, data restored ---------------------------
step_ms=$(now_ms)
backups_before=$(backup_count)
rollout_2=$(rollout "$FAILING_VERSION")
order_c=""
order_c_ms=0
rollout_backed_up() { (($(backup_count) > backups_before)); }
still_upgrading() {  # the store's failing upgrade is under way (its rollback not yet sent)
    local out
    out=$(admin_api GET "/api/v1/admin/rollouts/$rollout_2")
    [[ ${out##*$'\n'} == 200 ]] && [[ $(field "${out%$'\n'*}" counts.upgrading) == 1 ]]
}
if wait_for "the rollout's backup before the failing upgrade" 600 rollout_backed_up; then
    # What is written now is after the backup, and a restore takes it back. The store's pods
    # restart for the upgrade (Medusa's Deployment is Recreate): tried again while it lasts.
    for _ in 1 2 3; do
        still_upgrading || break
        order_c=$(ORDER_WAIT_SECONDS=30 place_order)
        order_c_ms=$(now_ms)
        [[ -z $order_c ]] || break
    done
    [[ -n $order_c ]] && log "order C $order_c placed after the rollout's backup, during the failing upgrade"
fi
wait_for "rollout $rollout_2 to $FAILING_VERSION to end" 1800 rollout_ended "$rollout_2" || die "rollout $rollout_2 did not end: $rollout_view"
rollback_s=$(( ($(now_ms) - step_ms) / 1000 ))
read -r r_state r_rolled r_failed f_state f_reason < <(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); f=(r.get("failures") or [{}])[0]
print(r["state"], r["counts"]["rolled_back"], r["counts"]["failed"], f.get("state","-"), (f.get("reason") or "-").replace(" ", "_"))' "$rollout_view")
if [[ $r_state == halted && $r_rolled == 1 && $r_failed == 0 && $f_state == rolled_back ]]; then
    ok "rollout to $FAILING_VERSION: halted, the store rolled back and its data restored, ${rollback_s}s from POST (${f_reason//_/ })"
else
    bad "rollout to $FAILING_VERSION: state $r_state, rolled back $r_rolled, failed $r_failed, store $f_state: $rollout_view"
fi
ready_at_migrating() {
    store_now
    [[ $(field "$store_view" status) == ready && $(field "$store_view" chart_version) == "$MIGRATING_VERSION" ]]
}
if wait_for "the store to be Ready at $MIGRATING_VERSION again" 600 ready_at_migrating; then
    ok "the store is Ready at $MIGRATING_VERSION again (desired $(field "$store_view" desired.chart_version))"
else
    bad "the store is not Ready at $MIGRATING_VERSION after the rollback: $store_view"
fi
versions=$(schema_versions)
if [[ $versions == "$MIGRATING_VERSION" ]]; then
    ok "the failing migration's data is gone: storefleet_schema_versions = $versions (a Helm rollback alone would keep $FAILING_VERSION)"
else
    bad "storefleet_schema_versions after the rollback: '$versions'"
fi
wait_for "the store to serve after the rollback" 300 health || bad "the store does not serve after the rollback"
if wait_for "orders A and B in the admin API" 300 admin_has "$order_a" && admin_has "$order_b"; then
    ok "orders A and B are there after the rollback and the restore"
else
    bad "after the rollback order A answers $(admin_order_status "$order_a"), order B $(admin_order_status "$order_b")"
fi
# The restore the rollout asked for (the store's newest), and when.
restore_requested_ms=$(python3 -c 'import datetime,json,sys; r=json.loads(sys.argv[1])["restores"]
print(int(datetime.datetime.fromisoformat(r[0]["requested_at"].replace("Z","+00:00")).timestamp()*1000) if r else 0)' \
    "$(api GET "/api/v1/stores/$STORE_ID/backups" | sed '$d')")
if [[ -n $order_c ]] && ((restore_requested_ms > order_c_ms)); then
    if admin_lacks "$order_c"; then
        ok "order C $order_c, placed after the rollout's backup and before its restore, is gone (as the rollout's settings say)"
    else
        bad "order C $order_c, placed after the backup and before the restore, answers $(admin_order_status "$order_c")"
    fi
elif [[ -n $order_c ]]; then
    log "note: order C was placed after the restore was asked for ($order_c_ms >= $restore_requested_ms ms): nothing to check of it; the failing migration's row stands for what a restore takes back"
else
    log "note: no order C could be placed during the failing upgrade (the store was restarting); the failing migration's row stands for what a restore takes back"
fi
log "rollouts on the real node: to $MIGRATING_VERSION with its backup ${upgrade_s}s; to $FAILING_VERSION, halted, rolled back and restored ${rollback_s}s"
echo "figures: rollout_migrating_s=$upgrade_s rollout_failing_rolled_back_s=$rollback_s"

out=$(api DELETE "/api/v1/stores/$STORE_ID")
if [[ ${out##*$'\n'} == 202 ]]; then ok "store deleted through the API"; STORE_ID=""; else bad "DELETE answered ${out##*$'\n'}"; fi

# --- 5. the new store, installed fresh at the migrating version --------------------------------
# Its migration Job runs beside setup and must leave the database room in the small plan's quota
# (0.2.0 did not: its Job took setup's resources and the store never came up).
first_ns=$NS
STORE_ID=$NEW_ID
NEW_ID=""
wait_for "the new store to settle" 900 store_settled || bad "the new store did not settle: $store_view"
NS=$(field "$store_view" namespace)
if [[ $(field "$store_view" status) == ready && $(field "$store_view" chart_version) == "$MIGRATING_VERSION" ]]; then
    ok "a new store, created after the canary passed, is installed at $MIGRATING_VERSION and Ready ($(( ($(now_ms) - new_ms) / 1000 ))s after its POST)"
else
    bad "the new store: status $(field "$store_view" status), chart $(field "$store_view" chart_version), not Ready at $MIGRATING_VERSION"
fi
versions=$(schema_versions)
if [[ $versions == "$MIGRATING_VERSION" ]]; then ok "its migration ran on the fresh install: storefleet_schema_versions = $versions"; else bad "storefleet_schema_versions of the new store: '$versions'"; fi
[[ $NS != "$first_ns" ]] || bad "the new store shares the first store's namespace"
out=$(api DELETE "/api/v1/stores/$STORE_ID")
if [[ ${out##*$'\n'} == 202 ]]; then ok "the new store deleted through the API"; STORE_ID=""; else bad "DELETE answered ${out##*$'\n'}"; fi
log "total $((SECONDS - t0))s"
