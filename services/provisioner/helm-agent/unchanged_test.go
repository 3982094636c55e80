package main

// upgrade_install with skip_if_unchanged on Helm's in-memory storage: a request that repeats
// the deployed release makes no revision; anything else does. No cluster.

import (
	"context"
	"testing"

	"helm.sh/helm/v3/pkg/release"
)

func TestSkipIfUnchangedMakesNoRevisionForTheDeployedRelease(t *testing.T) {
	cfg := memoryConfig(t)
	ch := storeChart()
	req := &request{Release: "store", Namespace: "store-ns", SkipIfUnchanged: true}
	values := func(plan string) map[string]interface{} {
		// As the agent parses them: numbers are float64, maps nest.
		return map[string]interface{}{"plan": plan, "suspended": false, "replicas": float64(1),
			"credentials": map[string]interface{}{"existingSecret": "store-credentials"}}
	}
	run := func(vals map[string]interface{}) bool {
		t.Helper()
		unchanged, err := upgradeInstallWith(context.Background(), cfg, req, ch, vals, 10)
		if err != nil {
			t.Fatalf("upgrade_install: %v", err)
		}
		return unchanged
	}

	if run(values("small")) {
		t.Fatal("a first install is never unchanged")
	}
	if !run(values("small")) {
		t.Fatal("the same chart and values: want unchanged")
	}
	if got := history(t, cfg); len(got) != 1 || got[0] != "deployed" {
		t.Fatalf("a replayed install made a revision: %v", got)
	}
	if run(values("large")) {
		t.Fatal("other values: want an upgrade")
	}
	if !run(values("large")) {
		t.Fatal("the upgraded values again: want unchanged")
	}
	newer := storeChart()
	newer.Metadata.Version = "0.2.0"
	if unchanged, err := upgradeInstallWith(context.Background(), cfg, req, newer, values("large"), 10); err != nil || unchanged {
		t.Fatalf("another chart version: want an upgrade, got unchanged=%v err=%v", unchanged, err)
	}
	req.SkipIfUnchanged = false
	if unchanged, err := upgradeInstallWith(context.Background(), cfg, req, newer, values("large"), 10); err != nil || unchanged {
		t.Fatalf("without skip_if_unchanged: want an upgrade, got unchanged=%v err=%v", unchanged, err)
	}
	if got := history(t, cfg); len(got) != 4 || got[3] != "deployed" {
		t.Fatalf("want 4 revisions, the last deployed: %v", got)
	}
}

func TestSkipIfUnchangedUpgradesAReleaseThatIsNotDeployed(t *testing.T) {
	cfg := memoryConfig(t)
	records(t, cfg, release.StatusFailed) // same chart, empty values, but failed
	req := &request{Release: "store", Namespace: "store-ns", SkipIfUnchanged: true}
	unchanged, err := upgradeInstallWith(context.Background(), cfg, req, storeChart(), map[string]interface{}{}, 10)
	if err != nil || unchanged {
		t.Fatalf("a failed last revision: want an upgrade, got unchanged=%v err=%v", unchanged, err)
	}
	if got := history(t, cfg); len(got) != 2 || got[1] != "deployed" {
		t.Fatalf("want revision 2 deployed: %v", got)
	}
}

func TestSameValuesComparesWhatTheRecordAndTheRequestEncodeTo(t *testing.T) {
	if !sameValues(nil, map[string]interface{}{}) {
		t.Error("nil and empty values are the same")
	}
	if !sameValues(map[string]interface{}{"a": float64(1)}, map[string]interface{}{"a": 1}) {
		t.Error("1 read back from JSON is 1")
	}
	if sameValues(map[string]interface{}{"suspended": false}, map[string]interface{}{"suspended": true}) {
		t.Error("suspended differs")
	}
	if sameValues(map[string]interface{}{}, map[string]interface{}{"plan": "small"}) {
		t.Error("a value more is a change")
	}
}
