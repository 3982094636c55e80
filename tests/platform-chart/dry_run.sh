#!/usr/bin/env bash
# charts/storefleet accepted by the real kube-apiserver: the whole chart (defaults, local and
# prod values) as a server-side dry run in a namespace at Pod Security enforce=restricted, and
# every pod its Deployments and Jobs would create dry-run there too (a dry-run Deployment makes
# no pods, so this is where Pod Security `restricted` meets the real pods). Asserts no refusal
# and no Pod Security warning.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
need_cluster
ns=sfchart-dry-$RANDOM$RANDOM
release=sfdry$RANDOM
platform_namespace "$ns"
# The pods' ServiceAccounts must exist for a pod to be admitted (a dry run of the chart
# creates none); the objects themselves are dry-run with the rest below.
for sa in "$release-storefleet-provisioner" "$release-storefleet-workload"; do
    kubectl -n "$ns" create serviceaccount "$sa" --save-config >/dev/null
done
# Likewise the lease namespace the chart makes: its Role and RoleBinding are dry-run into it.
leases=$release-storefleet-leases
NAMESPACES+=("$leases")
kubectl create namespace "$leases" --save-config >/dev/null
for values in values.yaml values-local.yaml values-prod.yaml; do
    base="$WORK/${values%.yaml}"
    helm template "$release" "$CHART" -n "$ns" -f "$CHART/$values" --set "ingress.host=$release.localtest.me" >"$base.all.yaml" ||
        fail "helm template ($values)"
    # The objects of the lease namespace apart (kubectl -n refuses an object of another namespace).
    python3 - "$base.all.yaml" "$base.yaml" "$base.leases.yaml" "$leases" <<'PY' || fail "splitting the render ($values)"
import sys, yaml
src, rest, lease_file, lease_ns = sys.argv[1:]
docs = [d for d in yaml.safe_load_all(open(src)) if d]
lease = [d for d in docs if d.get("metadata", {}).get("namespace") == lease_ns]
if not lease:
    sys.exit(f"nothing rendered into the lease namespace {lease_ns}")
yaml.safe_dump_all([d for d in docs if d not in lease], open(rest, "w"))
yaml.safe_dump_all(lease, open(lease_file, "w"))
PY
    kubectl create --dry-run=client -o json -f "$base.yaml" >"$base.json"
    python3 "$STORE_CHART_TESTS/manifests.py" workload-pods <"$base.json" >"$base.pods.json"
    # The hook Jobs are in the rendered output too (helm template renders hooks).
    if ! kubectl apply --dry-run=server -n "$ns" -f "$base.yaml" >"$base.out" 2>"$base.err" ||
        ! kubectl apply --dry-run=server -n "$leases" -f "$base.leases.yaml" >>"$base.out" 2>>"$base.err"; then
        cat "$base.err" >&2
        fail "the API server refused the chart ($values)"
    fi
    if ! kubectl apply --dry-run=server -n "$ns" -f "$base.pods.json" >"$base.pods.out" 2>>"$base.err"; then
        cat "$base.err" >&2
        fail "the API server refused the chart's pods ($values)"
    fi
    if grep -qi 'warning' "$base.err"; then
        cat "$base.err" >&2
        fail "warnings from the API server ($values)"
    fi
    objects=$(grep -c . "$base.out")
    pods=$(grep -c '^pod/' "$base.pods.out" || true)
    ((pods >= 5)) || fail "only $pods pods dry-run ($values)"
    # The hook Jobs' pods meet Pod Security restricted too (topics, schema migrations).
    for job in topics migrations; do
        grep -q "^pod/$release-storefleet-$job-dry-run " "$base.pods.out" || fail "no $job Job pod dry-run ($values)"
    done
    ok "$values: $objects objects and $pods pods accepted by the API server (server dry run, Pod Security restricted, no warning)"
done
