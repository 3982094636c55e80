#!/usr/bin/env bash
# Builds the Go programs of the local real stack from the Go module proxy:
# kube-apiserver, kube-controller-manager, kube-scheduler, kubectl (Kubernetes
# v$K8S_VERSION), etcd, kwok and helm (for tests, bench/ceiling and operators; the provisioner
# runs storefleet-helm-agent, which the CMake build makes). Output: $STOREFLEET_CACHE/bin. A
# stamp of the inputs makes a second run a no-op.
source "$(dirname "$0")/lib/common.sh"

K8S_VERSION=1.34.4
HELM_VERSION=v3.19.0
KWOK_VERSION=v0.7.0
TOOLS_DIR="$STOREFLEET_ROOT/infra/local/tools"
BIN="$STOREFLEET_CACHE/bin"
mkdir -p "$BIN"

stamp_file="$BIN/.tools-stamp"
stamp=$(cat "$TOOLS_DIR/go.mod" "$TOOLS_DIR/go.sum" "$0" "$TOOLS_DIR/etcd/main.go" | sha256sum | cut -c1-16)
if [[ -f $stamp_file && $(cat "$stamp_file") == "$stamp" ]]; then
    log "go tools are up to date in $BIN"
    exit 0
fi

use_go
export GOFLAGS="-mod=mod -p=${STOREFLEET_GO_JOBS:-2}"
cd "$TOOLS_DIR"

build_date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
k8s_minor=$(echo "$K8S_VERSION" | cut -d. -f2)
kv=k8s.io/component-base/version
k8s_ldflags="-s -w -X $kv.gitVersion=v$K8S_VERSION -X $kv.gitMajor=1 -X $kv.gitMinor=$k8s_minor"
k8s_ldflags+=" -X $kv.gitTreeState=clean -X $kv.buildDate=$build_date"
k8s_ldflags+=" -X k8s.io/client-go/pkg/version.gitVersion=v$K8S_VERSION"

build() {  # build NAME PACKAGE LDFLAGS
    local start=$SECONDS
    log "building $1"
    go build -trimpath -ldflags "$3" -o "$BIN/$1.tmp" "$2"
    mv "$BIN/$1.tmp" "$BIN/$1"
    log "built $1 in $((SECONDS - start))s"
}

build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$k8s_ldflags"
build kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager "$k8s_ldflags"
build kube-scheduler k8s.io/kubernetes/cmd/kube-scheduler "$k8s_ldflags"
build kubectl k8s.io/kubernetes/cmd/kubectl "$k8s_ldflags"
build etcd ./etcd "-s -w"
# kwok pins older k8s.io libraries than the control plane (its informers do not build
# against v0.34), so it is built from its own module with `go install`.
kwok_start=$SECONDS
log "building kwok"
GOBIN="$BIN" GOFLAGS="-p=${STOREFLEET_GO_JOBS:-2}" go install -trimpath \
    -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION" \
    "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
log "built kwok in $((SECONDS - kwok_start))s"
hv=helm.sh/helm/v3
build helm $hv/cmd/helm "-s -w -X $hv/internal/version.version=$HELM_VERSION \
 -X $hv/pkg/lint/rules.k8sVersionMajor=1 -X $hv/pkg/lint/rules.k8sVersionMinor=$k8s_minor \
 -X $hv/pkg/chartutil.k8sVersionMajor=1 -X $hv/pkg/chartutil.k8sVersionMinor=$k8s_minor"

echo "$stamp" > "$stamp_file"
log "go tools ready in $BIN"
