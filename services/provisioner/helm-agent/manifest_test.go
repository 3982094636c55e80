package main

// manifest on Helm's in-memory storage: the deployed release's objects summarised, never a
// Secret's data; refused when the last revision is not deployed. No cluster.

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/release"
)

const workloadTemplate = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: store-web
  labels:
    app.kubernetes.io/instance: {{ .Release.Name }}
spec:
  replicas: 1
  template:
    spec:
      initContainers:
        - name: init
          image: busybox:1.36
      containers:
        - name: web
          image: "wordpress:{{ .Values.tag }}"
          resources:
            requests:
              cpu: 0.5
              memory: 256Mi
---
apiVersion: v1
kind: Service
metadata:
  name: store-web
  labels:
    app.kubernetes.io/instance: {{ .Release.Name }}
---
apiVersion: v1
kind: Secret
metadata:
  name: store-salts
stringData:
  salt: do-not-leak-me
`

func workloadChart() *chart.Chart {
	return &chart.Chart{
		Metadata:  &chart.Metadata{APIVersion: "v2", Name: "store", Version: "0.1.0"},
		Templates: []*chart.File{{Name: "templates/web.yaml", Data: []byte(workloadTemplate)}},
	}
}

func TestManifestSummarisesTheDeployedRelease(t *testing.T) {
	cfg := memoryConfig(t)
	req := &request{Release: "store", Namespace: "store-ns"}
	if _, err := upgradeInstallWith(context.Background(), cfg, req, workloadChart(),
		map[string]interface{}{"tag": "6.4"}, 10); err != nil {
		t.Fatalf("install: %v", err)
	}
	summary, err := manifestWith(cfg, "store")
	if err != nil {
		t.Fatalf("manifest: %v", err)
	}
	encoded, _ := json.Marshal(answer{ID: 1, OK: true, Manifest: summary})
	if strings.Contains(string(encoded), "do-not-leak-me") {
		t.Fatalf("a Secret's data left the agent: %s", encoded)
	}
	if summary.Revision != 1 || len(summary.Objects) != 3 {
		t.Fatalf("want revision 1 with 3 objects: %s", encoded)
	}
	var web *manifestObject
	for i := range summary.Objects {
		if summary.Objects[i].Kind == "Deployment" {
			web = &summary.Objects[i]
		}
	}
	if web == nil || web.Name != "store-web" || web.Instance != "store" || web.APIVersion != "apps/v1" {
		t.Fatalf("the Deployment is not summarised: %s", encoded)
	}
	if len(web.Containers) != 1 || web.Containers[0].Image != "wordpress:6.4" ||
		len(web.InitContainers) != 1 || web.InitContainers[0].Image != "busybox:1.36" {
		t.Fatalf("containers: %s", encoded)
	}
	requests, _ := web.Containers[0].Resources["requests"].(map[string]interface{})
	if requests["memory"] != "256Mi" || requests["cpu"] != 0.5 {
		t.Fatalf("resources as rendered (a number stays a number): %v", web.Containers[0].Resources)
	}
}

func TestManifestRefusesAReleaseThatIsNotDeployed(t *testing.T) {
	cfg := memoryConfig(t)
	if _, err := manifestWith(cfg, "store"); err == nil {
		t.Fatal("no release: want an error")
	}
	records(t, cfg, release.StatusDeployed, release.StatusPendingUpgrade)
	if _, err := manifestWith(cfg, "store"); err == nil || !strings.Contains(err.Error(), "pending-upgrade") {
		t.Fatalf("a pending last revision: want an error naming it, got %v", err)
	}
}
