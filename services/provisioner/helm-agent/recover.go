package main

// recover_pending: a release left pending-* (or failed mid-way through its first install) by a
// runner that died is put back into a state the next upgrade_install can act on. Done here with
// Helm's SDK in-process, as Flux helm-controller's "unlock" is; the decisions are the ones the
// provisioner's Helm CLI path made before (docs/decisions/0010-one-helm-path.md).
//
// Contract: the caller holds the store's lease, so no other live runner performs the pending
// operation (the provisioner's StoreLeases). Within this agent, a request on the same release
// that is still under way (not cancelled) makes recovery refuse with Helm's own "another
// operation is in progress" text, so a recovery never undoes an install this process runs.

import (
	"errors"
	"fmt"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
)

// What recover_pending did, in its answer (PROTOCOL.md).
const (
	recoveryNone            = "none"                     // nothing pending: nothing done
	recoveryDroppedRecord   = "dropped-first-record"     // interrupted first install: its record deleted
	recoveryDroppedRevision = "dropped-pending-revision" // interrupted upgrade: the pending revision's record deleted
	recoveryUninstalled     = "uninstalled"              // pending install after an uninstall, or an interrupted uninstall
	recoveryRolledBack      = "rolled-back"              // pending rollback (or upgrade with nothing to drop back to)
)

// recovery is what recover_pending found and did.
type recovery struct {
	// The last record's status and revision before recovery ("" and 0: no release).
	State    string `json:"state"`
	Revision int    `json:"revision"`
	Action   string `json:"action"`
}

// errOperationInProgress is Helm's own text for a pending release, so the provisioner classifies
// it as it does Helm's (retryable helm_pending).
var errOperationInProgress = errors.New("another operation (install/upgrade/rollback) is in progress")

// recoverPending recovers the release `name` of cfg's namespace:
//   - revision 1 pending-install, or failed (an interrupted first install): its record is
//     deleted, so the next install runs again and adopts the objects it had created (deleting
//     them instead would pull a volume from under a running pod);
//   - pending-upgrade with revision > 1: that revision's record is deleted; the revision before
//     it is still deployed (Helm supersedes it only once the upgrade is done), so the upgrade
//     runs again from it, with no rollback revision in the history nobody asked for;
//   - pending-install of a later revision, or uninstalling: uninstalled without hooks;
//   - pending-rollback (or pending-upgrade of revision 1): rolled back without hooks.
//
// Anything else (deployed, superseded, a later failed revision) is left as it is. A release
// whose records cannot be read is reported as "none": the next upgrade_install meets the same
// error and says it.
func recoverPending(cfg *action.Configuration, name string, timeout time.Duration, maxHistory int) (recovery, error) {
	last, err := cfg.Releases.Last(name)
	if err != nil {
		if !errors.Is(err, driver.ErrReleaseNotFound) {
			cfg.Log("recover_pending %s: cannot read its records: %v", name, err)
		}
		return recovery{Action: recoveryNone}, nil
	}
	state := last.Info.Status
	found := recovery{State: state.String(), Revision: last.Version, Action: recoveryNone}
	switch {
	case last.Version == 1 && (state == release.StatusPendingInstall || state == release.StatusFailed):
		found.Action = recoveryDroppedRecord
		return found, dropRecord(cfg, name, 1)
	case state == release.StatusPendingUpgrade && last.Version > 1:
		found.Action = recoveryDroppedRevision
		return found, dropRecord(cfg, name, last.Version)
	case state == release.StatusPendingInstall || state == release.StatusUninstalling:
		found.Action = recoveryUninstalled
		uninstall := action.NewUninstall(cfg)
		uninstall.DisableHooks = true
		uninstall.IgnoreNotFound = true
		uninstall.Timeout = timeout
		uninstall.DeletionPropagation = "background"
		if _, err := uninstall.Run(name); err != nil {
			return found, fmt.Errorf("uninstalling the release left %s: %w", state, err)
		}
		return found, nil
	case state == release.StatusPendingUpgrade || state == release.StatusPendingRollback:
		found.Action = recoveryRolledBack
		rollback := action.NewRollback(cfg)
		rollback.DisableHooks = true
		rollback.Timeout = timeout
		rollback.MaxHistory = maxHistory
		if err := rollback.Run(name); err != nil {
			return found, fmt.Errorf("rolling back the release left %s: %w", state, err)
		}
		return found, nil
	}
	return found, nil
}

// dropRecord deletes the record of one revision; one already gone is no error.
func dropRecord(cfg *action.Configuration, name string, version int) error {
	if _, err := cfg.Releases.Delete(name, version); err != nil && !errors.Is(err, driver.ErrReleaseNotFound) {
		return fmt.Errorf("deleting the record of revision %d: %w", version, err)
	}
	return nil
}
