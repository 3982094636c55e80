#!/usr/bin/env bash
# bench/run.sh quick|full: measures storefleet on a private local stack (.state/bench) and
# writes bench/results/<date>-<mode>.json (JSON lines) plus a Markdown table beside it
# (bench/summarize.py). See docs/performance.md.
#
#   quick  100 stores at in-flight 32 next to the ceiling, the baseline, idle memory, a steady
#          1 store/s for 60 s, projection lag and the API (about 5 minutes).
#   full   the scale curve (issue 12):
#          - fill: ONE cluster filled in stages to 100, 1,000 and 5,000 stores (+100, +900,
#            +4,000) at in-flight 64, one provisioner; per stage stores/s, POST-to-Ready
#            p50/p99, kube-apiserver and etcd RSS at the stage's end, CPU-seconds and API
#            requests per store during the stage (bench/costs.py);
#          - the ceiling (bench/ceiling) beside the 100 and 1,000 stages: the stage's number of
#            stores at the same in-flight with the platform stopped, then its namespaces
#            deleted, so the cluster holds only the platform's stores;
#          - replicas: 1, 2 and 4 provisioner replicas, 300 stores each, 64 in flight in total
#            (64/r per replica), a fresh platform each, on the filled cluster;
#          - the baseline (50 stores one at a time), idle memory, a steady 2 stores/s for
#            300 s, projection lag and the API (30 s per load).
#          Estimated length on this 2-core machine (quiet), from the measured rates (1,000
#          stores: 515 s storefleet, 315 s ceiling on a fresh stack; ~1.4 stores/s once the
#          cluster passes 2,800 stores): stack 2 min; fill to 1,000 9 min; ceilings 6 min plus
#          5-15 min deleting their namespaces (the least certain part: a trial deleted 20 in
#          26 s); the +4,000 stage 45-55 min; replicas 3 x 300 13 min (a trial's platform
#          up/down costs ~8 s a run); baseline, steady and API 12 min: about 100 minutes
#          (90-115) in all. Without the 5,000 stage (BENCH_FILL="100 1000", or the memory guard
#          on a 24 GiB machine) it took 40 minutes (20261205T094258Z-full).
#          Memory: ~3 MiB of control-plane RSS per store puts the 5,000 stage and the stores
#          after it at ~17 GiB beyond the 1,000-store cluster; see the guard below.
#
# Sizes for trials (environment, full mode; defaults in brackets):
#   BENCH_FILL="100 1000 5000"  cumulative store totals of the fill stages
#   BENCH_CEILING_AT="100 1000" fill totals after which the ceiling runs (every stage but the
#                               last, by default)
#   BENCH_FILL_IN_FLIGHT=64     in-flight limit of the fill and of its ceilings
#   BENCH_REPLICAS="1 2 4"      provisioner replica counts of the replicas curve
#   BENCH_REPLICA_STORES=300    stores per replicas run
#   BENCH_REPLICA_IN_FLIGHT=64  in flight in total, divided among the replicas
#   BENCH_STEADY="2 300"        steady arrivals: stores/s and seconds
#   BENCH_BASELINE=50           stores of the one-at-a-time baseline
#   BENCH_WARMUP=10             stores provisioned (not measured) before the first run, both modes
#   BENCH_API_SECONDS=30        seconds of each wrk/pgbench load and of the projection lag
#   BENCH_STREAMS=1000          idle live-status streams opened against the query service
#   BENCH_K8S_NODES             KWOK nodes (by default sized for every store the run leaves)
#   BENCH_MIB_PER_STORE=3       memory guard: before each fill stage, the control plane's RSS
#                               growth per store (this figure until a stage of 500 or more
#                               stores has measured it) times the stores still to come (the
#                               stage, its ceiling, the replicas, steady and baseline stores)
#                               plus 1 GiB must fit in MemAvailable, or the fill stops there
#                               (recorded as fill_skipped) rather than have the kernel kill a
#                               server of a shared machine. BENCH_MEM_GUARD=0 turns it off.
# STOREFLEET_BUILD_DIR (default build/) is where the services and bench tools are taken from;
# `make bench` passes its BUILD_DIR.
# Example trial: BENCH_FILL="20 60" BENCH_REPLICA_STORES=20 BENCH_STEADY="1 20" \
#   BENCH_BASELINE=3 BENCH_API_SECONDS=3 BENCH_STREAMS=50 bench/run.sh full
set -euo pipefail
mode=${1:-quick}
root="$(cd "$(dirname "$0")/.." && pwd)"
export STOREFLEET_STATE="$root/.state/bench"
export STOREFLEET_BUILD_DIR="${STOREFLEET_BUILD_DIR:-$root/build}"
build_dir=$STOREFLEET_BUILD_DIR
# Every load generator here is one client address: the per-address limiter (which runs before
# authentication) would measure itself, so it is off for the benchmark's platform.
export STOREFLEET_CLIENT_RATE_PER_SECOND=0
export STOREFLEET_TENANT_READ_RATE_PER_SECOND=0
source "$root/infra/local/lib/common.sh"
source "$root/infra/local/parts/kafka.sh"

# positive_ints NAME VALUE...: dies unless every VALUE is a whole number above 0.
positive_ints() {
    local name=$1 v
    shift
    [[ $# -gt 0 ]] || die "$name is empty"
    for v in "$@"; do [[ $v =~ ^[1-9][0-9]*$ ]] || die "$name: '$v' is not a whole number above 0"; done
}
case $mode in
    # Provisioning runs as stores:in-flight:replicas.
    # Simulated nodes have 32 CPUs and 250 pods each; a small store requests ~0.6 CPU and
    # 3-4 pods, and every store of a run stays until the stack goes, so size the cluster.
    quick)
        runs=(100:32:1); baseline_n=10; wrk_seconds=10; steady=(1 60); streams=1000
        export STOREFLEET_K8S_NODES=6 ;;
    full)
        read -r -a fill <<<"${BENCH_FILL:-100 1000 5000}"
        positive_ints BENCH_FILL "${fill[@]}"
        for ((i = 1; i < ${#fill[@]}; i++)); do
            ((fill[i] > fill[i - 1])) || die "BENCH_FILL: totals must grow (${fill[*]})"
        done
        read -r -a ceiling_at <<<"${BENCH_CEILING_AT-${fill[*]:0:${#fill[@]}-1}}"
        for c in "${ceiling_at[@]}"; do
            [[ " ${fill[*]} " == *" $c "* ]] || die "BENCH_CEILING_AT: $c is not one of BENCH_FILL's totals (${fill[*]})"
        done
        fill_limit=${BENCH_FILL_IN_FLIGHT:-64}
        read -r -a replica_counts <<<"${BENCH_REPLICAS:-1 2 4}"
        replica_stores=${BENCH_REPLICA_STORES:-300}
        replica_limit=${BENCH_REPLICA_IN_FLIGHT:-64}
        read -r -a steady <<<"${BENCH_STEADY:-2 300}"
        baseline_n=${BENCH_BASELINE:-50}
        wrk_seconds=${BENCH_API_SECONDS:-30}
        streams=${BENCH_STREAMS:-1000}
        positive_ints BENCH_REPLICAS "${replica_counts[@]}"
        positive_ints "BENCH_FILL_IN_FLIGHT, BENCH_REPLICA_STORES, BENCH_REPLICA_IN_FLIGHT, BENCH_BASELINE, BENCH_API_SECONDS, BENCH_STREAMS" \
            "$fill_limit" "$replica_stores" "$replica_limit" "$baseline_n" "$wrk_seconds" "$streams"
        [[ ${#steady[@]} == 2 ]] || die "BENCH_STEADY is 'RATE SECONDS', e.g. '2 300'"
        positive_ints "BENCH_STEADY's seconds" "${steady[1]}"
        [[ ${steady[0]} =~ ^[0-9]+(\.[0-9]+)?$ && ${steady[0]} =~ [1-9] ]] ||
            die "BENCH_STEADY: rate '${steady[0]}' is not a number above 0"
        for r in "${replica_counts[@]}"; do
            ((replica_limit % r == 0)) || die "BENCH_REPLICA_IN_FLIGHT $replica_limit does not divide among $r replicas"
        done
        # The most stores the cluster holds at once: every store the run leaves (the warm-up,
        # the fill, the replicas runs, the steady arrivals and the baseline), or, while a
        # ceiling runs, the fill so far plus the ceiling's stores (as many as its stage added;
        # deleted before the next stage), whichever is more. A small store requests 0.61 CPU (52
        # fit a 32-CPU node, 4 pods each: 62 by pods): 50 a node, and three spare.
        steady_n=$(python3 -c "import math; print(math.ceil(${steady[0]} * ${steady[1]}))")
        later_stores=$((${#replica_counts[@]} * replica_stores + baseline_n + steady_n))
        warmup_n=${BENCH_WARMUP:-10}
        left=$((warmup_n + fill[-1] + later_stores))
        previous=0
        for target in "${fill[@]}"; do
            if [[ " ${ceiling_at[*]} " == *" $target "* ]]; then
                peak=$((warmup_n + target + target - previous))
                ((peak <= left)) || left=$peak
            fi
            previous=$target
        done
        mib_per_store=${BENCH_MIB_PER_STORE:-3}
        positive_ints BENCH_MIB_PER_STORE "$mib_per_store"
        # The guard counts in KiB, so a measured 3.1 MiB per store is not rounded up to 4.
        kib_per_store=$((mib_per_store * 1024))
        export STOREFLEET_K8S_NODES=${BENCH_K8S_NODES:-$(((left + 49) / 50 + 3))}
        positive_ints BENCH_K8S_NODES "$STOREFLEET_K8S_NODES" ;;
    *) die "usage: bench/run.sh quick|full" ;;
esac
for tool in ceiling projection_lag; do
    [[ -x $build_dir/bench/$tool ]] || die "$build_dir/bench/$tool is missing: build first (make build, or STOREFLEET_BUILD_DIR)"
done
# One run at a time: a second one would wipe the first's state folder under its servers.
mkdir -p "$root/.state"
exec 9>"$root/.state/bench.lock"
flock -n 9 || die "another bench run is still active (or stopping)"
out="$root/bench/results/$(date -u +%Y%m%dT%H%M%SZ)-$mode.json"
mkdir -p "$root/bench/results"
cleanup() { "$root/infra/local/platform" down >/dev/null 2>&1 || true; "$root/infra/local/down" >/dev/null 2>&1 || true; }
trap cleanup EXIT
rm -rf "$STOREFLEET_STATE"
phase_start=$SECONDS
"$root/infra/local/up" >/dev/null
record() { echo "$1" | tee -a "$out.tmp" >&2; }
: >"$out.tmp"
record "{\"section\":\"machine\",\"cores\":$(nproc),\"mem_gib\":$(awk '/^MemTotal:/{print int($2 / 1048576)}' /proc/meminfo),\"kernel\":\"$(uname -r)\",\"git\":\"$(git -C "$root" rev-parse --short HEAD)\",\"mode\":\"$mode\",\"k8s_nodes\":$STOREFLEET_K8S_NODES}"
# phase NAME: records how long the part since the previous phase took (the run's timeline,
# from which the full run's length is estimated).
phase() {
    record "{\"section\":\"phase\",\"name\":\"$1\",\"seconds\":$((SECONDS - phase_start))}"
    phase_start=$SECONDS
}
phase stack

platform_env() {
    set -a
    # shellcheck disable=SC1091
    source "$STOREFLEET_STATE/env"
    set +a
}
# platform_up LIMIT REPLICAS: a platform whose tenant may create as many stores as it likes,
# as fast as it likes: a stage POSTs thousands at once, past the tenant's default burst (2,000),
# and the benchmark measures provisioning, not the rate limiter.
platform_up() {
    STOREFLEET_MAX_IN_FLIGHT=$1 STOREFLEET_PROVISIONER_REPLICAS=$2 STOREFLEET_BOOTSTRAP_QUOTA=1000000 \
        STOREFLEET_RATE_PER_SECOND=1000000 STOREFLEET_RATE_BURST=1000000 \
        "$root/infra/local/platform" up >/dev/null
    platform_env
}
# cluster_stores: the stores' namespaces in the cluster now (the platform's and the ceiling's).
cluster_stores() { kubectl get namespaces -l storefleet.io/tenant --no-headers 2>/dev/null | wc -l; }
deadline_for() { echo $((600 + $1 * 3 / 2)); }
# control_plane_rss: the RSS (MiB) of the control plane's servers now, as JSON with a total.
control_plane_rss() {
    python3 - "$STOREFLEET_STATE/k8s" <<'PY'
import json, os, sys
out = {}
for name in ("kube-apiserver", "etcd", "kube-controller-manager", "kube-scheduler", "kwok"):
    try:
        pid = open(os.path.join(sys.argv[1], name + ".pid")).read().split()[0]
        status = dict(l.split(":", 1) for l in open(f"/proc/{pid}/status") if ":" in l)
        out[name] = int(status["VmRSS"].split()[0]) // 1024
    except (FileNotFoundError, ProcessLookupError, KeyError, IndexError):
        pass
out["total"] = sum(out.values())
print(json.dumps(out))
PY
}
json_field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }

# costs_between BEFORE AFTER N RUN LIMIT REPLICAS: records API requests and CPU-seconds per
# store (bench/costs.py) between two snapshots.
costs_between() {
    record "{\"section\":\"costs\",\"run\":\"$4\",\"in_flight\":$5,\"replicas\":$6,\"result\":$(python3 "$root/bench/costs.py" diff "$1" "$2" "$3")}"
}
snap="$STOREFLEET_STATE/bench-costs"
mkdir -p "$snap"
costs_snapshot() { python3 "$root/bench/costs.py" snapshot >"$snap/$1.json"; }
costs_diff() { python3 "$root/bench/costs.py" diff "$snap/$1.json" "$snap/$2.json" "$3"; }

# steps_snapshot: the provisioner's step histogram sums and counts now, as JSON.
steps_snapshot() {
    # A provisioner that has run no step yet has no samples: grep finds nothing, and that is {}.
    curl -s "$STOREFLEET_PROVISIONER_URL/metrics" | { grep -E '^storefleet_provisioner_step_seconds_(sum|count)' || true; } \
        | python3 -c 'import sys,json; d={}
for l in sys.stdin:
    k,v=l.split(); step=k.split("step=\"")[1].split("\"")[0]; d.setdefault(step,{})[k.split("{")[0].rsplit("_",1)[1]]=float(v)
print(json.dumps(d))'
}
# steps_mean BEFORE_JSON AFTER_JSON: mean seconds per step between two snapshots.
steps_mean() {
    python3 -c 'import sys,json; b,a=json.loads(sys.argv[1]),json.loads(sys.argv[2])
out={}
for s,x in a.items():
    n=x.get("count",0)-b.get(s,{}).get("count",0)
    if n>0: out[s]=round((x.get("sum",0)-b.get(s,{}).get("sum",0))/n,3)
print(json.dumps(out))' "$1" "$2"
}

# ceiling_run N LIMIT PREFIX: bench/ceiling for N fresh stores at LIMIT in flight (the platform
# stopped); sets ceiling_json (the tool's line, or null) and ceiling_costs.
ceiling_run() {
    costs_snapshot ceiling-before
    ceiling_json=$("$build_dir/bench/ceiling" --stores "$1" --in-flight "$2" --prefix "$3" \
        --tenant ceiling --charts-dir "$root/charts" --helm "$STOREFLEET_CACHE/bin/helm" --deadline "$(deadline_for "$1")") ||
        echo "ceiling run of $1 stores did not finish cleanly: $ceiling_json" >&2
    costs_snapshot ceiling-after
    ceiling_costs=$(costs_diff ceiling-before ceiling-after "$1")
    [[ -n $ceiling_json ]] || ceiling_json=null
}
# delete_ceiling: removes the ceiling's stores; prints the seconds it took.
delete_ceiling() {
    local start=$SECONDS
    kubectl delete namespaces -l storefleet.io/tenant=ceiling --wait=true --timeout=1800s >/dev/null ||
        echo "the ceiling's namespaces were not all gone in 1800 s; the next run shares the cluster with them" >&2
    echo $((SECONDS - start))
}

# 0. Warm-up, not measured: a few stores through the whole platform first. On a fresh stack
# the first run otherwise pays the JVM's compilation of Kafka's hot paths (C2 threads) and the
# servers' first caches: measured at 0.08 CPU-s per store for Kafka in the first 100 stores,
# against 0.006 in the ceiling run after them. Its stores stay in the cluster.
platform_up 16 1
record "{\"section\":\"warmup\",\"result\":$(python3 "$root/bench/provision.py" --stores "${BENCH_WARMUP:-10}" --prefix warm --deadline 600)}"
"$root/infra/local/platform" down >/dev/null
phase warmup

if [[ $mode == quick ]]; then
# 1+2. Provisioning throughput per size, in-flight limit and replica count, against the
# one-at-a-time baseline. Each run on a fresh platform (the stack and its stores remain).
# After each, the ceiling (bench/ceiling): the same objects for N fresh stores applied straight
# to the API server at the same in-flight limit (per replica times replicas), the same
# readiness rule, with the platform stopped. Its stores are deleted before the next run so
# the cluster's size stays what the storefleet runs alone make it.
last_spec=${runs[-1]}
for spec in "${runs[@]}"; do
    IFS=: read -r n limit replicas <<<"$spec"
    {
        platform_up "$limit" "$replicas"
        python3 "$root/bench/costs.py" snapshot >"$snap/before.json"
        result=$(python3 "$root/bench/provision.py" --stores "$n" --prefix "p$limit-$replicas-$n" --deadline 1800)
        python3 "$root/bench/costs.py" snapshot >"$snap/after.json"
        record "{\"section\":\"provision\",\"in_flight\":$limit,\"replicas\":$replicas,\"result\":$result}"
        costs_between "$snap/before.json" "$snap/after.json" "$n" storefleet "$limit" "$replicas"
        record "{\"section\":\"steps\",\"in_flight\":$limit,\"mean_seconds\":$(steps_mean '{}' "$(steps_snapshot)")}"
        "$root/infra/local/platform" down >/dev/null

        python3 "$root/bench/costs.py" snapshot >"$snap/before.json"
        ceiling=$("$build_dir/bench/ceiling" --stores "$n" --in-flight $((limit * replicas)) --prefix "c$limit-$replicas-$n" \
            --tenant ceiling --charts-dir "$root/charts" --helm "$STOREFLEET_CACHE/bin/helm" --deadline 1800) ||
            echo "ceiling run of $n stores did not finish cleanly: $ceiling" >&2
        python3 "$root/bench/costs.py" snapshot >"$snap/after.json"
        record "{\"section\":\"ceiling\",\"in_flight\":$limit,\"replicas\":$replicas,\"result\":${ceiling:-null}}"
        costs_between "$snap/before.json" "$snap/after.json" "$n" ceiling "$limit" "$replicas"
        if [[ $spec != "$last_spec" ]]; then
            kubectl delete namespaces -l storefleet.io/tenant=ceiling --wait=true --timeout=900s >/dev/null ||
                echo "the ceiling's namespaces were not all gone in 900 s; the next run shares the cluster with them" >&2
        fi
    }
done
phase provision
else
# 1+2 (full). The fill curve: one platform's stores accumulate on one cluster, stage by stage.
# Each stage: the platform up (one provisioner at BENCH_FILL_IN_FLIGHT), the stage's stores
# POSTed at once and waited for, costs and the provisioner's step times over the stage alone.
# The platform is stopped for the ceiling and started again on the same Postgres, Kafka and
# cluster, so every stage adds to the same fleet.
total=0
stage=0
for target in "${fill[@]}"; do
    stage=$((stage + 1))
    added=$((target - total))
    with_ceiling=0
    [[ " ${ceiling_at[*]} " != *" $target "* ]] || with_ceiling=1
    avail=$(awk '/^MemAvailable:/{print int($2 / 1024)}' /proc/meminfo)
    need=$((((added * (1 + with_ceiling) + later_stores) * kib_per_store + 1023) / 1024 + 1024))
    mib_per_store=$(awk -v k="$kib_per_store" 'BEGIN { printf "%.2f", k / 1024 }')
    if [[ ${BENCH_MEM_GUARD:-1} != 0 ]] && ((need > avail)); then
        record "{\"section\":\"fill_skipped\",\"stage\":$stage,\"added\":$added,\"total\":$target,\"mem_available_mib\":$avail,\"mem_needed_mib\":$need,\"mib_per_store\":$mib_per_store}"
        echo "the fill stops before $target stores: it would need about $need MiB ($mib_per_store MiB per store), $avail MiB are available" >&2
        break
    fi
    platform_up "$fill_limit" 1
    before_cluster=$(cluster_stores)
    rss_before=$(control_plane_rss)
    steps_before=$(steps_snapshot)
    costs_snapshot fill-before
    result=$(python3 "$root/bench/provision.py" --stores "$added" --prefix "f$stage-$added" --deadline "$(deadline_for "$added")")
    costs_snapshot fill-after
    rss_after=$(control_plane_rss)
    total=$target
    record "{\"section\":\"fill\",\"stage\":$stage,\"added\":$added,\"total\":$total,\"cluster_stores_before\":$before_cluster,\"in_flight\":$fill_limit,\"replicas\":1,\"result\":$result,\"costs\":$(costs_diff fill-before fill-after "$added"),\"steps_mean_seconds\":$(steps_mean "$steps_before" "$(steps_snapshot)"),\"control_plane_rss_mib_before\":$rss_before,\"control_plane_rss_mib_after\":$rss_after}"
    # The guard's figure from now on: this stage's growth per store, measured, in place of the
    # one assumed (only from stages of 500 stores or more: a small one's growth is mostly
    # caches warming up).
    grown_kib=$(( (($(json_field "$rss_after" total) - $(json_field "$rss_before" total)) * 1024 + added - 1) / added ))
    ((added < 500 || grown_kib < 1)) || kib_per_store=$grown_kib
    "$root/infra/local/platform" down >/dev/null
    phase "fill to $total"
    if ((with_ceiling)); then
        ceiling_run "$added" "$fill_limit" "c$stage-$added"
        phase "ceiling at $total"
        deleted_in=$(delete_ceiling)
        record "{\"section\":\"fill_ceiling\",\"stage\":$stage,\"added\":$added,\"total\":$total,\"in_flight\":$fill_limit,\"result\":$ceiling_json,\"costs\":$ceiling_costs,\"delete_seconds\":$deleted_in}"
        phase "ceiling deleted at $total"
    fi
done

# The replicas curve: the same stores and the same total in flight with 1, 2 and 4 replicas,
# a fresh platform each, on the cluster the fill left (which grows by each run's stores).
for r in "${replica_counts[@]}"; do
    platform_up $((replica_limit / r)) "$r"
    before_cluster=$(cluster_stores)
    costs_snapshot replicas-before
    result=$(python3 "$root/bench/provision.py" --stores "$replica_stores" --prefix "r$r-$replica_stores" \
        --deadline "$(deadline_for "$replica_stores")")
    costs_snapshot replicas-after
    record "{\"section\":\"replicas\",\"replicas\":$r,\"in_flight_per_replica\":$((replica_limit / r)),\"in_flight\":$replica_limit,\"cluster_stores_before\":$before_cluster,\"result\":$result,\"costs\":$(costs_diff replicas-before replicas-after "$replica_stores")}"
    "$root/infra/local/platform" down >/dev/null
    phase "replicas $r"
done
fi
record "{\"section\":\"baseline\",\"result\":$("$root/bench/baseline.sh" "$baseline_n")}"
phase baseline

# 6. Idle memory of each service (a fresh platform, nothing in flight).
# The stream section opens all its streams with one tenant's token: lift the per-tenant cap.
STOREFLEET_BOOTSTRAP_QUOTA=1000000 STOREFLEET_RATE_PER_SECOND=1000000 STOREFLEET_RATE_BURST=1000000 \
    STOREFLEET_STREAM_MAX_PER_TENANT="$streams" "$root/infra/local/platform" up >/dev/null
platform_env
sleep 2
idle="{"
for svc in intake query projector provisioner; do
    rss=$(awk '/VmRSS/{print int($2/1024)}' "/proc/$(<"$STOREFLEET_STATE/platform/$svc.pid")/status")
    idle+="\"$svc\":$rss,"
done
record "{\"section\":\"idle_rss_mib\",\"cluster_stores\":$(cluster_stores),\"result\":${idle%,}}}"
# What idle live-status streams cost the query service.
record "{\"section\":\"stream_idle\",\"result\":$(python3 "$root/bench/stream_idle.py" --url "$STOREFLEET_STREAM_URL" \
    --token-file "$STOREFLEET_TOKEN_FILE" --pid "$(<"$STOREFLEET_STATE/platform/query.pid")" --connections "$streams")}"
phase idle

# 2b. A steady arrival rate below capacity (open loop: a POST every 1/R s whatever came
# before), POST-to-Ready per store: what a store meets on a platform that is busy, not flooded.
before_cluster=$(cluster_stores)
record "{\"section\":\"steady\",\"rate\":${steady[0]},\"duration\":${steady[1]},\"cluster_stores_before\":$before_cluster,\"result\":$(python3 "$root/bench/provision.py" \
    --rate "${steady[0]}" --duration "${steady[1]}" --prefix steady --deadline 1800)}"
phase steady

# 5. Projection lag: status events at 500/s, from occurred_at to the row in the read model.
record "{\"section\":\"projection_lag\",\"result\":$("$build_dir/bench/projection_lag" --rate 500 --seconds "$wrk_seconds")}"

# 3+4. The API's speed beside its references, in this run: query's list (10,000 stores) and
# single-store GET next to pgbench -S and nginx serving the list's bytes; intake's creates
# (the provisioner stopped, or the commands would be built) next to pgbench inserts, and
# every accepted create in Kafka. See bench/api.sh.
kill "$(<"$STOREFLEET_STATE/platform/provisioner.pid")"
STOREFLEET_QUERY_URL=$STOREFLEET_QUERY_URL STOREFLEET_INTAKE_URL=$STOREFLEET_INTAKE_URL \
    "$root/bench/api.sh" "$wrk_seconds" "$out.tmp"
phase "projection lag and API"

mv "$out.tmp" "$out"
python3 "$root/bench/summarize.py" "$out" | tee "${out%.json}.md"
