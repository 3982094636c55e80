#!/usr/bin/env bash
# charts/storefleet installed into the KWOK cluster of the local stack (pods are scheduled and
# turn Ready there without pulling images), in a namespace at Pod Security enforce=restricted:
#   install   the topics and schema migrations hook Jobs complete (the migrations Job is kept
#             after success: it is there with succeeded=1); every Deployment has all its
#             replicas Ready;
#             the PDBs, the Ingress and the provisioner's RBAC exist;
#   upgrade   a changed value (intake.replicas 2 -> 3, provisioner.maxInFlight) reaches the
#             cluster: revision 2 deployed, 3 intake pods Ready, the new env on the provisioner;
#             the migrations Job ran again (a new Job, succeeded);
#   rollback  to revision 1: revision 3 deployed, intake back to 2 Ready, the old env back;
#   uninstall the cluster-scoped RBAC objects are gone.
# Each wait polls the API with a deadline.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
need_cluster
ns=sfchart-inst-$RANDOM$RANDOM
release=sfi$RANDOM
fullname=$release-storefleet
platform_namespace "$ns"
test_values "$WORK/values.yaml" "$release.localtest.me"
RELEASES+=("$release@$ns")

# wait_ready DEADLINE_S: every Deployment of the release has readyReplicas == spec.replicas
# == updatedReplicas and no old pods left; prints the state it last saw on failure.
deployments_ready() {
    kubectl -n "$ns" get deployments -l "app.kubernetes.io/instance=$release" -o json |
        python3 -c '
import json, sys
items = json.load(sys.stdin)["items"]
want = {"intake", "query", "projector", "provisioner", "dashboard"}
seen, bad = set(), []
for d in items:
    c = d["metadata"]["labels"]["app.kubernetes.io/component"]; seen.add(c)
    s, spec = d.get("status", {}), d["spec"]
    r = spec["replicas"]
    if not (s.get("observedGeneration") == d["metadata"]["generation"] and s.get("readyReplicas", 0) == r
            and s.get("updatedReplicas", 0) == r and s.get("replicas", 0) == r):
        ready, updated, pods = s.get("readyReplicas", 0), s.get("updatedReplicas", 0), s.get("replicas", 0)
        bad.append(f"{c}: {ready}/{r} ready, {updated} updated, {pods} pods")
if seen != want: bad.append(f"deployments {sorted(seen)}")
print("; ".join(bad) or "all ready")
sys.exit(1 if bad else 0)'
}
wait_ready() {
    local deadline=$((SECONDS + $1)) state
    until state=$(deployments_ready 2>&1); do
        ((SECONDS < deadline)) || fail "not every Deployment Ready after $1s: $state"
        sleep 1
    done
    echo "$state"
}
replicas_of() { kubectl -n "$ns" get deployment "$fullname-$1" -o jsonpath='{.status.readyReplicas}'; }
env_of() {  # env_of COMPONENT NAME: the value of one env var in the Deployment's pod template
    kubectl -n "$ns" get deployment "$fullname-$1" \
        -o jsonpath="{.spec.template.spec.containers[0].env[?(@.name==\"$2\")].value}"
}
# job_state NAME: "<uid> <succeeded>" of a Job of the release, or nothing when it is absent.
job_state() {
    kubectl -n "$ns" get job "$fullname-$1" -o jsonpath='{.metadata.uid} {.status.succeeded}' 2>/dev/null || true
}
revision_status() { helm status "$release" -n "$ns" -o json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["version"], d["info"]["status"])'; }

start=$SECONDS
helm install "$release" "$CHART" -n "$ns" -f "$WORK/values.yaml" --timeout 180s >"$WORK/install.out" 2>&1 ||
    { cat "$WORK/install.out" >&2; fail "helm install"; }
[[ $(revision_status) == "1 deployed" ]] || fail "after install: $(revision_status)"
# The hook ran to completion before the workloads (pre-install) and was deleted on success.
# (Helm waits for a hook Job to complete and fails the install if it fails.)
grep -q "^NAME: $release" "$WORK/install.out" || fail "helm install printed no release"
if grep -i 'warning' "$WORK/install.out" >&2; then fail "warnings during install (Pod Security restricted?)"; fi
state=$(wait_ready 180)
ok "install: revision 1 deployed, $state in $((SECONDS - start))s (topics hook Job completed)"
read -r migrations_uid migrations_succeeded <<<"$(job_state migrations)"
[[ -n ${migrations_uid:-} && ${migrations_succeeded:-} == 1 ]] ||
    fail "the migrations hook Job is not there completed: '$(job_state migrations)'"
[[ $(kubectl -n "$ns" get job "$fullname-migrations" -o jsonpath='{.spec.template.spec.containers[*].args}') == *--migrate-only* ]] ||
    fail "the migrations Job does not run --migrate-only"
ok "install: the migrations hook Job completed (succeeded=1) and is kept"
[[ $(replicas_of intake) == 2 ]] || fail "intake has $(replicas_of intake) Ready replicas, want 2"
pdbs=$(kubectl -n "$ns" get pdb -l "app.kubernetes.io/instance=$release" -o name | wc -l)
((pdbs == 5)) || fail "$pdbs PodDisruptionBudgets, want 5"
kubectl -n "$ns" get ingress "$fullname" >/dev/null || fail "no Ingress"
for o in "clusterrole/$fullname-provisioner" "clusterrole/$fullname-provisioner-store" \
    "clusterrolebinding/$fullname-provisioner" \
    "validatingadmissionpolicy/$fullname-provisioner-fence" "validatingadmissionpolicybinding/$fullname-provisioner-fence" \
    "validatingadmissionpolicy/$fullname-provisioner-fence-objects" \
    "validatingadmissionpolicybinding/$fullname-provisioner-fence-objects"; do
    kubectl get "$o" >/dev/null || fail "missing $o"
done
# The in-store role is bound per store namespace by the provisioner, never cluster-wide.
if kubectl get "clusterrolebinding/$fullname-provisioner-store" >/dev/null 2>&1; then
    fail "clusterrolebinding/$fullname-provisioner-store exists: the in-store role must not be bound cluster-wide"
fi
[[ $(env_of provisioner STOREFLEET_PROVISIONER_SERVICE_ACCOUNT) == "$ns:$fullname-provisioner" ]] ||
    fail "the provisioner's STOREFLEET_PROVISIONER_SERVICE_ACCOUNT is '$(env_of provisioner STOREFLEET_PROVISIONER_SERVICE_ACCOUNT)'"
# The Leases in a namespace of their own (the Role covers every Lease there), at Pod Security
# restricted, and the provisioner told so.
leases=$fullname-leases
[[ $(kubectl get namespace "$leases" -o jsonpath='{.metadata.labels.pod-security\.kubernetes\.io/enforce}') == restricted ]] ||
    fail "the lease namespace $leases is missing or not at Pod Security restricted"
kubectl -n "$leases" get role "$fullname-provisioner-leases" >/dev/null || fail "missing the leases Role in $leases"
if kubectl -n "$ns" get role "$fullname-provisioner-leases" >/dev/null 2>&1; then
    fail "the leases Role is in the release namespace $ns: it would cover every Lease there"
fi
[[ $(env_of provisioner STOREFLEET_LEASE_NAMESPACE) == "$leases" ]] ||
    fail "the provisioner's STOREFLEET_LEASE_NAMESPACE is '$(env_of provisioner STOREFLEET_LEASE_NAMESPACE)', want $leases"
# The pods really run as the chart says (admitted under Pod Security restricted).
sa=$(kubectl -n "$ns" get pods -l "app.kubernetes.io/instance=$release,app.kubernetes.io/component=provisioner" \
    -o jsonpath='{.items[0].spec.serviceAccountName}')
[[ $sa == "$fullname-provisioner" ]] || fail "the provisioner pod runs as '$sa'"
ok "install: 5 PDBs, the Ingress, the provisioner RBAC, both fences and the lease namespace $leases; provisioner pods run as $sa"

start=$SECONDS
helm upgrade "$release" "$CHART" -n "$ns" -f "$WORK/values.yaml" --set intake.replicas=3 \
    --set provisioner.maxInFlight=7 --timeout 180s >"$WORK/upgrade.out" 2>&1 ||
    { cat "$WORK/upgrade.out" >&2; fail "helm upgrade"; }
[[ $(revision_status) == "2 deployed" ]] || fail "after upgrade: $(revision_status)"
state=$(wait_ready 180)
[[ $(replicas_of intake) == 3 ]] || fail "after upgrade intake has $(replicas_of intake) Ready replicas, want 3"
[[ $(env_of provisioner STOREFLEET_MAX_IN_FLIGHT) == 7 ]] || fail "after upgrade STOREFLEET_MAX_IN_FLIGHT is '$(env_of provisioner STOREFLEET_MAX_IN_FLIGHT)'"
ok "upgrade: revision 2 deployed, intake 3/3 Ready, provisioner STOREFLEET_MAX_IN_FLIGHT=7, $state in $((SECONDS - start))s"
read -r upgraded_uid upgraded_succeeded <<<"$(job_state migrations)"
[[ -n ${upgraded_uid:-} && $upgraded_uid != "$migrations_uid" && ${upgraded_succeeded:-} == 1 ]] ||
    fail "the upgrade did not run a new migrations Job to completion: '$(job_state migrations)' (install's was $migrations_uid)"
ok "upgrade: a new migrations hook Job (before-hook-creation replaced the old one) completed"

start=$SECONDS
helm rollback "$release" 1 -n "$ns" --timeout 180s >"$WORK/rollback.out" 2>&1 ||
    { cat "$WORK/rollback.out" >&2; fail "helm rollback"; }
[[ $(revision_status) == "3 deployed" ]] || fail "after rollback: $(revision_status)"
state=$(wait_ready 180)
[[ $(replicas_of intake) == 2 ]] || fail "after rollback intake has $(replicas_of intake) Ready replicas, want 2"
[[ $(env_of provisioner STOREFLEET_MAX_IN_FLIGHT) == 32 ]] || fail "after rollback STOREFLEET_MAX_IN_FLIGHT is '$(env_of provisioner STOREFLEET_MAX_IN_FLIGHT)'"
ok "rollback: revision 3 deployed, intake 2/2 Ready, STOREFLEET_MAX_IN_FLIGHT=32 again, $state in $((SECONDS - start))s"

helm uninstall "$release" -n "$ns" --wait --timeout 120s >/dev/null || fail "helm uninstall"
RELEASES=()
for o in "clusterrole/$fullname-provisioner" "clusterrolebinding/$fullname-provisioner" \
    "validatingadmissionpolicy/$fullname-provisioner-fence" "validatingadmissionpolicy/$fullname-provisioner-fence-objects" \
    "namespace/$leases"; do
    if kubectl get "$o" >/dev/null 2>&1; then fail "$o left behind by uninstall"; fi
done
ok "uninstall: the cluster-scoped RBAC, the fences and the lease namespace are gone"
