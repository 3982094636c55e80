//go:build tools

// Package tools pins the Go programs the local real stack is built from:
// the Kubernetes control plane, kubectl, etcd, KWOK and Helm. build.sh builds
// them with `go build` so one module cache and one build cache serve all.
package tools

import (
	_ "go.etcd.io/etcd/server/v3/etcdmain"
	_ "helm.sh/helm/v3/cmd/helm"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
