//go:build tools

// Package tools pins the Go programs of the local real node (infra/local/parts/realnode.sh):
// the kubelet and kube-proxy of the same Kubernetes version as the control plane in ../, and
// storefleet-ingress (./ingress). go.mod is ../go.mod with this module's name; keep their
// versions equal. build-realnode.sh builds them, only when the real node is asked for.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
