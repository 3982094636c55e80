#!/usr/bin/env bash
# What the provisioner's objects are, not only where they go (issue 21, item 7): each write a
# compromised provisioner could use is sent with the provisioner's own token to the real
# kube-apiserver of the local stack, in a store namespace it created and bound itself, and must
# be denied by its admission fence (charts/storefleet/templates/rbac-admissionpolicy*.yaml) with
# the reason named; the objects the provisioner really writes are admitted beside them.
#   Ingress:   hosts only under the store domain (not the platform's host, another domain, a
#              wildcard, the bare domain, a look-alike suffix), in rules and TLS alike; no rule
#              without a host, no default backend; only allow-listed annotations (no snippet,
#              no rewrite, no legacy class), on create and on a later patch;
#   Service:   ClusterIP only (no NodePort, LoadBalancer, ExternalName), no externalIPs, on
#              create and on a later patch;
#   namespace: exactly store-<uuid>: not store-<anything>, not a UUID with a suffix or without
#              its dashes; an admin's store-* namespace is out of reach (no RoleBinding, no
#              label, no delete);
#   Lease:     only store-<uuid> and only in the lease namespace; none in storefleet-system.
# Writes are server-side dry runs unless the case needs a real object to patch. Every case
# here was admitted before the fence checked what objects are.
# Needs the stack env (tests/with-stack): KUBECONFIG (admin) and STOREFLEET_PROVISIONER_KUBECONFIG.
set -euo pipefail
export PATH="${STOREFLEET_CACHE:-$HOME/.cache/storefleet}/bin:$PATH"
fail() { echo "FAIL: $*" >&2; exit 1; }
: "${KUBECONFIG:?the stack env is not loaded (run through tests/with-stack)}"
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
[[ -n $SA_KC && -s $SA_KC ]] || fail "STOREFLEET_PROVISIONER_KUBECONFIG is not set or empty: the stack did not create the provisioner's identity"
who=$(as_provisioner auth whoami -o jsonpath='{.status.userInfo.username}')
[[ $who == "system:serviceaccount:$PROVISIONER_NS:$PROVISIONER_SA" ]] || fail "the provisioner kubeconfig authenticates as '$who'"
admin=(kubectl --request-timeout=20s)

# The domain and the platform host the fence was rendered with (values-local.yaml).
DOMAIN=stores.localtest.me
PLATFORM_HOST=storefleet.localtest.me
HOST=shop.demo.$DOMAIN   # <name>.<tenant>.<domain>, as intake makes a store's host
HELM_ANNOTATIONS='meta.helm.sh/release-name: store, meta.helm.sh/release-namespace: NS'

ns=$(store_namespace_name)
admins=store-admins-$RANDOM$RANDOM   # an admin's namespace that merely starts with store-
cleanup() { "${admin[@]}" delete namespace "$ns" "$admins" --ignore-not-found --wait=false >/dev/null 2>&1 || true; }
trap cleanup EXIT

# The provisioner's own store namespace, bound as it binds one (lib.sh).
out=$(as_provisioner apply --server-side --field-manager storefleet -f - < <(store_namespace "$ns") 2>&1) ||
    fail "the provisioner could not create its store namespace $ns: $out"
bind_as_provisioner "$ns"
apply=(apply --server-side --field-manager storefleet -f -)

# ingress [HOST [ANNOTATIONS [SPEC-EXTRA]]]: a store Ingress as the store charts render it, with
# HOST in its rule, ANNOTATIONS (a flow map body) and SPEC-EXTRA (more spec lines, 2-space indent).
ingress() {
    local host=${1-$HOST} annotations=${2-${HELM_ANNOTATIONS//NS/$ns}} extra=${3:-}
    cat <<YAML
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: store-web
  namespace: $ns
  annotations: {$annotations}
spec:
$extra
  rules:
    - host: "$host"
      http:
        paths:
          - path: /
            pathType: Prefix
            backend: {service: {name: store-web, port: {name: http}}}
YAML
}
# service TYPE [SPEC-EXTRA]: a store Service of that type.
service() {
    cat <<YAML
apiVersion: v1
kind: Service
metadata: {name: store-web, namespace: $ns}
spec:
  type: $1
  selector: {app.kubernetes.io/component: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
${2:-}
YAML
}

echo "--- Ingress hosts: only under $DOMAIN, never the platform's"
admitted "Ingress for $HOST with Helm's annotations" "${apply[@]}" < <(ingress)
admitted "Ingress for $HOST with TLS for it" "${apply[@]}" < <(ingress "$HOST" "" "  tls: [{hosts: [\"$HOST\"], secretName: store-tls}]")
admitted "Ingress of a suspended store (storefleet.io/suspended)" "${apply[@]}" \
    < <(ingress "$HOST" "${HELM_ANNOTATIONS//NS/$ns}, storefleet.io/suspended: 'true'")
hosts_only='may route only store hosts'
denied_because "Ingress for the platform's host $PLATFORM_HOST" "$hosts_only" "${apply[@]}" < <(ingress "$PLATFORM_HOST")
denied_because "Ingress for another domain (shop.example.com)" "$hosts_only" "${apply[@]}" < <(ingress shop.example.com)
denied_because "Ingress for a wildcard (*.$DOMAIN)" "$hosts_only" "${apply[@]}" < <(ingress "*.$DOMAIN")
denied_because "Ingress for the bare store domain" "$hosts_only" "${apply[@]}" < <(ingress "$DOMAIN")
denied_because "Ingress for a look-alike ($HOST.example.com)" "$hosts_only" "${apply[@]}" < <(ingress "$HOST.example.com")
denied_because "Ingress with a rule for every host (no host)" "routes \(every host\)" "${apply[@]}" \
    < <(ingress "$HOST" "" | sed 's/^    - host: .*$/    - http:/; s/^      http:$//')
denied_because "Ingress with a default backend" "default backend" "${apply[@]}" \
    < <(ingress "$HOST" "" "  defaultBackend: {service: {name: store-web, port: {name: http}}}")
denied_because "Ingress with TLS for the platform's host" "terminate TLS only for store hosts" "${apply[@]}" \
    < <(ingress "$HOST" "" "  tls: [{hosts: [\"$PLATFORM_HOST\"], secretName: store-tls}]")

echo "--- Ingress annotations: only rbac.fence.ingressAnnotations, never a snippet"
snippet='may not write snippet annotations'
denied_because "Ingress with nginx configuration-snippet" "$snippet" "${apply[@]}" \
    < <(ingress "$HOST" "nginx.ingress.kubernetes.io/configuration-snippet: 'return 200 pwned;'")
denied_because "Ingress with nginx server-snippet" "$snippet" "${apply[@]}" \
    < <(ingress "$HOST" "nginx.ingress.kubernetes.io/server-snippet: 'location /x { proxy_pass http://10.0.0.1; }'")
denied_because "Ingress with nginx auth-snippet" "$snippet" "${apply[@]}" \
    < <(ingress "$HOST" "nginx.ingress.kubernetes.io/auth-snippet: 'x'")
denied_because "Ingress with rewrite-target (not allow-listed)" "annotate an Ingress only with.*rewrite-target" "${apply[@]}" \
    < <(ingress "$HOST" "nginx.ingress.kubernetes.io/rewrite-target: /admin")
denied_because "Ingress with the legacy kubernetes.io/ingress.class" "annotate an Ingress only with.*ingress.class" "${apply[@]}" \
    < <(ingress "$HOST" "kubernetes.io/ingress.class: internal")
# An admitted Ingress made for real, then patched: the fence checks updates too.
out=$(as_provisioner "${apply[@]}" < <(ingress) 2>&1) || fail "the provisioner could not create its Ingress: $out"
denied_because "patch of an admitted Ingress to add a configuration-snippet" "$snippet" \
    -n "$ns" annotate ingress store-web "nginx.ingress.kubernetes.io/configuration-snippet=return 200;"
denied_because "patch of an admitted Ingress to the platform's host" "$hosts_only" \
    -n "$ns" patch ingress store-web --type=json -p "[{\"op\":\"replace\",\"path\":\"/spec/rules/0/host\",\"value\":\"$PLATFORM_HOST\"}]"

echo "--- Services: ClusterIP without externalIPs only"
admitted "ClusterIP Service" "${apply[@]}" < <(service ClusterIP)
admitted "headless Service (clusterIP: None)" "${apply[@]}" < <(service ClusterIP "  clusterIP: None")
only_cluster_ip='may write only ClusterIP Services'
denied_because "NodePort Service" "$only_cluster_ip, not NodePort" "${apply[@]}" < <(service NodePort)
denied_because "LoadBalancer Service" "$only_cluster_ip, not LoadBalancer" "${apply[@]}" < <(service LoadBalancer)
denied_because "ExternalName Service (to kubernetes.default)" "$only_cluster_ip, not ExternalName" "${apply[@]}" \
    < <(service ExternalName "  externalName: kubernetes.default.svc.cluster.local" | sed '/selector:/d; /ports:/d')
denied_because "ClusterIP Service with externalIPs" "may not give a Service externalIPs.*198.51.100.7" "${apply[@]}" \
    < <(service ClusterIP "  externalIPs: [198.51.100.7]")
out=$(as_provisioner "${apply[@]}" < <(service ClusterIP) 2>&1) || fail "the provisioner could not create its Service: $out"
denied_because "patch of an admitted Service to NodePort" "$only_cluster_ip, not NodePort" \
    -n "$ns" patch service store-web -p '{"spec":{"type":"NodePort"}}'

echo "--- namespaces: exactly store-<uuid>"
uuid=$(cat /proc/sys/kernel/random/uuid)
ns_only='may not create namespace'
denied_because "namespace store-evil (the prefix only)" "$ns_only" "${apply[@]}" < <(store_namespace store-evil)
denied_because "namespace store-<uuid>-x (a suffix)" "$ns_only" "${apply[@]}" < <(store_namespace "store-$uuid-x")
denied_because "namespace store-<uuid without dashes>" "$ns_only" "${apply[@]}" < <(store_namespace "store-${uuid//-/}")
denied_because "namespace store-<uuid>0 (one hex digit more)" "$ns_only" "${apply[@]}" < <(store_namespace "store-${uuid}0")
# Labelled as a store's (Pod Security restricted), so only its name can be what the fence refuses.
"${admin[@]}" apply -f - >/dev/null < <(store_namespace "$admins") || fail "admin could not create $admins"
denied_because "RoleBinding in the admin's $admins" "only in namespaces named store-<uuid>" "${apply[@]}" < <(store_rolebinding "$admins")
denied_because "label the admin's $admins" "may not update namespace" label namespace "$admins" storefleet.io/x=y
denied_because "delete the admin's $admins" "may not delete namespace" delete namespace "$admins"

echo "--- Leases: store-<uuid> in $LEASE_NS only"
lease() {  # lease NAMESPACE NAME
    printf 'apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata: {name: %s, namespace: %s}\nspec: {holderIdentity: fence-test, leaseDurationSeconds: 15}\n' "$2" "$1"
}
admitted "Lease store-<uuid> in $LEASE_NS" create -f - < <(lease "$LEASE_NS" "store-$uuid")
denied_because "Lease not-a-store in $LEASE_NS" "only its store leases" create -f - < <(lease "$LEASE_NS" not-a-store)
denied_because "Lease kube-scheduler in $LEASE_NS" "only its store leases" create -f - < <(lease "$LEASE_NS" kube-scheduler)
refused "Lease store-<uuid> in $PROVISIONER_NS (the release namespace)" "cannot create resource" \
    create -f - < <(lease "$PROVISIONER_NS" "store-$uuid")

as_provisioner delete namespace "$ns" --wait=false >/dev/null || fail "the provisioner could not delete its store namespace $ns"
((FENCE_FAILURES == 0)) || fail "$FENCE_FAILURES check(s) did not hold"
echo "ok: the provisioner's Ingresses, Services, namespaces and Leases are what a store's are, or the fence refuses them"
