# shellcheck shell=bash
# The real node of the local stack (`infra/local/up real-node`), next to the KWOK nodes and
# off by default: containerd and runc (Debian), a kubelet registered as node real-node-0, CNI
# (Debian's bridge + host-local plugins) on a bridge the stack creates, kube-proxy (iptables),
# CoreDNS for cluster names, storefleet-ingress on 127.0.0.1 for the store hosts,
# storefleet-localpv for the stores' volumes (StorageClass storefleet-real-node: `local`
# volumes under $STOREFLEET_STATE/realnode/volumes, which the kubelet gives a pod's fsGroup), and
# kube-router's NetworkPolicy controller alone (the enforcer; docs/decisions/0008). The node is
# labelled storefleet.io/node-kind=real and tainted storefleet.io/real-node=true:NoSchedule, so
# only pods that ask for it (charts/medusa-store/values-real-node.yaml) land there.
#
# Needs the k8s part running. Sourced after lib/common.sh and parts/k8s.sh; defines
# realnode_start, realnode_stop, realnode_status. State under $STOREFLEET_STATE/realnode
# (containerd's root with the imported images, kubelet's root, logs, pki, ports); containerd's
# runtime state and sockets under /run/storefleet-<hash of the state dir>. The environment
# (STOREFLEET_INGRESS_HTTP, STOREFLEET_REAL_NODE) goes to $STOREFLEET_STATE/env.d/realnode.
#
# Network: pods get 10.245.0.0/24 on bridge sfcni0 (the node's IP is its gateway, 10.245.0.1:
# the kubelet refuses a loopback node IP). The fence, chains STOREFLEET-REALNODE(-IN) of the
# mangle table, drops anything a pod sends outside that network (after kube-proxy's service
# DNAT) and to the host, except DNS to the node and the stand-in for the outside below, and any
# IPv6 from the bridge (the pods' link-local addresses; the node is IPv4 only). It is in
# mangle, which runs before filter, because the enforcer's filter chains go first in FORWARD
# and INPUT and ACCEPT what a NetworkPolicy allows: the fence holds whatever they accept.
#
# DNS: CoreDNS on the host (10.245.0.1:53) answers cluster names; pods reach it through the
# kube-dns Service ($REALNODE_DNS_IP) and a static pod kube-system/storefleet-dns-real-node-0
# labelled k8s-app=kube-dns that relays to it (tools/realnode/dnsrelay): store policies allow
# DNS only to such pods, and the enforcer never counts a host process as one.
#
# The outside: network namespace storefleet-outside, routed from the host over veth sfout0,
# holds 198.51.100.10 (TEST-NET-2, a documentation address, never one off this machine). The
# fence lets pods reach it so that what a store may send to the internet is decided by the
# NetworkPolicies alone (tests/real/network-policies.sh listens there); nothing else listens.
#
# What the node changes on the machine, it puts back at stop and nothing else: the iptables and
# ip6tables rules and ipsets found at the first start are kept (tools/realnode/netfilter.py, in
# $REALNODE_NETFILTER_SAVED) and stop removes only chains, rules and sets made since (never
# another Kubernetes' KUBE-* chains); the sysctls it or the kubelet changes are kept in
# $REALNODE_SYSCTL_SAVED and written back. Only one real node per machine: the bridge, the pod
# network and port 53 on 10.245.0.1 are fixed.
#
# What this machine needs (found here): cgroup v1 (failCgroupV1: false, cgroupfs,
# cgroupsPerQOS: false) and containerd's restrict_oom_score_adj (writing a lower
# oom_score_adj is refused; without it runc fails with "can't get final child's PID from pipe").

REALNODE_NAME=real-node-0
REALNODE_BRIDGE=sfcni0
REALNODE_CIDR=10.245.0.0/24
REALNODE_IP=10.245.0.1
REALNODE_COMPONENTS=(containerd coredns kubelet kube-proxy storefleet-ingress kube-router storefleet-localpv)
REALNODE_DEBS=(containerd runc containernetworking-plugins iptables ipset conntrack debootstrap)
REALNODE_SERVICE_CIDR=10.96.0.0/16  # the k8s part's --service-cluster-ip-range
REALNODE_DNS_WANTED_IP=10.96.0.10
REALNODE_OUTSIDE_NS=storefleet-outside
REALNODE_OUTSIDE_VETH=sfout0
REALNODE_OUTSIDE_GW=198.51.100.1
REALNODE_OUTSIDE_IP=198.51.100.10
# The sysctls the node (or the kubelet: vm.*, kernel.panic*, kernel.keys.*; kube-proxy:
# route_localnet) may change; what the machine had is put back at stop.
REALNODE_SYSCTLS=(net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables
    vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops kernel.keys.root_maxkeys
    kernel.keys.root_maxbytes net.ipv4.conf.all.route_localnet)
REALNODE_SYSCTL_SAVED=/run/storefleet-realnode.sysctl
REALNODE_NETFILTER_SAVED=/run/storefleet-realnode.netfilter
# kube-router's NetworkPolicy chains and ipsets (what stopping the enforcer alone removes).
REALNODE_ENFORCER_CHAINS=(KUBE-ROUTER- KUBE-POD-FW- KUBE-NWPLCY-)
REALNODE_ENFORCER_IPSETS=(KUBE-SRC- KUBE-DST-)
# Which state directory holds the machine's one real node (bridge, iptables, sysctls).
REALNODE_OWNER=/run/storefleet-realnode.owner
REALNODE_START_DEADLINE=${STOREFLEET_REALNODE_START_DEADLINE:-180}
# The StorageClass of the real node's volumes (storefleet-localpv; values-real-node.yaml).
REALNODE_STORAGE_CLASS=storefleet-real-node
REALNODE_PROVISIONER=storefleet.io/real-node-local

_rn_dir() { realpath -m "$STOREFLEET_STATE/realnode"; }
_rn_run() { echo "/run/storefleet-$(_rn_dir | sha256sum | cut -c1-8)"; }
_rn_ctr() { ctr --address "$(_rn_run)/containerd.sock" -n k8s.io "$@"; }
_rn_kubectl() { kubectl --kubeconfig "$STOREFLEET_STATE/kubeconfig" "$@"; }
_rn_netfilter() { python3 "$STOREFLEET_ROOT/infra/local/tools/realnode/netfilter.py" "$@"; }

_rn_pid_alive() { proc_is_running "$(_rn_dir)" "$1"; }  # _rn_pid_alive NAME: ours runs

_rn_spawn() {  # _rn_spawn NAME BINARY ARGS...: background, own session, pid file
    local name=$1
    shift
    # umask 022 whatever the caller's (an operator's may be 077): containerd would otherwise
    # unpack images into 0700 snapshot roots, and every container not running as root fails
    # with 'exec: "sh": executable file not found in $PATH'.
    proc_spawn --umask 022 "$(_rn_dir)" "$name" "$@"
}

_rn_ports() {
    kept_ports "$(_rn_dir)/ports" kubelet kubelet_health proxy_health proxy_metrics dns_health dns_ready \
        ingress ingress_health
    # A file of its own: a state made before the enforcer keeps its other ports.
    kept_ports "$(_rn_dir)/ports.enforcer" enforcer_health
}

# _rn_packages: Debian's containerd, runc, CNI plugins, iptables, conntrack (installs what is
# missing; the project's own files install what it needs).
_rn_packages() {
    local missing=() p
    for p in "${REALNODE_DEBS[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if ((${#missing[@]})); then
        log "real-node: installing ${missing[*]}"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 || {
            apt-get update -qq >/dev/null &&
                DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
        } || die "real-node: apt-get install ${missing[*]} failed"
    fi
}

_rn_pki() {  # client and serving certificates from the k8s part's CA
    local pki k8spki
    pki="$(_rn_dir)/pki"
    k8spki="$(_k8s_dir)/pki"
    [[ -f $pki/kubelet-server.crt && -f $pki/kube-router.crt && -f $pki/localpv.crt ]] && return 0
    mkdir -p "$pki" && chmod 700 "$pki"
    (
        cd "$pki" || exit
        cert() {  # cert NAME SUBJECT EXT
            openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
            printf '%s\n' "$3" >"$1.ext"
            openssl x509 -req -in "$1.csr" -CA "$k8spki/ca.crt" -CAkey "$k8spki/ca.key" -CAcreateserial \
                -CAserial "$pki/ca.srl" -out "$1.crt" -days 3650 -extfile "$1.ext" 2>/dev/null
            rm -f "$1.csr" "$1.ext"
        }
        cert kubelet "/O=system:nodes/CN=system:node:$REALNODE_NAME" "extendedKeyUsage=clientAuth"
        cert kube-proxy "/CN=system:kube-proxy" "extendedKeyUsage=clientAuth"
        cert coredns "/CN=storefleet:coredns" "extendedKeyUsage=clientAuth"
        cert ingress "/CN=storefleet:ingress" "extendedKeyUsage=clientAuth"
        cert kube-router "/CN=storefleet:kube-router" "extendedKeyUsage=clientAuth"
        cert localpv "/CN=storefleet:localpv" "extendedKeyUsage=clientAuth"
        cert kubelet-server "/CN=$REALNODE_NAME" \
            "$(printf 'subjectAltName=IP:%s,DNS:%s\nextendedKeyUsage=serverAuth' "$REALNODE_IP" "$REALNODE_NAME")"
        chmod 600 ./*.key
    )
}

_rn_kubeconfig() {  # _rn_kubeconfig NAME OUT: a kubeconfig with pki/NAME.{crt,key}
    _k8s_kubeconfig "$1" "$api" "$2" "$(_rn_dir)/pki"
}

_rn_rbac() {  # what CoreDNS and the ingress controller may read
    _rn_kubectl apply -f - >/dev/null <<'RBAC'
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "storefleet:coredns"}
rules:
- {apiGroups: [""], resources: [services, pods, namespaces], verbs: [list, watch]}
- {apiGroups: [discovery.k8s.io], resources: [endpointslices], verbs: [list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "storefleet:coredns"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "storefleet:coredns"}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: "storefleet:coredns"}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "storefleet:ingress"}
rules:
- {apiGroups: [""], resources: [services], verbs: [list, watch]}
- {apiGroups: [discovery.k8s.io], resources: [endpointslices], verbs: [list, watch]}
- {apiGroups: [networking.k8s.io], resources: [ingresses, ingressclasses], verbs: [list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "storefleet:ingress"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "storefleet:ingress"}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: "storefleet:ingress"}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "storefleet:kube-router"}
rules:
- {apiGroups: [""], resources: [pods, namespaces], verbs: [list, watch]}
- {apiGroups: [""], resources: [nodes], verbs: [get]}
- {apiGroups: [networking.k8s.io], resources: [networkpolicies], verbs: [list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "storefleet:kube-router"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "storefleet:kube-router"}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: "storefleet:kube-router"}]
---
# storefleet-localpv: reads claims, makes and deletes the volumes of its class (nothing else:
# no pods, no secrets).
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "storefleet:localpv"}
rules:
- {apiGroups: [""], resources: [persistentvolumeclaims], verbs: [list, watch]}
- {apiGroups: [""], resources: [persistentvolumes], verbs: [list, watch, create, delete]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "storefleet:localpv"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "storefleet:localpv"}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: "storefleet:localpv"}]
RBAC
    # The real node's volumes: a claim is provisioned once its pod is scheduled (so on the node
    # the pod runs on), deleted with its claim.
    _rn_kubectl apply -f - >/dev/null <<CLASS
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: $REALNODE_STORAGE_CLASS}
provisioner: $REALNODE_PROVISIONER
volumeBindingMode: WaitForFirstConsumer
reclaimPolicy: Delete
CLASS
}

_rn_dns_service_yaml() {  # _rn_dns_service_yaml [CLUSTER_IP]
    cat <<YAML
apiVersion: v1
kind: Service
metadata:
  name: kube-dns
  namespace: kube-system
  labels: {k8s-app: kube-dns, app.kubernetes.io/part-of: storefleet}
spec:
  selector: {k8s-app: kube-dns}
  ${1:+clusterIP: $1}
  ports:
  - {name: dns, port: 53, protocol: UDP, targetPort: 53}
  - {name: dns-tcp, port: 53, protocol: TCP, targetPort: 53}
YAML
}

# _rn_dns_service: the kube-dns Service in front of the DNS relay pod; sets REALNODE_DNS_IP
# (10.96.0.10 unless the Service already exists, or that address is taken).
_rn_dns_service() {
    local ip
    ip=$(_rn_kubectl get service -n kube-system kube-dns -o jsonpath='{.spec.clusterIP}' 2>/dev/null || true)
    if [[ -z $ip ]]; then
        _rn_dns_service_yaml "$REALNODE_DNS_WANTED_IP" | _rn_kubectl create -f - >/dev/null 2>&1 ||
            _rn_dns_service_yaml | _rn_kubectl create -f - >/dev/null ||
            die "real-node: could not create the kube-dns Service"
        ip=$(_rn_kubectl get service -n kube-system kube-dns -o jsonpath='{.spec.clusterIP}')
    fi
    [[ -n $ip ]] || die "real-node: the kube-dns Service has no cluster IP"
    REALNODE_DNS_IP=$ip
}

# _rn_sysctls_save / _rn_sysctls_restore: the machine's values of REALNODE_SYSCTLS, one
# KEY=VALUE a line, kept once before anything of a real node changes them (machine-wide, like
# the bridge, so a removed state directory cannot lose them) and written back where they differ.
_rn_sysctls_save() {
    [[ -f $REALNODE_SYSCTL_SAVED ]] && return 0
    local key tmp="$REALNODE_SYSCTL_SAVED.tmp"
    : >"$tmp"
    for key in "${REALNODE_SYSCTLS[@]}"; do
        [[ -e /proc/sys/${key//.//} ]] && echo "$key=$(sysctl -n "$key")" >>"$tmp"
    done
    mv "$tmp" "$REALNODE_SYSCTL_SAVED"
}

_rn_sysctls_restore() {
    [[ -f $REALNODE_SYSCTL_SAVED ]] || return 0
    local line key value keys=(net.ipv4.ip_forward vm.overcommit_memory kernel.panic kernel.panic_on_oops) i=0 rc=0
    while read -r line; do
        if [[ $line != *=* ]]; then  # the older format: four values on one line, in this order
            for value in $line; do echo "${keys[i]}=$value"; i=$((i + 1)); done
        else
            echo "$line"
        fi
    done <"$REALNODE_SYSCTL_SAVED" | {
        while IFS='=' read -r key value; do
            [[ -n $key && -e /proc/sys/${key//.//} ]] || continue
            [[ $(sysctl -n "$key") == "$value" ]] && continue
            sysctl -qw "$key=$value" || { log "real-node: could not put back $key=$value"; rc=1; }
        done
        exit $rc
    } || return 1
    rm -f "$REALNODE_SYSCTL_SAVED"
}

# _rn_outside_up: the stand-in for the outside (see the top of this file).
_rn_outside_up() {
    local ns=$REALNODE_OUTSIDE_NS veth=$REALNODE_OUTSIDE_VETH
    [[ -e /run/netns/$ns ]] || ip netns add "$ns"
    if ! ip link show "$veth" >/dev/null 2>&1; then
        ip link add "$veth" type veth peer name eth0 netns "$ns"
        ip addr add "$REALNODE_OUTSIDE_GW/24" dev "$veth"
    fi
    ip link set "$veth" up
    ip -n "$ns" link set lo up
    ip -n "$ns" link set eth0 up
    local addrs
    addrs=$(ip -n "$ns" addr show dev eth0)
    grep -q "inet $REALNODE_OUTSIDE_IP/" <<<"$addrs" || ip -n "$ns" addr add "$REALNODE_OUTSIDE_IP/24" dev eth0
    ip -n "$ns" route replace default via "$REALNODE_OUTSIDE_GW"
}

_rn_outside_down() {
    ip netns del "$REALNODE_OUTSIDE_NS" 2>/dev/null || true
    ip link del "$REALNODE_OUTSIDE_VETH" 2>/dev/null || true
}

# _rn_network_up: what the machine had (first), the bridge with the node IP, forwarding, the
# outside, and the fence.
_rn_network_up() {
    local dir
    dir=$(_rn_dir)
    # Machine-wide and once, like the bridge: before anything of a real node changes them.
    if [[ ! -f $REALNODE_NETFILTER_SAVED/ip4.rules ]]; then
        rm -rf "$REALNODE_NETFILTER_SAVED"
        if ! { _rn_netfilter snapshot "$REALNODE_NETFILTER_SAVED.tmp" &&
            mv "$REALNODE_NETFILTER_SAVED.tmp" "$REALNODE_NETFILTER_SAVED"; }; then
            die "real-node: could not keep the machine's iptables rules"
        fi
    fi
    _rn_sysctls_save
    sysctl -qw net.ipv4.ip_forward=1
    [[ -e /proc/sys/net/bridge/bridge-nf-call-iptables ]] && sysctl -qw net.bridge.bridge-nf-call-iptables=1
    if ! ip link show "$REALNODE_BRIDGE" >/dev/null 2>&1; then
        ip link add "$REALNODE_BRIDGE" type bridge
    fi
    # Output captured before grep: under pipefail, `cmd | grep -q` fails when grep exits at its
    # match and the command then gets SIGPIPE writing the rest.
    local addrs
    addrs=$(ip addr show dev "$REALNODE_BRIDGE")
    grep -q "inet $REALNODE_IP/" <<<"$addrs" ||
        ip addr add "$REALNODE_IP/24" dev "$REALNODE_BRIDGE"
    ip link set "$REALNODE_BRIDGE" up
    _rn_outside_up
    iptables -t mangle -N STOREFLEET-REALNODE 2>/dev/null || iptables -t mangle -F STOREFLEET-REALNODE
    iptables -t mangle -A STOREFLEET-REALNODE -s "$REALNODE_CIDR" -d "$REALNODE_CIDR" -j RETURN
    iptables -t mangle -A STOREFLEET-REALNODE -s "$REALNODE_CIDR" -d "$REALNODE_OUTSIDE_IP" \
        -o "$REALNODE_OUTSIDE_VETH" -j RETURN
    iptables -t mangle -A STOREFLEET-REALNODE -s "$REALNODE_CIDR" -j DROP
    iptables -t mangle -N STOREFLEET-REALNODE-IN 2>/dev/null || iptables -t mangle -F STOREFLEET-REALNODE-IN
    iptables -t mangle -A STOREFLEET-REALNODE-IN -s "$REALNODE_CIDR" -d "$REALNODE_IP" -p udp --dport 53 -j RETURN
    iptables -t mangle -A STOREFLEET-REALNODE-IN -s "$REALNODE_CIDR" -d "$REALNODE_IP" -p tcp --dport 53 -j RETURN
    iptables -t mangle -A STOREFLEET-REALNODE-IN -s "$REALNODE_CIDR" -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN
    iptables -t mangle -A STOREFLEET-REALNODE-IN -s "$REALNODE_CIDR" -j DROP
    iptables -t mangle -C FORWARD -j STOREFLEET-REALNODE 2>/dev/null || iptables -t mangle -I FORWARD 1 -j STOREFLEET-REALNODE
    iptables -t mangle -C INPUT -j STOREFLEET-REALNODE-IN 2>/dev/null || iptables -t mangle -I INPUT 1 -j STOREFLEET-REALNODE-IN
    # kube-proxy masquerades service traffic to the node IP; the guard must see the real
    # source first, which FORWARD does (mangle and filter run before POSTROUTING's SNAT).
    #
    # IPv6: the pods get link-local addresses on the bridge, and neither the chains above nor
    # kube-router (IPv4 only here) see IPv6, so a pod could reach any other pod, or any host
    # service, that listens on [::]. The node is IPv4 only: IPv6 from the bridge is dropped,
    # bridged between pods or to the host (replies to the host's own connections excepted).
    [[ -e /proc/sys/net/bridge/bridge-nf-call-ip6tables ]] && sysctl -qw net.bridge.bridge-nf-call-ip6tables=1
    ip6tables -w -t mangle -N STOREFLEET-REALNODE 2>/dev/null || ip6tables -w -t mangle -F STOREFLEET-REALNODE
    ip6tables -w -t mangle -A STOREFLEET-REALNODE -i "$REALNODE_BRIDGE" -j DROP
    ip6tables -w -t mangle -N STOREFLEET-REALNODE-IN 2>/dev/null || ip6tables -w -t mangle -F STOREFLEET-REALNODE-IN
    ip6tables -w -t mangle -A STOREFLEET-REALNODE-IN -i "$REALNODE_BRIDGE" -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN
    ip6tables -w -t mangle -A STOREFLEET-REALNODE-IN -i "$REALNODE_BRIDGE" -j DROP
    ip6tables -w -t mangle -C FORWARD -j STOREFLEET-REALNODE 2>/dev/null || ip6tables -w -t mangle -I FORWARD 1 -j STOREFLEET-REALNODE
    ip6tables -w -t mangle -C INPUT -j STOREFLEET-REALNODE-IN 2>/dev/null || ip6tables -w -t mangle -I INPUT 1 -j STOREFLEET-REALNODE-IN
}

# _rn_network_down: the bridge and the outside go; every iptables chain, rule and ipset made
# since the first start (the fence, the kubelet's, kube-proxy's, the enforcer's) is removed and
# nothing that was there before; the sysctls are put back. Returns 1 if any of it failed.
_rn_network_down() {
    local rc=0
    if [[ -f $REALNODE_NETFILTER_SAVED/ip4.rules ]]; then
        _rn_netfilter remove-new "$REALNODE_NETFILTER_SAVED" || { log "real-node: some iptables rules or ipsets were not removed"; rc=1; }
        ((rc)) || rm -rf "$REALNODE_NETFILTER_SAVED"
    else
        # Started before the machine's rules were kept: only the fence is known to be ours.
        log "real-node: no record of the machine's iptables rules; removing only the fence"
        local ipt t c
        for ipt in iptables ip6tables; do
            for t in filter mangle; do
                "$ipt" -t "$t" -D FORWARD -j STOREFLEET-REALNODE 2>/dev/null || true
                "$ipt" -t "$t" -D INPUT -j STOREFLEET-REALNODE-IN 2>/dev/null || true
                for c in STOREFLEET-REALNODE STOREFLEET-REALNODE-IN; do
                    if "$ipt" -t "$t" -F "$c" 2>/dev/null; then "$ipt" -t "$t" -X "$c" 2>/dev/null || true; fi
                done
            done
        done
    fi
    _rn_outside_down
    ip link del "$REALNODE_BRIDGE" 2>/dev/null || true
    _rn_sysctls_restore || rc=1
    return $rc
}

_rn_configs() {
    local dir run
    dir=$(_rn_dir)
    run=$(_rn_run)
    mkdir -p "$dir/cni/net.d" "$dir/cni/ipam" "$dir/containerd" "$dir/kubelet" "$dir/manifests" "$run"
    cat >"$dir/containerd/config.toml" <<TOML
version = 2
root = "$dir/containerd/root"
state = "$run/containerd"
[grpc]
  address = "$run/containerd.sock"
[ttrpc]
  address = "$run/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$dir/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "storefleet.local/pause:1"
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$dir/cni/net.d"
    max_conf_num = 1
TOML
    cat >"$dir/cni/net.d/10-storefleet.conflist" <<JSON
{
  "cniVersion": "0.4.0",
  "name": "storefleet",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$REALNODE_BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "$REALNODE_CIDR", "gateway": "$REALNODE_IP"}]],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dataDir": "$dir/cni/ipam"
      }
    }
  ]
}
JSON
    # Pods resolve cluster names only: no search domain or resolver of the host leaks in.
    : >"$dir/kubelet/resolv.conf"
    cat >"$dir/kubelet/config.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $REALNODE_IP
port: $kubelet
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $kubelet_health
tlsCertFile: $dir/pki/kubelet-server.crt
tlsPrivateKeyFile: $dir/pki/kubelet-server.key
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
  x509: {clientCAFile: $(_k8s_dir)/pki/ca.crt}
authorization: {mode: AlwaysAllow}
containerRuntimeEndpoint: unix://$run/containerd.sock
cgroupDriver: cgroupfs
cgroupsPerQOS: false
enforceNodeAllocatable: []
failCgroupV1: false
failSwapOn: false
clusterDNS: [$REALNODE_DNS_IP]
staticPodPath: $dir/manifests
clusterDomain: cluster.local
resolvConf: $dir/kubelet/resolv.conf
registerNode: true
registerWithTaints:
- {key: storefleet.io/real-node, value: "true", effect: NoSchedule}
maxPods: 60
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 256Mi, nodefs.available: 2%, imagefs.available: 2%}
nodeStatusReportFrequency: 10s
nodeStatusUpdateFrequency: 10s
YAML
    # The kube-dns pod: a static pod (the kubelet runs it, with no API write of ours), on the
    # pod network, relaying to CoreDNS on the host. The relay binary comes from the host.
    cat >"$dir/manifests/storefleet-dns.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata:
  name: storefleet-dns
  namespace: kube-system
  labels: {k8s-app: kube-dns, app.kubernetes.io/part-of: storefleet}
spec:
  # The pause image's user (65535), no capabilities: port 53 is unprivileged in this pod's
  # network namespace only.
  securityContext:
    runAsNonRoot: true
    seccompProfile: {type: RuntimeDefault}
    sysctls: [{name: net.ipv4.ip_unprivileged_port_start, value: "53"}]
  containers:
  - name: relay
    image: storefleet.local/pause:1
    imagePullPolicy: Never
    command: [/storefleet-dnsrelay, -listen, ":53", -upstream, "$REALNODE_IP:53"]
    ports:
    - {name: dns, containerPort: 53, protocol: UDP}
    - {name: dns-tcp, containerPort: 53, protocol: TCP}
    resources:
      requests: {cpu: 10m, memory: 16Mi}
      limits: {cpu: 200m, memory: 64Mi}
    securityContext:
      allowPrivilegeEscalation: false
      readOnlyRootFilesystem: true
      capabilities: {drop: [ALL]}
    volumeMounts:
    - {name: relay, mountPath: /storefleet-dnsrelay, readOnly: true}
  volumes:
  - name: relay
    hostPath: {path: $STOREFLEET_CACHE/bin/storefleet-dnsrelay, type: File}
YAML
    cat >"$dir/Corefile" <<CORE
.:53 {
    bind $REALNODE_IP
    ready 127.0.0.1:$dns_ready
    health 127.0.0.1:$dns_health
    errors
    cache 10
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig $dir/coredns.kubeconfig storefleet-local
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    template ANY ANY {
        rcode NXDOMAIN
    }
}
CORE
}

# _rn_import_images: every image tarball infra/images/build.sh made, imported once per change.
_rn_import_images() {
    local dir tar name sum
    dir=$(_rn_dir)
    mkdir -p "$dir/imported"
    shopt -s nullglob
    for tar in "$STOREFLEET_CACHE"/images/*.tar; do
        name=$(basename "$tar" .tar)
        sum=$(stat -c '%s %Y' "$tar")
        [[ -f $dir/imported/$name && $(<"$dir/imported/$name") == "$sum" ]] && continue
        local start=$SECONDS
        _rn_ctr images import --no-unpack=false "$tar" >>"$dir/import.log" 2>&1 ||
            die "real-node: importing $tar failed; see $dir/import.log"
        echo "$sum" >"$dir/imported/$name"
        log "real-node: imported image $name in $((SECONDS - start))s"
    done
    shopt -u nullglob
    # The list is captured first: piped into `grep -q`, ctr could get SIGPIPE writing the names
    # after pause's (it writes one per line), and pipefail would fail the check with pause there.
    local images
    images=$(_rn_ctr images ls -q 2>/dev/null || true)
    grep -qx 'storefleet.local/pause:1' <<<"$images" ||
        die "real-node: the sandbox image storefleet.local/pause:1 is missing; run 'make images' (infra/images/build.sh)"
}

_rn_node_ready() {
    [[ $(_rn_kubectl get node "$REALNODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null) == True ]]
}

# _rn_enforcer_synced: kube-router made its chains and its first full sync is done (the ACCEPT of
# what the policies allow ends its FORWARD chain).
_rn_enforcer_synced() {
    local rules
    rules=$(iptables -w -S KUBE-ROUTER-FORWARD 2>/dev/null) || return 1
    grep -q -- '--mark 0x20000/0x20000 -j ACCEPT' <<<"$rules"
}

# realnode_enforcer_start: kube-router's NetworkPolicy controller alone (its other controllers
# are not even in the binary: tools/kube-router), with the node's kubeconfig; returns when its
# first sync is in iptables. Needs the node registered (it reads the node's address).
realnode_enforcer_start() {
    local dir enforcer_health
    dir=$(_rn_dir)
    kept_ports "$dir/ports.enforcer" enforcer_health
    if ! _rn_pid_alive kube-router; then
        require_port real-node "$enforcer_health" "kube-router healthz"
        _rn_spawn kube-router "$STOREFLEET_CACHE/bin/kube-router" --kubeconfig "$dir/kube-router.kubeconfig" \
            --hostname-override "$REALNODE_NAME" --run-firewall=true --run-router=false --run-service-proxy=false \
            --service-cluster-ip-range "$REALNODE_SERVICE_CIDR" --health-port "$enforcer_health" --metrics-port 0 --v 1
    fi
    wait_for "kube-router's healthz" 60 curl -sf "http://127.0.0.1:$enforcer_health/healthz" ||
        die "real-node: kube-router not healthy; see $dir/kube-router.log"
    wait_for "kube-router's first sync" 60 _rn_enforcer_synced ||
        die "real-node: kube-router made no NetworkPolicy chains; see $dir/kube-router.log"
}

# realnode_enforcer_stop: stops kube-router and removes its chains, the jumps to them and its
# ipsets (those made since the first start only): pods are then as unfenced by NetworkPolicies
# as on a node without an enforcer (tests/real/network-policies.sh shows the difference).
realnode_enforcer_stop() {
    _rn_stop_component kube-router
    [[ -f $REALNODE_NETFILTER_SAVED/ip4.rules ]] || return 0
    _rn_netfilter remove-new "$REALNODE_NETFILTER_SAVED" "${REALNODE_ENFORCER_CHAINS[@]/#/--chain-prefix=}" \
        "${REALNODE_ENFORCER_IPSETS[@]/#/--ipset-prefix=}"
}

# _rn_dns_answers: a cluster name resolves through the kube-dns Service (relay pod, CoreDNS).
_rn_dns_answers() {
    python3 - "$REALNODE_DNS_IP" <<'PY'
import random, socket, struct, sys
qid = random.randrange(65536)
q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
q += b"".join(bytes([len(p)]) + p.encode() for p in "kubernetes.default.svc.cluster.local".split(".")) + b"\0"
q += struct.pack(">HH", 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
s.sendto(q, (sys.argv[1], 53))
a, _ = s.recvfrom(512)
rid, flags, _, ancount = struct.unpack(">HHHH", a[:8])
sys.exit(0 if rid == qid and flags & 0xF == 0 and ancount > 0 else 1)
PY
}

# _rn_node_registered: the node exists with its address (what kube-router reads at its start).
_rn_node_registered() {
    [[ $(_rn_kubectl get node "$REALNODE_NAME" -o jsonpath='{.status.addresses[?(@.type=="InternalIP")].address}' 2>/dev/null) == "$REALNODE_IP" ]]
}

realnode_start() {
    local dir run api kubelet kubelet_health proxy_health proxy_metrics dns_health dns_ready ingress ingress_health
    local start=$SECONDS
    [[ $(id -u) == 0 ]] || die "real-node: needs root (containerd, kubelet, iptables)"
    _k8s_pid_alive kube-apiserver || die "real-node: the k8s part is not running (infra/local/up k8s real-node)"
    dir=$(_rn_dir)
    run=$(_rn_run)
    if [[ -f $REALNODE_OWNER && $(<"$REALNODE_OWNER") != "$dir" ]] && _rn_owner_alive; then
        die "real-node: the real node of $(<"$REALNODE_OWNER") runs on this machine (one at a time); stop it first"
    fi
    mkdir -p "$dir" "$STOREFLEET_STATE/env.d"
    echo "$dir" >"$REALNODE_OWNER"
    _rn_packages
    bash "$STOREFLEET_ROOT/infra/local/build-realnode.sh"
    bash "$STOREFLEET_ROOT/infra/images/build.sh" pause
    # shellcheck disable=SC1090,SC2046
    eval $(tr ' ' '\n' <"$(_k8s_dir)/ports" | grep '^api=')
    _rn_ports
    _rn_pki
    _rn_kubeconfig kubelet "$dir/kubelet.kubeconfig"
    _rn_kubeconfig kube-proxy "$dir/kube-proxy.kubeconfig"
    _rn_kubeconfig coredns "$dir/coredns.kubeconfig"
    _rn_kubeconfig ingress "$dir/ingress.kubeconfig"
    _rn_kubeconfig kube-router "$dir/kube-router.kubeconfig"
    _rn_kubeconfig localpv "$dir/localpv.kubeconfig"
    _rn_rbac
    _rn_dns_service
    _rn_network_up
    _rn_configs

    if ! _rn_pid_alive containerd; then
        _rn_spawn containerd containerd --config "$dir/containerd/config.toml" --log-level warn
        wait_for containerd 30 _rn_ctr version || die "real-node: containerd did not start; see $dir/containerd.log"
    fi
    _rn_import_images
    if ! _rn_pid_alive coredns; then
        require_port real-node "$dns_health" "coredns health"
        _rn_spawn coredns "$STOREFLEET_CACHE/bin/coredns" -conf "$dir/Corefile"
    fi
    if ! _rn_pid_alive kubelet; then
        require_port real-node "$kubelet_health" "kubelet healthz"
        _rn_spawn kubelet "$STOREFLEET_CACHE/bin/kubelet" --config "$dir/kubelet/config.yaml" \
            --kubeconfig "$dir/kubelet.kubeconfig" --root-dir "$dir/kubelet/root" \
            --hostname-override "$REALNODE_NAME" --node-ip "$REALNODE_IP" \
            --node-labels "storefleet.io/node-kind=real,type=real" --v 1
    fi
    # The enforcer as soon as the node exists (at once on a restart, where the kubelet starts the
    # pods it had right away): a pod the kubelet starts before its first sync is unfenced by
    # NetworkPolicies until then (a second or two; the fence above holds all along).
    wait_for "the kubelet to register $REALNODE_NAME" "$REALNODE_START_DEADLINE" _rn_node_registered ||
        die "real-node: $REALNODE_NAME did not register; see $dir/kubelet.log"
    realnode_enforcer_start
    if ! _rn_pid_alive kube-proxy; then
        require_port real-node "$proxy_health" "kube-proxy healthz"
        _rn_spawn kube-proxy "$STOREFLEET_CACHE/bin/kube-proxy" --kubeconfig "$dir/kube-proxy.kubeconfig" \
            --hostname-override "$REALNODE_NAME" --proxy-mode iptables --cluster-cidr "$REALNODE_CIDR" \
            --masquerade-all --nodeport-addresses "$REALNODE_IP/32" \
            --healthz-bind-address "127.0.0.1:$proxy_health" --metrics-bind-address "127.0.0.1:$proxy_metrics" \
            --conntrack-max-per-core 0 --conntrack-tcp-timeout-established 0 --conntrack-tcp-timeout-close-wait 0 --v 1
    fi
    if ! _rn_pid_alive storefleet-ingress; then
        require_port real-node "$ingress" "ingress http"
        _rn_spawn storefleet-ingress "$STOREFLEET_CACHE/bin/storefleet-ingress" --kubeconfig "$dir/ingress.kubeconfig" \
            --listen "127.0.0.1:$ingress" --health "127.0.0.1:$ingress_health" --pod-cidr "$REALNODE_CIDR"
    fi
    if ! _rn_pid_alive storefleet-localpv; then
        _rn_spawn storefleet-localpv "$STOREFLEET_CACHE/bin/storefleet-localpv" --kubeconfig "$dir/localpv.kubeconfig" \
            --node "$REALNODE_NAME" --root "$dir/volumes" --class "$REALNODE_STORAGE_CLASS" \
            --provisioner "$REALNODE_PROVISIONER"
    fi
    wait_for "the kubelet to register $REALNODE_NAME Ready" "$REALNODE_START_DEADLINE" _rn_node_ready ||
        die "real-node: $REALNODE_NAME did not become Ready; see $dir/kubelet.log"
    wait_for "coredns" 60 curl -sf "http://127.0.0.1:$dns_ready/ready" || die "real-node: coredns not ready; see $dir/coredns.log"
    wait_for "kube-proxy" 60 curl -sf "http://127.0.0.1:$proxy_health/healthz" || die "real-node: kube-proxy not healthy; see $dir/kube-proxy.log"
    wait_for "storefleet-ingress" 60 curl -sf "http://127.0.0.1:$ingress_health/healthz" ||
        die "real-node: storefleet-ingress not serving; see $dir/storefleet-ingress.log"
    wait_for "cluster DNS through the kube-dns pod" 120 _rn_dns_answers ||
        die "real-node: $REALNODE_DNS_IP does not answer cluster names; see the pod kube-system/storefleet-dns-$REALNODE_NAME"
    {
        echo "STOREFLEET_REAL_NODE=$REALNODE_NAME"
        echo "STOREFLEET_INGRESS_HTTP=http://127.0.0.1:$ingress"
    } >"$STOREFLEET_STATE/env.d/realnode"
    log "real-node: $REALNODE_NAME Ready in $((SECONDS - start))s (ingress http://127.0.0.1:$ingress, pods $REALNODE_CIDR, DNS $REALNODE_DNS_IP, NetworkPolicies enforced)"
}

_rn_stop_component() {
    local name=$1 grace=${2:-10}
    proc_stop "$(_rn_dir)" "$name" "$grace" || true
}

# _rn_shim_pids: the containerd shims of this node (their -address is our socket).
_rn_shim_pids() {
    local sock p
    sock="$(_rn_run)/containerd.sock"
    for p in /proc/[0-9]*; do
        [[ $(cat "$p/comm" 2>/dev/null) == containerd-shim* ]] || continue
        tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -q -- "-address $sock " && echo "${p#/proc/}"
    done
}

# _rn_owner_alive: the kubelet or containerd of the state that owns the real node runs.
_rn_owner_alive() {
    local owner name
    owner=$(<"$REALNODE_OWNER")
    for name in kubelet containerd; do
        proc_is_running "$owner" "$name" && return 0
    done
    return 1
}

# _rn_stop_processes: the node's processes and pods, and what they mounted.
_rn_stop_processes() {
    local dir run c t pid
    dir=$(_rn_dir)
    run=$(_rn_run)
    _rn_stop_component kube-router
    _rn_stop_component storefleet-localpv
    _rn_stop_component storefleet-ingress
    _rn_stop_component kube-proxy
    _rn_stop_component kubelet 15
    _rn_stop_component coredns
    # The pods' containers: stop every task of this containerd, then containerd and its shims.
    if _rn_pid_alive containerd; then
        # The sandboxes' network namespaces (bind mounts containerd made under /run/netns).
        for c in $(_rn_ctr containers ls -q 2>/dev/null); do
            _rn_ctr containers info "$c" 2>/dev/null | python3 -c '
import json, sys
for ns in json.load(sys.stdin).get("Spec", {}).get("linux", {}).get("namespaces", []):
    if ns.get("type") == "network" and ns.get("path", "").startswith("/var/run/netns/"):
        print(ns["path"])' 2>/dev/null || true
        done | sort -u >"$dir/netns.list"
        for t in $(_rn_ctr tasks ls -q 2>/dev/null); do _rn_ctr tasks kill -s SIGKILL "$t" >/dev/null 2>&1 || true; done
        wait_for "the pods' processes to end" 20 bash -c "! ctr --address $run/containerd.sock -n k8s.io tasks ls 2>/dev/null | grep -q RUNNING" || true
        for t in $(_rn_ctr tasks ls -q 2>/dev/null); do _rn_ctr tasks delete -f "$t" >/dev/null 2>&1 || true; done
        for c in $(_rn_ctr containers ls -q 2>/dev/null); do _rn_ctr containers delete "$c" >/dev/null 2>&1 || true; done
    fi
    _rn_stop_component containerd 15
    for pid in $(_rn_shim_pids); do kill -9 "$pid" 2>/dev/null || true; done
    # Mounts left by the kubelet (volumes, projected files) and containerd (rootfs, shm).
    if [[ -n $dir ]]; then
        awk -v d="$dir/" -v r="$run/" 'index($2, d) == 1 || index($2, r) == 1 {print $2}' /proc/mounts | sort -r |
            while read -r m; do umount -l "$m" 2>/dev/null || true; done
    fi
    # Network namespaces of pods (made by containerd under /run/netns as cni-<uuid>) are gone
    # with their sandboxes' tasks; the CNI reservations go with them.
    if [[ -f $dir/netns.list ]]; then
        # A stopped sandbox's namespace is already unmounted: umount fails, and that is fine.
        while read -r ns; do umount "$ns" 2>/dev/null || true; rm -f "$ns"; done <"$dir/netns.list"
        rm -f "$dir/netns.list"
    fi
    rm -rf "$dir/cni/ipam" "$run"
}

realnode_stop() {
    local dir rc=0
    dir=$(_rn_dir)
    [[ -d $dir ]] || return 0
    # Another state's real node owns the bridge and the host's rules: leave them alone.
    if [[ -f $REALNODE_OWNER && $(<"$REALNODE_OWNER") != "$dir" ]]; then
        log "real-node: not started from $STOREFLEET_STATE (it runs from $(dirname "$(<"$REALNODE_OWNER")"))"
        return 0
    fi
    # The machine's network and sysctls are put back even when stopping a process failed.
    (_rn_stop_processes) || rc=1
    _rn_network_down || rc=1
    rm -f "$STOREFLEET_STATE/env.d/realnode"
    ((rc == 0)) || die "real-node: stopped, but not all of it; see above (run infra/local/down real-node again)"
    rm -f "$REALNODE_OWNER"
    log "real-node: stopped"
}

realnode_status() {
    local name rc=0
    [[ -d $(_rn_dir) ]] || { echo "real-node: not started"; return 0; }
    for name in "${REALNODE_COMPONENTS[@]}"; do
        if _rn_pid_alive "$name"; then
            echo "$name: running (pid $(<"$(_rn_dir)/$name.pid"))"
        else
            echo "$name: stopped"
            rc=1
        fi
    done
    return $rc
}
