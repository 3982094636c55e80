#!/usr/bin/env bash
# tests/real/backup-steps.sh: a backup and a restore through the API, checked with real orders
# (docs/decisions/0014-backups.md). Sourced (after tests/real/lib.sh and create_medusa_store) by
# medusa-backup.sh, and by medusa-rollout.sh on its store before the rollouts, so `make test-real`
# runs it once without a store of its own. On the store of STORE_ID: places a first order, asks
# for a backup (POST /api/v1/stores/{id}/backups; a second one while it runs: 409) and waits until
# GET .../backups says completed (size above zero, simulated false); places a second order; asks
# for a restore of that backup (POST .../restore) and waits until it completed; then the merchant's
# admin API shows the first order and no longer the second (a restore loses what was written
# after its backup), the store serves, and the timeline has the backup's and the restore's steps.
# Leaves `first` (the order that remains), BACKUP_ID and the figures (b_size, backup_s, b_job_ms,
# restore_s, r_job_ms) set.
# shellcheck shell=bash disable=SC2153  # STORE_ID and the helpers come from lib.sh
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
ended() {  # ended LIST ID: GET .../backups; the entry ID of LIST (items: backups, restores) ended
    local out
    out=$(api GET "/api/v1/stores/$STORE_ID/backups")
    [[ ${out##*$'\n'} == 200 ]] || return 1
    backups=${out%$'\n'*}
    python3 -c 'import json,sys; e=[x for x in json.loads(sys.argv[1])[sys.argv[2]] if x["id"]==sys.argv[3]][0]
sys.exit(0 if e["state"] in ("completed","failed") else 1)' "$backups" "$1" "$2"
}
wait_for "backup $BACKUP_ID to complete" 600 ended items "$BACKUP_ID" || die "the backup did not end in 600s: $backups"
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
wait_for "restore $RESTORE_ID to complete" 600 ended restores "$RESTORE_ID" || die "the restore did not end in 600s: $backups"
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

