package main

// repair on Helm's in-memory storage: a new revision with the deployed release's own chart and
// values; refused when there is nothing deployed to repair from. No cluster.

import (
	"context"
	"testing"

	"helm.sh/helm/v3/pkg/release"
)

func TestRepairUpgradesWithTheReleasesOwnChartAndValues(t *testing.T) {
	cfg := memoryConfig(t)
	req := &request{Release: "store", Namespace: "store-ns"}
	vals := map[string]interface{}{"plan": "medium", "suspended": false}
	if _, err := upgradeInstallWith(context.Background(), cfg, req, storeChart(), vals, 10); err != nil {
		t.Fatalf("install: %v", err)
	}
	if err := repairWith(context.Background(), cfg, req, 10); err != nil {
		t.Fatalf("repair: %v", err)
	}
	if got := history(t, cfg); len(got) != 2 || got[1] != "deployed" {
		t.Fatalf("want revision 2 deployed: %v", got)
	}
	last, err := cfg.Releases.Last("store")
	if err != nil {
		t.Fatal(err)
	}
	if !sameValues(last.Config, vals) {
		t.Fatalf("the repair changed the values: %v", last.Config)
	}
	if last.Chart.Metadata.Name != storeChart().Metadata.Name || last.Info.Description != "storefleet drift repair" {
		t.Fatalf("chart %s, description %q", last.Chart.Metadata.Name, last.Info.Description)
	}
}

func TestRepairRefusesAReleaseThatIsNotDeployed(t *testing.T) {
	cfg := memoryConfig(t)
	req := &request{Release: "store", Namespace: "store-ns"}
	if err := repairWith(context.Background(), cfg, req, 10); err == nil {
		t.Fatal("no release: want an error")
	}
	records(t, cfg, release.StatusFailed)
	if err := repairWith(context.Background(), cfg, req, 10); err == nil {
		t.Fatal("a failed last revision: want an error")
	}
	if got := history(t, cfg); len(got) != 1 {
		t.Fatalf("a refused repair wrote a revision: %v", got)
	}
}
