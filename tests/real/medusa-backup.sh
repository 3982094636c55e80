#!/usr/bin/env bash
# tests/real/medusa-backup.sh: a Medusa store's backup and restore through the API, on the local
# real node, with real data (docs/decisions/0014-backups.md), on a store of its own; the steps are
# tests/real/backup-steps.sh, which `make test-real` runs inside medusa-rollout.sh.
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
REAL_LABEL="real backup"
source "$(dirname "$0")/lib.sh"

t0=$SECONDS
real_start
# --- a Medusa store on the real node, Ready, with a first order --------------------------------
create_medusa_store "backup-$(date +%s)"

# shellcheck source=tests/real/backup-steps.sh
source "$(dirname "$0")/backup-steps.sh"

out=$(api DELETE "/api/v1/stores/$STORE_ID")
if [[ ${out##*$'\n'} == 202 ]]; then ok "store deleted through the API (its backups with it)"; STORE_ID=""; else bad "DELETE answered ${out##*$'\n'}"; fi
log "total $((SECONDS - t0))s"
