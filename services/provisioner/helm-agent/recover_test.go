package main

// recover_pending on Helm's in-memory storage driver with a fake Kubernetes client: what each
// state left by a dead runner becomes, and that the next upgrade then proceeds. No cluster.

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	kubefake "helm.sh/helm/v3/pkg/kube/fake"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage"
	"helm.sh/helm/v3/pkg/storage/driver"
)

func memoryConfig(t *testing.T) *action.Configuration {
	t.Helper()
	return &action.Configuration{
		Releases:     storage.Init(driver.NewMemory()),
		KubeClient:   &kubefake.PrintingKubeClient{Out: io.Discard},
		Capabilities: chartutil.DefaultCapabilities,
		Log:          func(format string, v ...interface{}) { t.Logf(format, v...) },
	}
}

func storeChart() *chart.Chart {
	return &chart.Chart{
		Metadata: &chart.Metadata{APIVersion: "v2", Name: "store", Version: "0.1.0"},
		Templates: []*chart.File{{Name: "templates/config.yaml",
			Data: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: store\n")}},
	}
}

// records stores revisions 1..len(states) of release "store", the i-th with states[i].
func records(t *testing.T, cfg *action.Configuration, states ...release.Status) {
	t.Helper()
	for i, state := range states {
		rel := &release.Release{
			Name: "store", Namespace: "store-ns", Version: i + 1, Chart: storeChart(),
			Config: map[string]interface{}{}, Manifest: "",
			Info: &release.Info{Status: state, Description: "test fixture"},
		}
		if err := cfg.Releases.Create(rel); err != nil {
			t.Fatal(err)
		}
	}
}

// history is "revision:status" of every record, oldest first.
func history(t *testing.T, cfg *action.Configuration) []string {
	t.Helper()
	rels, err := cfg.Releases.History("store")
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(rels))
	for _, rel := range rels {
		out[rel.Version-1] = rel.Info.Status.String()
	}
	return out
}

func recoverStore(t *testing.T, cfg *action.Configuration) recovery {
	t.Helper()
	found, err := recoverPending(cfg, "store", time.Minute, 10)
	if err != nil {
		t.Fatalf("recover_pending: %v", err)
	}
	return found
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestNoReleaseNeedsNoRecovery(t *testing.T) {
	cfg := memoryConfig(t)
	if got := recoverStore(t, cfg); got != (recovery{Action: recoveryNone}) {
		t.Errorf("recovery %+v, want none", got)
	}
}

// An interrupted first install (pending-install, or failed at revision 1) loses its record
// only: the next install starts again at revision 1 and adopts what the first one created.
func TestAnInterruptedFirstInstallLosesItsRecordOnly(t *testing.T) {
	for _, state := range []release.Status{release.StatusPendingInstall, release.StatusFailed} {
		cfg := memoryConfig(t)
		records(t, cfg, state)
		got := recoverStore(t, cfg)
		want := recovery{State: state.String(), Revision: 1, Action: recoveryDroppedRecord}
		if got != want {
			t.Errorf("%s: recovery %+v, want %+v", state, got, want)
		}
		if h := history(t, cfg); len(h) != 0 {
			t.Errorf("%s: records left %v, want none", state, h)
		}
	}
}

// An interrupted upgrade loses its pending revision; the deployed one before it stays, and
// the next upgrade proceeds from it with no rollback in the history.
func TestAnInterruptedUpgradeLosesItsPendingRevisionAndTheNextUpgradeProceeds(t *testing.T) {
	cfg := memoryConfig(t)
	records(t, cfg, release.StatusDeployed, release.StatusPendingUpgrade)
	upgrade := action.NewUpgrade(cfg)
	upgrade.Namespace = "store-ns"
	if _, err := upgrade.RunWithContext(context.Background(), "store", storeChart(), nil); err == nil {
		t.Fatal("an upgrade over a pending revision went through; the fixture is not pending")
	}

	got := recoverStore(t, cfg)
	if want := (recovery{State: "pending-upgrade", Revision: 2, Action: recoveryDroppedRevision}); got != want {
		t.Errorf("recovery %+v, want %+v", got, want)
	}
	if h := history(t, cfg); !equal(h, []string{"deployed"}) {
		t.Errorf("records %v, want [deployed]", h)
	}
	if _, err := upgrade.RunWithContext(context.Background(), "store", storeChart(), nil); err != nil {
		t.Fatalf("the upgrade after recovery: %v", err)
	}
	if h := history(t, cfg); !equal(h, []string{"superseded", "deployed"}) {
		t.Errorf("records %v, want [superseded deployed]", h)
	}
}

func TestAPendingInstallOfALaterRevisionOrAnUninstallIsUninstalled(t *testing.T) {
	for _, states := range [][]release.Status{
		{release.StatusUninstalled, release.StatusPendingInstall},
		{release.StatusDeployed, release.StatusUninstalling},
	} {
		cfg := memoryConfig(t)
		records(t, cfg, states...)
		got := recoverStore(t, cfg)
		want := recovery{State: states[1].String(), Revision: 2, Action: recoveryUninstalled}
		if got != want {
			t.Errorf("%v: recovery %+v, want %+v", states, got, want)
		}
		if h := history(t, cfg); len(h) != 0 {
			t.Errorf("%v: records left %v, want none", states, h)
		}
	}
}

func TestAPendingRollbackIsRolledBack(t *testing.T) {
	cfg := memoryConfig(t)
	records(t, cfg, release.StatusSuperseded, release.StatusDeployed, release.StatusPendingRollback)
	got := recoverStore(t, cfg)
	if want := (recovery{State: "pending-rollback", Revision: 3, Action: recoveryRolledBack}); got != want {
		t.Errorf("recovery %+v, want %+v", got, want)
	}
	last, err := cfg.Releases.Last("store")
	if err != nil {
		t.Fatal(err)
	}
	if last.Version != 4 || last.Info.Status != release.StatusDeployed || last.Info.Description != "Rollback to 2" {
		t.Errorf("last record: revision %d %s %q, want 4 deployed \"Rollback to 2\"", last.Version,
			last.Info.Status, last.Info.Description)
	}
}

// Releases nobody left pending are not touched.
func TestASettledReleaseIsLeftAsItIs(t *testing.T) {
	for _, states := range [][]release.Status{
		{release.StatusDeployed},
		{release.StatusDeployed, release.StatusFailed},
		{release.StatusSuperseded, release.StatusDeployed},
	} {
		cfg := memoryConfig(t)
		records(t, cfg, states...)
		before := history(t, cfg)
		got := recoverStore(t, cfg)
		if got.Action != recoveryNone || got.Revision != len(states) {
			t.Errorf("%v: recovery %+v, want none at revision %d", states, got, len(states))
		}
		if after := history(t, cfg); !equal(after, before) {
			t.Errorf("%v: records %v became %v", states, before, after)
		}
	}
}

// A request of this agent on the same release, under way and not cancelled, blocks recovery:
// the pending operation may be its own. A cancelled one (its writes fail from the cancel on)
// or one on another release does not.
func TestRecoveryWaitsForALiveRequestOnTheSameReleaseOnly(t *testing.T) {
	a := &agent{running: map[int64]*call{}}
	recoverReq := &request{ID: 9, Op: "recover_pending", Release: "store", Namespace: "store-a"}
	if a.busyElsewhere(recoverReq) {
		t.Fatal("busy with nothing running")
	}
	a.register(recoverReq) // itself does not count
	if a.busyElsewhere(recoverReq) {
		t.Error("busy with itself")
	}
	other := a.register(&request{ID: 2, Op: "upgrade_install", Release: "store", Namespace: "store-b"})
	if a.busyElsewhere(recoverReq) {
		t.Error("busy with another namespace's release")
	}
	live := a.register(&request{ID: 1, Op: "upgrade_install", Release: "store", Namespace: "store-a"})
	if !a.busyElsewhere(recoverReq) {
		t.Error("not busy while an install of the same release runs")
	}
	live.cancel()
	if a.busyElsewhere(recoverReq) {
		t.Error("busy with a cancelled install")
	}
	other.cancel()
}

// Through the request loop: recover_pending answers Helm's "in progress" text while an
// install of the same release runs, and its recovery once nothing else acts on it.
func TestRecoverPendingAnswersInProgressWhileAnInstallOfTheReleaseRuns(t *testing.T) {
	finish := make(chan struct{})
	a, answers := newTestAgent(t, nil)
	a.run = func(ctx context.Context, req *request) (answer, error) {
		if req.Op == "upgrade_install" {
			<-finish
			return answer{}, nil
		}
		if a.busyElsewhere(req) {
			return answer{}, errOperationInProgress
		}
		return answer{Recovery: &recovery{Action: recoveryNone}}, nil
	}
	in, input := io.Pipe()
	served := make(chan error, 1)
	go func() { served <- a.serve(in) }()
	io.WriteString(input, installLine(1))
	io.WriteString(input, `{"id":2,"op":"recover_pending","release":"store","namespace":"store-1"}`+"\n")
	got := nextAnswer(t, answers)
	if got.ID != 2 || got.OK || got.Error != "Error: "+errOperationInProgress.Error() {
		t.Errorf("answer %+v, want id 2 failed as in progress", got)
	}
	close(finish)
	if got := nextAnswer(t, answers); got.ID != 1 || !got.OK {
		t.Errorf("answer %+v, want id 1 ok", got)
	}
	// At once, as the provisioner does after an answer: the answered install no longer counts.
	io.WriteString(input, `{"id":3,"op":"recover_pending","release":"store","namespace":"store-1"}`+"\n")
	if got := nextAnswer(t, answers); got.ID != 3 || !got.OK || got.Recovery == nil || got.Recovery.Action != recoveryNone {
		t.Errorf("answer %+v, want id 3 ok with recovery none", got)
	}
	input.Close()
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	assertNothingLeft(t, a)
}
