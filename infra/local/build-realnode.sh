#!/usr/bin/env bash
# Builds the Go programs of the local real node (infra/local/parts/realnode.sh), only when it
# is asked for (`infra/local/up real-node`, `make test-real`): kubelet and kube-proxy of the
# control plane's Kubernetes version (tools/realnode, same versions as tools/go.mod, so the
# build cache of build-tools.sh serves them), storefleet-ingress (tools/realnode/ingress), the
# volume provisioner storefleet-localpv (tools/realnode/localpv), the
# kube-dns relay pod's storefleet-dnsrelay (tools/realnode/dnsrelay, static: it runs in the
# pause image), CoreDNS with only the plugins the node needs (tools/coredns), and kube-router's
# NetworkPolicy controller alone (tools/kube-router: v2.1.0, the only version the Go module
# proxy serves, with its flagged dependencies raised; docs/decisions/0008). Output:
# $STOREFLEET_CACHE/bin; a stamp of the inputs makes a second run a no-op.
source "$(dirname "$0")/lib/common.sh"

K8S_VERSION=1.34.4
TOOLS_DIR="$STOREFLEET_ROOT/infra/local/tools"
BIN="$STOREFLEET_CACHE/bin"
mkdir -p "$BIN"

stamp_file="$BIN/.realnode-stamp"
stamp=$(cat "$0" "$TOOLS_DIR/realnode/go.mod" "$TOOLS_DIR/realnode/go.sum" "$TOOLS_DIR/realnode/ingress/main.go" \
    "$TOOLS_DIR/realnode/localpv/main.go" "$TOOLS_DIR/realnode/dnsrelay/main.go" "$TOOLS_DIR/coredns/go.mod" "$TOOLS_DIR/coredns/go.sum" \
    "$TOOLS_DIR/coredns/main.go" "$TOOLS_DIR/kube-router/go.mod" "$TOOLS_DIR/kube-router/go.sum" \
    "$TOOLS_DIR/kube-router/main.go" | sha256sum | cut -c1-16)
if [[ -f $stamp_file && $(cat "$stamp_file") == "$stamp" ]]; then
    for b in kubelet kube-proxy storefleet-ingress storefleet-localpv storefleet-dnsrelay coredns kube-router; do
        [[ -x $BIN/$b ]] || stamp=rebuild
    done
    if [[ $stamp != rebuild ]]; then
        log "real-node tools are up to date in $BIN"
        exit 0
    fi
fi

use_go
export GOFLAGS="-mod=mod -p=${STOREFLEET_GO_JOBS:-2}"

k8s_minor=$(echo "$K8S_VERSION" | cut -d. -f2)
kv=k8s.io/component-base/version
k8s_ldflags="-s -w -X $kv.gitVersion=v$K8S_VERSION -X $kv.gitMajor=1 -X $kv.gitMinor=$k8s_minor"
k8s_ldflags+=" -X $kv.gitTreeState=clean -X k8s.io/client-go/pkg/version.gitVersion=v$K8S_VERSION"

build() {  # build DIR NAME PACKAGE LDFLAGS
    local start=$SECONDS
    log "building $2"
    (cd "$1" && go build -trimpath -ldflags "$4" -o "$BIN/$2.tmp" "$3")
    mv "$BIN/$2.tmp" "$BIN/$2"
    log "built $2 in $((SECONDS - start))s"
}

build "$TOOLS_DIR/realnode" kubelet k8s.io/kubernetes/cmd/kubelet "$k8s_ldflags"
build "$TOOLS_DIR/realnode" kube-proxy k8s.io/kubernetes/cmd/kube-proxy "$k8s_ldflags"
build "$TOOLS_DIR/realnode" storefleet-ingress ./ingress "-s -w"
build "$TOOLS_DIR/realnode" storefleet-localpv ./localpv "-s -w"
CGO_ENABLED=0 build "$TOOLS_DIR/realnode" storefleet-dnsrelay ./dnsrelay "-s -w"
build "$TOOLS_DIR/coredns" coredns . "-s -w"
build "$TOOLS_DIR/kube-router" kube-router . "-s -w -X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=v2.1.0"

echo "$stamp" >"$stamp_file"
log "real-node tools ready in $BIN"
