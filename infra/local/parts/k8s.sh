# shellcheck shell=bash
# Kubernetes part of the local real stack: etcd, kube-apiserver (RBAC and the admission
# plugins of a real cluster), kube-controller-manager, kube-scheduler and KWOK with three
# simulated nodes. Sourced after lib/common.sh; defines k8s_start, k8s_stop, k8s_status,
# and k8s_start_one / k8s_stop_one for one component (`infra/local/down k8s-apiserver`).
# Every component keeps the ports chosen at the first start, and etcd its data, across a
# stop and a start.
#
# Binaries come from build-tools.sh ($STOREFLEET_CACHE/bin). State under
# $STOREFLEET_STATE/k8s: pki/ (a private CA and one client certificate per component),
# etcd/ data, <component>.log, <component>.pid, ports. It writes KUBECONFIG (admin) to
# $STOREFLEET_STATE/env.d/k8s and the kubeconfig to $STOREFLEET_STATE/kubeconfig, and the
# provisioner's ServiceAccount with charts/storefleet's RBAC and its token kubeconfig
# (STOREFLEET_PROVISIONER_KUBECONFIG, $STOREFLEET_STATE/provisioner.kubeconfig; see
# provisioner-rbac.sh).

K8S_COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)
# The provisioner's ServiceAccount, RBAC and kubeconfig (_k8s_provisioner_identity).
# shellcheck source=provisioner-rbac.sh
source "$(dirname "${BASH_SOURCE[0]}")/provisioner-rbac.sh"
K8S_START_DEADLINE=${STOREFLEET_K8S_START_DEADLINE:-120}
K8S_NODES=${STOREFLEET_K8S_NODES:-3}

_k8s_dir() { realpath -m "$STOREFLEET_STATE/k8s"; }

_k8s_pid_alive() { proc_is_running "$(_k8s_dir)" "$1"; }  # _k8s_pid_alive NAME: ours runs

_k8s_pki() {
    local pki
    pki="$(_k8s_dir)/pki"
    [[ -f $pki/ca.crt ]] && return 0
    mkdir -p "$pki"
    chmod 700 "$pki"
    (
        cd "$pki" || exit
        openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 \
            -subj "/CN=storefleet-local-ca" 2>/dev/null
        openssl genrsa -out sa.key 2048 2>/dev/null
        openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
        cat >apiserver.ext <<EXT
subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
extendedKeyUsage=serverAuth
EXT
        openssl req -newkey rsa:2048 -nodes -keyout apiserver.key -out apiserver.csr \
            -subj "/CN=kube-apiserver" 2>/dev/null
        openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
            -out apiserver.crt -days 3650 -extfile apiserver.ext 2>/dev/null
        # One client certificate per component, as a real cluster has.
        client_cert() {  # client_cert NAME SUBJECT
            openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
            printf 'extendedKeyUsage=clientAuth\n' >client.ext
            openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial \
                -out "$1.crt" -days 3650 -extfile client.ext 2>/dev/null
        }
        client_cert admin "/O=system:masters/CN=storefleet-admin"
        client_cert controller-manager "/CN=system:kube-controller-manager"
        client_cert scheduler "/CN=system:kube-scheduler"
        client_cert kwok "/O=system:masters/CN=kwok-controller"
        rm -f ./*.csr ./*.ext
        chmod 600 ./*.key
    )
}

# _k8s_kubeconfig NAME API_PORT OUT [PKI_DIR]: a kubeconfig (mode 600) for the client
# certificate PKI_DIR/NAME.{crt,key} (PKI_DIR: this part's pki), trusting this part's CA.
_k8s_kubeconfig() {
    local pki=${4:-$(_k8s_dir)/pki}
    # A subshell, so the umask stays here: a caller's later files (containerd's snapshots on
    # the real node) must not become private by accident.
    (umask 077 && cat >"$3" <<KC
apiVersion: v1
kind: Config
current-context: storefleet-local
clusters:
- name: storefleet-local
  cluster:
    server: https://127.0.0.1:$2
    certificate-authority-data: $(base64 -w0 "$(_k8s_dir)/pki/ca.crt")
contexts:
- name: storefleet-local
  context: {cluster: storefleet-local, user: $1}
users:
- name: $1
  user:
    client-certificate-data: $(base64 -w0 "$pki/$1.crt")
    client-key-data: $(base64 -w0 "$pki/$1.key")
KC
    )
}

_k8s_spawn() {  # _k8s_spawn NAME ARGS...: starts a component in the background, own session
    local name=$1
    shift
    proc_spawn "$(_k8s_dir)" "$name" "$STOREFLEET_CACHE/bin/$name" "$@"
}

# Ports are chosen once (first start) and kept for good: kubeconfigs, the running
# provisioners and the components themselves keep dialling them across a stop and start.
_k8s_ports() { kept_ports "$(_k8s_dir)/ports" etcd etcd_peer api cm sched kwok; }

_k8s_api_ready() {
    curl -sf --cacert "$(_k8s_dir)/pki/ca.crt" --cert "$(_k8s_dir)/pki/admin.crt" \
        --key "$(_k8s_dir)/pki/admin.key" "https://127.0.0.1:$api/readyz" >/dev/null
}

# The components by the names `infra/local/up|down k8s-<short>` take.
K8S_SHORT_NAMES=(etcd apiserver controller-manager scheduler kwok)
_k8s_component() {  # _k8s_component SHORT: prints the component's binary name
    case $1 in
        etcd) echo etcd ;;
        apiserver) echo kube-apiserver ;;
        controller-manager) echo kube-controller-manager ;;
        scheduler) echo kube-scheduler ;;
        kwok) echo kwok ;;
        *) die "k8s: unknown component '$1' (known: ${K8S_SHORT_NAMES[*]})" ;;
    esac
}

# _k8s_release_kwok_leases: deletes the node leases a stopped KWOK held. Each KWOK holds its
# nodes' leases under an identity of its own (hostname + a new UUID), so a restarted one waits
# up to the lease's 40 s for its predecessor's to expire before it manages the nodes; a pod
# bound to a node in that window could stay Pending for good (seen after a stack restart: a
# store's database pod Pending for 4 minutes on a node whose lease the new KWOK did hold).
# Called only when no KWOK of this stack runs, so the leases belong to none.
_k8s_release_kwok_leases() {
    local kc=(kubectl --kubeconfig "$STOREFLEET_STATE/kubeconfig" --request-timeout=10s) nodes
    nodes=$("${kc[@]}" get nodes -l type=kwok -o jsonpath='{.items[*].metadata.name}' 2>/dev/null) || return 0
    [[ -n $nodes ]] || return 0
    # shellcheck disable=SC2086 # one argument per node name
    "${kc[@]}" -n kube-node-lease delete lease $nodes --ignore-not-found --wait=false >/dev/null 2>&1 || true
}

# _k8s_start_component NAME: starts one component if it is not running, on its kept
# port(s), and waits until it serves (etcd, kube-apiserver). Needs the caller's locals
# from _k8s_ports and $dir, $pki.
_k8s_start_component() {
    local name=$1
    if _k8s_pid_alive "$name"; then return 0; fi
    case $name in
        etcd)
            require_port k8s "$etcd" "etcd client"
            require_port k8s "$etcd_peer" "etcd peer"
            _k8s_spawn etcd --name storefleet --data-dir "$dir/etcd" \
                --listen-client-urls "http://127.0.0.1:$etcd" --advertise-client-urls "http://127.0.0.1:$etcd" \
                --listen-peer-urls "http://127.0.0.1:$etcd_peer" \
                --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer" \
                --initial-cluster "storefleet=http://127.0.0.1:$etcd_peer" \
                --unsafe-no-fsync --quota-backend-bytes 4294967296 --log-level warn
            wait_for "etcd" 30 curl -sf "http://127.0.0.1:$etcd/health" || die "k8s: etcd did not start; see $dir/etcd.log"
            ;;
        kube-apiserver)
            require_port k8s "$api" "kube-apiserver"
            _k8s_spawn kube-apiserver --etcd-servers "http://127.0.0.1:$etcd" \
                --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$api" \
                --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
                --client-ca-file "$pki/ca.crt" \
                --service-account-issuer https://kubernetes.default.svc.cluster.local \
                --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
                --service-cluster-ip-range 10.96.0.0/16 --endpoint-reconciler-type none \
                --authorization-mode Node,RBAC --allow-privileged=false \
                --enable-admission-plugins NamespaceLifecycle,LimitRanger,ServiceAccount,DefaultStorageClass,DefaultTolerationSeconds,NodeRestriction,PodSecurity,Priority,ResourceQuota,RuntimeClass,StorageObjectInUseProtection,PersistentVolumeClaimResize,TaintNodesByCondition,MutatingAdmissionWebhook,ValidatingAdmissionWebhook,ValidatingAdmissionPolicy \
                --max-requests-inflight 800 --max-mutating-requests-inflight 400 \
                --profiling=false --v 1
            wait_for "kube-apiserver" "$K8S_START_DEADLINE" _k8s_api_ready ||
                die "k8s: kube-apiserver did not become ready; see $dir/kube-apiserver.log"
            ;;
        kube-controller-manager)
            require_port k8s "$cm" "kube-controller-manager"
            _k8s_spawn kube-controller-manager --kubeconfig "$dir/controller-manager.kubeconfig" \
                --authentication-kubeconfig "$dir/controller-manager.kubeconfig" \
                --authorization-kubeconfig "$dir/controller-manager.kubeconfig" \
                --bind-address 127.0.0.1 --secure-port "$cm" --leader-elect=false \
                --service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" \
                --use-service-account-credentials=true --enable-hostpath-provisioner=true \
                --node-monitor-grace-period 5m --pvclaimbinder-sync-period 2s \
                --kube-api-qps 200 --kube-api-burst 400 --concurrent-namespace-syncs 20 \
                --concurrent-deployment-syncs 20 --concurrent-replicaset-syncs 20 \
                --concurrent-statefulset-syncs 20 --concurrent-job-syncs 20 \
                --resource-quota-sync-period 30s --v 1
            ;;
        kube-scheduler)
            require_port k8s "$sched" "kube-scheduler"
            _k8s_spawn kube-scheduler --kubeconfig "$dir/scheduler.kubeconfig" \
                --authentication-kubeconfig "$dir/scheduler.kubeconfig" \
                --authorization-kubeconfig "$dir/scheduler.kubeconfig" \
                --bind-address 127.0.0.1 --secure-port "$sched" --leader-elect=false --v 1
            ;;
        kwok)
            require_port k8s "$kwok" "kwok"
            _k8s_release_kwok_leases
            _k8s_spawn kwok --kubeconfig "$dir/kwok.kubeconfig" \
                --manage-all-nodes=false --manage-nodes-with-label-selector type=kwok \
                --cidr 10.244.0.0/16 --node-ip 10.0.0.1 --server-address "127.0.0.1:$kwok" \
                --node-lease-duration-seconds 40
            ;;
    esac
}

# _k8s_prepare: binaries, PKI, kept ports and kubeconfigs; sets the caller's locals
# (dir pki etcd etcd_peer api cm sched kwok).
_k8s_prepare() {
    dir=$(_k8s_dir)
    mkdir -p "$dir" "$STOREFLEET_STATE/env.d"
    for bin in "${K8S_COMPONENTS[@]}" kubectl helm; do
        [[ -x $STOREFLEET_CACHE/bin/$bin ]] || die "k8s: $bin is missing; run 'make deps' (infra/local/build-tools.sh)"
    done
    _k8s_pki
    _k8s_ports
    pki=$dir/pki
    _k8s_kubeconfig admin "$api" "$STOREFLEET_STATE/kubeconfig"
    _k8s_kubeconfig controller-manager "$api" "$dir/controller-manager.kubeconfig"
    _k8s_kubeconfig scheduler "$api" "$dir/scheduler.kubeconfig"
    _k8s_kubeconfig kwok "$api" "$dir/kwok.kubeconfig"
    {
        echo "KUBECONFIG=$STOREFLEET_STATE/kubeconfig"
        echo "STOREFLEET_CLUSTER_SIMULATED=true"
        # Kept across a restart of one component (k8s_start_one) once written: both, or a
        # platform started after the restart has a provisioner that never binds itself into
        # the store namespaces it creates (its first write there is refused).
        if [[ -s $(_provisioner_kubeconfig_path) ]]; then
            echo "STOREFLEET_PROVISIONER_KUBECONFIG=$(_provisioner_kubeconfig_path)"
            echo "STOREFLEET_PROVISIONER_SERVICE_ACCOUNT=$PROVISIONER_NAMESPACE:$PROVISIONER_SA"
        fi
    } >"$STOREFLEET_STATE/env.d/k8s"
}

# k8s_start_one SHORT: starts one component (see K8S_SHORT_NAMES) on its kept port,
# e.g. `infra/local/up k8s-apiserver` after `infra/local/down k8s-apiserver`.
k8s_start_one() {
    local dir pki etcd etcd_peer api cm sched kwok name start=$SECONDS
    name=$(_k8s_component "$1")
    _k8s_prepare
    _k8s_start_component "$name"
    log "k8s: $name running in $((SECONDS - start))s"
}

# k8s_stop_one SHORT: stops one component; the others keep running (and retry it).
k8s_stop_one() {
    local name
    name=$(_k8s_component "$1")
    _k8s_stop_component "$name"
    log "k8s: $name stopped"
}

k8s_start() {
    local dir pki etcd etcd_peer api cm sched kwok name start=$SECONDS
    _k8s_prepare
    for name in "${K8S_COMPONENTS[@]}"; do
        _k8s_start_component "$name"
    done

    local kc=(kubectl --kubeconfig "$STOREFLEET_STATE/kubeconfig")
    # Nodes KWOK pretends to run: realistic allocatable CPU and memory of a small VPS each.
    local i
    for ((i = 0; i < K8S_NODES; i++)); do
        cat <<NODE
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-$i
  labels: {type: kwok, kubernetes.io/hostname: kwok-node-$i, kubernetes.io/os: linux, kubernetes.io/arch: amd64, node-role.kubernetes.io/worker: ""}
  annotations: {node.alpha.kubernetes.io/ttl: "0", kwok.x-k8s.io/node: fake}
status:
  allocatable: {cpu: "32", memory: 128Gi, pods: "250", ephemeral-storage: 500Gi}
  capacity: {cpu: "32", memory: 128Gi, pods: "250", ephemeral-storage: 500Gi}
  nodeInfo: {architecture: amd64, operatingSystem: linux, kubeletVersion: fake, kubeProxyVersion: fake}
---
NODE
    done | "${kc[@]}" apply -f - >/dev/null
    # A default StorageClass served by the controller-manager's host-path provisioner, so
    # PVCs bind and stateful pods schedule as on a real cluster. WaitForFirstConsumer, as
    # kind's and k3s's classes: with Immediate a store's database pod seen before its claim
    # is bound is rejected ("pod has unbound immediate PersistentVolumeClaims") and retried
    # only on the claim's events, which kube-scheduler 1.34 may handle before its own volume
    # cache has them (kubernetes/kubernetes#93552); the retry on the last event then fails
    # too and the pod waits for the 5-minute unschedulable flush. With WaitForFirstConsumer
    # the scheduler picks the node first and polls the binding in PreBind: no such rejection.
    # The mode is immutable: a class from an older stack is replaced (claims keep their
    # volumes).
    local mode
    mode=$("${kc[@]}" get storageclass standard -o jsonpath='{.volumeBindingMode}' 2>/dev/null || true)
    if [[ -n $mode && $mode != WaitForFirstConsumer ]]; then
        "${kc[@]}" delete storageclass standard --wait=true >/dev/null
    fi
    "${kc[@]}" apply -f - >/dev/null <<'SC'
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: standard
  annotations: {storageclass.kubernetes.io/is-default-class: "true"}
provisioner: kubernetes.io/host-path
reclaimPolicy: Delete
volumeBindingMode: WaitForFirstConsumer
SC
    _k8s_provisioner_identity "$api"
    wait_for "nodes Ready" 60 bash -c "[[ \$(${kc[*]} get nodes --no-headers 2>/dev/null | grep -c ' Ready') -ge $K8S_NODES ]]" \
        || die "k8s: KWOK nodes did not become Ready; see $dir/kwok.log"
    log "k8s: ready in $((SECONDS - start))s (api https://127.0.0.1:$api, $K8S_NODES KWOK nodes)"
}

# _k8s_stop_component NAME: TERM, then KILL after a grace period: 30 s for etcd (its
# data), 5 s for the rest. kube-apiserver closes its listener at once on TERM but then
# waits up to a minute for clients' HTTP/2 connections (the watches of the other
# components) to go; nothing is lost by cutting that short.
_k8s_stop_component() {
    local name=$1 grace=5
    [[ $name == etcd ]] && grace=30
    proc_stop "$(_k8s_dir)" "$name" "$grace" || true
}

k8s_stop() {
    local i
    for ((i = ${#K8S_COMPONENTS[@]} - 1; i >= 0; i--)); do
        _k8s_stop_component "${K8S_COMPONENTS[i]}"
    done
    rm -f "$STOREFLEET_STATE/env.d/k8s"
}

k8s_status() {
    local name rc=0 ports=""
    [[ -f $(_k8s_dir)/ports ]] && ports=" ports: $(<"$(_k8s_dir)/ports")"
    for name in "${K8S_COMPONENTS[@]}"; do
        if _k8s_pid_alive "$name"; then
            echo "$name: running (pid $(<"$(_k8s_dir)/$name.pid"))"
        else
            echo "$name: stopped"
            rc=1
        fi
    done
    [[ -n $ports ]] && echo "k8s:$ports"
    return $rc
}
