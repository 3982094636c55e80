#!/usr/bin/env bash
# bench/run.sh quick|full: measures storefleet on a private local stack and writes
# bench/results/<date>-<mode>.json plus a Markdown table. See docs/performance.md.
set -euo pipefail
mode=${1:-quick}
root="$(cd "$(dirname "$0")/.." && pwd)"
export STOREFLEET_STATE="$root/.state/bench"
# Every load generator here is one client address: the per-address limiter (which runs before
# authentication) would measure itself, so it is off for the benchmark's platform.
export STOREFLEET_CLIENT_RATE_PER_SECOND=0
source "$root/infra/local/lib/common.sh"
source "$root/infra/local/parts/kafka.sh"
case $mode in
    # Provisioning runs as stores:in-flight:replicas.
    # Simulated nodes have 32 CPUs and 250 pods each; a small store requests ~0.6 CPU and
    # 3-4 pods, and every store of a run stays until the stack goes, so size the cluster.
    quick) runs=(100:32:1); baseline_n=10; wrk_seconds=10; steady=(1 60); export STOREFLEET_K8S_NODES=6 ;;
    full)
        runs=(200:8:1 200:32:1 200:64:1 200:128:1 200:32:2 200:32:4 100:64:1 500:64:1 1000:64:1)
        baseline_n=50; wrk_seconds=30; steady=(2 300); export STOREFLEET_K8S_NODES=80 ;;
    *) die "usage: bench/run.sh quick|full" ;;
esac
# One run at a time: a second one would wipe the first's state folder under its servers.
mkdir -p "$root/.state"
exec 9>"$root/.state/bench.lock"
flock -n 9 || die "another bench run is still active (or stopping)"
out="$root/bench/results/$(date -u +%Y%m%dT%H%M%SZ)-$mode.json"
mkdir -p "$root/bench/results"
cleanup() { "$root/infra/local/platform" down >/dev/null 2>&1 || true; "$root/infra/local/down" >/dev/null 2>&1 || true; }
trap cleanup EXIT
rm -rf "$STOREFLEET_STATE"
"$root/infra/local/up" >/dev/null
record() { echo "$1" | tee -a "$out.tmp" >&2; }
: >"$out.tmp"
record "{\"section\":\"machine\",\"cores\":$(nproc),\"mem_gib\":$(free -g | awk '/Mem:/{print $2}'),\"kernel\":\"$(uname -r)\",\"git\":\"$(git -C "$root" rev-parse --short HEAD)\",\"mode\":\"$mode\"}"

platform_env() {
    set -a
    # shellcheck disable=SC1091
    source "$STOREFLEET_STATE/env"
    set +a
}

# costs_between BEFORE AFTER N RUN LIMIT REPLICAS: records API requests and CPU-seconds per
# store (bench/costs.py) between two snapshots.
costs_between() {
    record "{\"section\":\"costs\",\"run\":\"$4\",\"in_flight\":$5,\"replicas\":$6,\"result\":$(python3 "$root/bench/costs.py" diff "$1" "$2" "$3")}"
}
snap="$STOREFLEET_STATE/bench-costs"

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
        STOREFLEET_MAX_IN_FLIGHT=$limit STOREFLEET_PROVISIONER_REPLICAS=$replicas STOREFLEET_BOOTSTRAP_QUOTA=1000000 \
            "$root/infra/local/platform" up >/dev/null
        platform_env
        mkdir -p "$snap"
        python3 "$root/bench/costs.py" snapshot >"$snap/before.json"
        result=$(python3 "$root/bench/provision.py" --stores "$n" --prefix "p$limit-$replicas-$n" --deadline 1800)
        python3 "$root/bench/costs.py" snapshot >"$snap/after.json"
        record "{\"section\":\"provision\",\"in_flight\":$limit,\"replicas\":$replicas,\"result\":$result}"
        costs_between "$snap/before.json" "$snap/after.json" "$n" storefleet "$limit" "$replicas"
        curl -s "$STOREFLEET_PROVISIONER_URL/metrics" | grep -E '^storefleet_provisioner_step_seconds_(sum|count)' \
            | python3 -c 'import sys,json; d={}
for l in sys.stdin:
    k,v=l.split(); step=k.split("step=\"")[1].split("\"")[0]; d.setdefault(step,{})[k.split("{")[0].rsplit("_",1)[1]]=float(v)
print(json.dumps({"section":"steps","in_flight":'"$limit"',"mean_seconds":{s:round(x["sum"]/x["count"],3) for s,x in d.items() if x.get("count")}}))' \
            | tee -a "$out.tmp" >&2
        "$root/infra/local/platform" down >/dev/null

        python3 "$root/bench/costs.py" snapshot >"$snap/before.json"
        ceiling=$("$root/build/bench/ceiling" --stores "$n" --in-flight $((limit * replicas)) --prefix "c$limit-$replicas-$n" \
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
record "{\"section\":\"baseline\",\"result\":$("$root/bench/baseline.sh" "$baseline_n")}"

# 6. Idle memory of each service (a fresh platform, nothing in flight).
STOREFLEET_BOOTSTRAP_QUOTA=1000000 STOREFLEET_RATE_PER_SECOND=1000000 STOREFLEET_RATE_BURST=1000000 \
    "$root/infra/local/platform" up >/dev/null
platform_env
sleep 2
idle="{"
for svc in intake query projector provisioner; do
    rss=$(awk '/VmRSS/{print int($2/1024)}' "/proc/$(<"$STOREFLEET_STATE/platform/$svc.pid")/status")
    idle+="\"$svc\":$rss,"
done
record "{\"section\":\"idle_rss_mib\",\"result\":${idle%,}}}"
# What 1,000 idle live-status streams cost the query service.
record "{\"section\":\"stream_idle\",\"result\":$(python3 "$root/bench/stream_idle.py" --url "$STOREFLEET_STREAM_URL" \
    --token-file "$STOREFLEET_TOKEN_FILE" --pid "$(<"$STOREFLEET_STATE/platform/query.pid")" --connections 1000)}"

# 2b. A steady arrival rate below capacity (open loop: a POST every 1/R s whatever came
# before), POST-to-Ready per store: what a store meets on a platform that is busy, not flooded.
record "{\"section\":\"steady\",\"rate\":${steady[0]},\"duration\":${steady[1]},\"result\":$(python3 "$root/bench/provision.py" \
    --rate "${steady[0]}" --duration "${steady[1]}" --prefix steady --deadline 1800)}"

# 5. Projection lag: status events at 500/s, from occurred_at to the row in the read model.
record "{\"section\":\"projection_lag\",\"result\":$("$root/build/bench/projection_lag" --rate 500 --seconds "$wrk_seconds")}"

# 3+4. The API's speed beside its references, in this run: query's list (10,000 stores) and
# single-store GET next to pgbench -S and nginx serving the list's bytes; intake's creates
# (the provisioner stopped, or the commands would be built) next to pgbench inserts, and
# every accepted create in Kafka. See bench/api.sh.
kill "$(<"$STOREFLEET_STATE/platform/provisioner.pid")"
STOREFLEET_QUERY_URL=$STOREFLEET_QUERY_URL STOREFLEET_INTAKE_URL=$STOREFLEET_INTAKE_URL \
    "$root/bench/api.sh" "$wrk_seconds" "$out.tmp"

mv "$out.tmp" "$out"
python3 "$root/bench/summarize.py" "$out" | tee "${out%.json}.md"
