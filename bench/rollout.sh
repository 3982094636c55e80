#!/usr/bin/env bash
# bench/rollout.sh [N]: fleet rollout throughput on KWOK next to the install throughput of the
# same run and the control plane's ceiling for both (issue 24; docs/performance.md). Runs alone,
# on a private local stack (.state/bench-rollout), and writes bench/results/<date>-rollout.json
# (JSON lines) and a Markdown table beside it.
#
#   1. installs: N WooCommerce stores POSTed at once through the platform (one provisioner,
#      BENCH_IN_FLIGHT in flight), waited for until Ready (bench/provision.py), after a
#      warm-up of BENCH_WARMUP stores;
#   2. the rollout: every store of the platform to the engine's other released chart version
#      (charts/releases), canary 5 then waves of 25/50/100 %, BENCH_IN_FLIGHT upgrading at once
#      (bench/rollout.py): POST to done, stores upgraded per second, each wave's end, and the
#      new Helm revisions per store (one each);
#   3. the ceiling (bench/ceiling --upgrade-to) with the platform stopped: N fresh stores of the
#      same chart version applied straight to the API server, then upgraded to the target by
#      re-applying the other version's objects, at the same in-flight, each waited for until it
#      has rolled out.
# N defaults to 1000 (about 70 minutes on the 2-core machine: installs 8, the rollout 34, the
# ceiling the rest); BENCH_IN_FLIGHT=64, BENCH_WARMUP=10. BENCH_SECTIONS picks the sections
# (default "platform ceiling"): "platform" is 1 and 2 (the rollout needs the installs), "ceiling"
# is 3, each on a cluster of its own size, so a slow one can be repeated alone; the summary
# shows "-" for a section not run.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
n=${1:-1000}
in_flight=${BENCH_IN_FLIGHT:-64}
warmup=${BENCH_WARMUP:-10}
for v in "$n" "$in_flight" "$warmup"; do
    [[ $v =~ ^[1-9][0-9]*$ ]] || { echo "bench/rollout.sh: '$v' is not a whole number above 0" >&2; exit 2; }
done
read -r -a section_list <<<"${BENCH_SECTIONS-platform ceiling}"
sections=" ${section_list[*]} "
for s in "${section_list[@]}"; do
    [[ $s == platform || $s == ceiling ]] || {
        echo "bench/rollout.sh: BENCH_SECTIONS has '$s'; it takes platform and ceiling" >&2
        exit 2
    }
done
((${#section_list[@]} > 0)) || { echo "bench/rollout.sh: BENCH_SECTIONS is empty; it takes platform and ceiling" >&2; exit 2; }
run_platform=false run_ceiling=false
[[ $sections == *" platform "* ]] && run_platform=true
[[ $sections == *" ceiling "* ]] && run_ceiling=true
export STOREFLEET_STATE="$root/.state/bench-rollout"
export STOREFLEET_BUILD_DIR="${STOREFLEET_BUILD_DIR:-$root/build}"
build_dir=$STOREFLEET_BUILD_DIR
export STOREFLEET_CLIENT_RATE_PER_SECOND=0 STOREFLEET_TENANT_READ_RATE_PER_SECOND=0
source "$root/infra/local/lib/common.sh"
[[ -x $build_dir/bench/ceiling ]] || die "$build_dir/bench/ceiling is missing: build first (make build)"
catalogue="$build_dir/chart-catalogue"
[[ -f $catalogue/index.json ]] || die "$catalogue/index.json is missing: build first (make build)"
# The engine's default and its other released version (the rollout's target).
read -r from target < <(python3 -c 'import json,sys; e=json.load(open(sys.argv[1]))["engines"]["woocommerce"]
others=[v for v in e["versions"] if v != e["default"]]
print(e["default"], others[-1] if others else "")' "$catalogue/index.json")
[[ -n $target ]] || die "the catalogue has one WooCommerce version only: nothing to roll out to"

mkdir -p "$root/.state"
exec 9>"$root/.state/bench.lock"
flock -n 9 || die "another bench run is still active (or stopping)"
out="$root/bench/results/$(date -u +%Y%m%dT%H%M%SZ)-rollout.json"
mkdir -p "$root/bench/results"
cleanup() { "$root/infra/local/platform" down >/dev/null 2>&1 || true; "$root/infra/local/down" >/dev/null 2>&1 || true; }
trap cleanup EXIT
rm -rf "$STOREFLEET_STATE"
# Room for every store at once: the platform's (warm-up and N) and the ceiling's N, 50 a node.
placed=0
$run_platform && placed=$((placed + warmup + n))
$run_ceiling && placed=$((placed + n))
export STOREFLEET_K8S_NODES=$(((placed + 49) / 50 + 3))
"$root/infra/local/up" >/dev/null
record() { echo "$1" | tee -a "$out.tmp" >&2; }
: >"$out.tmp"
record "{\"section\":\"machine\",\"sections\":\"${section_list[*]}\",\"cores\":$(nproc),\"mem_gib\":$(awk '/^MemTotal:/{print int($2 / 1048576)}' /proc/meminfo),\"git\":\"$(git -C "$root" rev-parse --short HEAD)\",\"mode\":\"rollout\",\"k8s_nodes\":$STOREFLEET_K8S_NODES,\"stores\":$n,\"in_flight\":$in_flight,\"from\":\"$from\",\"target\":\"$target\"}"

if $run_platform; then
    STOREFLEET_MAX_IN_FLIGHT=$in_flight STOREFLEET_PROVISIONER_REPLICAS=1 STOREFLEET_BOOTSTRAP_QUOTA=1000000 \
        STOREFLEET_RATE_PER_SECOND=1000000 STOREFLEET_RATE_BURST=1000000 "$root/infra/local/platform" up >/dev/null
    set -a
    # shellcheck disable=SC1091
    source "$STOREFLEET_STATE/env"
    set +a
    python3 "$root/bench/provision.py" --stores "$warmup" --prefix warm --deadline 600 >/dev/null
    record "{\"section\":\"install\",\"result\":$(python3 "$root/bench/provision.py" --stores "$n" --prefix i --deadline $((600 + n * 3 / 2)))}"
    rollout=$(python3 "$root/bench/rollout.py" --target "$target" --in-flight "$in_flight" --deadline $((1200 + n * 3))) ||
        echo "the rollout did not end done: $rollout" >&2
    record "{\"section\":\"rollout\",\"result\":${rollout:-null}}"
    "$root/infra/local/platform" down >/dev/null
fi

if $run_ceiling; then
    set -a
    # shellcheck disable=SC1091
    source "$STOREFLEET_STATE/env"
    set +a
    ceiling=$("$build_dir/bench/ceiling" --stores "$n" --in-flight "$in_flight" --prefix c --tenant ceiling \
        --chart "$catalogue/woocommerce-store/$from" --upgrade-to "$catalogue/woocommerce-store/$target" \
        --helm "$STOREFLEET_CACHE/bin/helm" --deadline $((600 + n * 3 / 2))) ||
        echo "the ceiling run did not finish cleanly: $ceiling" >&2
    record "{\"section\":\"ceiling\",\"result\":${ceiling:-null}}"
fi

mv "$out.tmp" "$out"
python3 - "$out" <<'PY' | tee "${out%.json}.md"
import json, sys
rows = {}
for line in open(sys.argv[1]):
    line = json.loads(line)
    rows[line["section"]] = line
m = rows["machine"]
i, r, c = ({} if s not in rows else rows[s]["result"] for s in ("install", "rollout", "ceiling"))
print(f"# Rollout throughput, {m['stores']} stores on KWOK ({m['git']}, {m['cores']} cores, {m['k8s_nodes']} nodes)\n")
print(f"WooCommerce {m['from']} -> {m['target']}, {m['in_flight']} in flight; stores/s (seconds)\n")
print("| | storefleet | ceiling (bench/ceiling) |")
print("|---|---|---|")
ci = c or {}
cu = ci.get("upgrade", {})
def rate(phase, seconds_key):
    if not phase.get("stores_per_second"):
        return "-"
    return f"{phase['stores_per_second']:.2f} ({phase[seconds_key]:.1f} s)"
print(f"| installs | {rate(i or {}, 'event_span_seconds')} | {rate(ci, 'seconds')} |")
if not r:
    print(f"| upgrades | - | {rate(cu, 'seconds')} |")
    if ci.get("stores_per_second") and cu.get("stores_per_second"):
        print(f"\nupgrades / installs: {cu['stores_per_second'] / ci['stores_per_second']:.2f} (ceiling)")
else:
    print(f"| upgrades | {rate(r, 'seconds')}, {r['upgraded']} of {r['stores']}, {r['state']} | {rate(cu, 'seconds')} |")
    print(f"\nupgrades / installs: {r['stores_per_second'] / i['stores_per_second']:.2f} (storefleet)", end="")
    if ci.get("stores_per_second") and cu.get("stores_per_second"):
        print(f", {cu['stores_per_second'] / ci['stores_per_second']:.2f} (ceiling)", end="")
    print(f"; upgrades / the ceiling's: {r['stores_per_second'] / cu['stores_per_second']:.2f}" if cu.get("stores_per_second") else "")
    print(f"\nwaves: sizes {r['wave_sizes']}, ended at {r['wave_end_seconds']} s; most upgrading at once: {r['most_in_flight_seen']}; new Helm revisions per store (revisions: stores): {r['new_helm_revisions']}")
PY
