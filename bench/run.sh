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
    quick) runs=(100:32:1); baseline_n=10; wrk_seconds=10; export STOREFLEET_K8S_NODES=6 ;;
    full)
        runs=(200:8:1 200:32:1 200:64:1 200:128:1 200:32:2 200:32:4 100:64:1 500:64:1 1000:64:1)
        baseline_n=50; wrk_seconds=30; export STOREFLEET_K8S_NODES=80 ;;
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

# 1+2. Provisioning throughput per size, in-flight limit and replica count, against the
# one-at-a-time baseline. Each run on a fresh platform (the stack and its stores remain).
for spec in "${runs[@]}"; do
    IFS=: read -r n limit replicas <<<"$spec"
    {
        STOREFLEET_MAX_IN_FLIGHT=$limit STOREFLEET_PROVISIONER_REPLICAS=$replicas STOREFLEET_BOOTSTRAP_QUOTA=1000000 \
            "$root/infra/local/platform" up >/dev/null
        platform_env
        result=$(python3 "$root/bench/provision.py" --stores "$n" --prefix "p$limit-$replicas-$n" --deadline 1800)
        record "{\"section\":\"provision\",\"in_flight\":$limit,\"replicas\":$replicas,\"result\":$result}"
        curl -s "$STOREFLEET_PROVISIONER_URL/metrics" | grep -E '^storefleet_provisioner_step_seconds_(sum|count)' \
            | python3 -c 'import sys,json; d={}
for l in sys.stdin:
    k,v=l.split(); step=k.split("step=\"")[1].split("\"")[0]; d.setdefault(step,{})[k.split("{")[0].rsplit("_",1)[1]]=float(v)
print(json.dumps({"section":"steps","in_flight":'"$limit"',"mean_seconds":{s:round(x["sum"]/x["count"],3) for s,x in d.items() if x.get("count")}}))' \
            | tee -a "$out.tmp" >&2
        "$root/infra/local/platform" down >/dev/null
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

# 4. Query: 10,000 stores of one tenant in the read model; list and get, vs nginx static.
psql -q "$STOREFLEET_PG_URL" -c "insert into read.stores (store_id, tenant_id, name, engine, plan, host, status, created_at, updated_at)
    select gen_random_uuid(), 'demo', 'seed-' || g, 'woocommerce', 'small', 'seed-' || g || '.demo.stores.localtest.me', 'ready',
           now() - g * interval '1 second', now() from generate_series(1, 10000) g" >/dev/null
export BENCH_TOKEN
BENCH_TOKEN=$(<"$STOREFLEET_TOKEN_FILE")
one=$(psql -tA "$STOREFLEET_PG_URL" -c "select store_id from read.stores where tenant_id='demo' limit 1")
curl -s "$STOREFLEET_URL/api/v1/stores?limit=50" -H "Authorization: Bearer $BENCH_TOKEN" >"$STOREFLEET_STATE/platform/list.json"
list_bytes=$(stat -c %s "$STOREFLEET_STATE/platform/list.json")
record "{\"section\":\"query_list\",\"body_bytes\":$list_bytes,\"result\":$(wrk -t2 -c64 -d"${wrk_seconds}s" -s "$root/bench/get.lua" "$STOREFLEET_QUERY_URL" -- "/api/v1/stores?limit=50" | tail -1)}"
record "{\"section\":\"query_get\",\"result\":$(wrk -t2 -c64 -d"${wrk_seconds}s" -s "$root/bench/get.lua" "$STOREFLEET_QUERY_URL" -- "/api/v1/stores/$one" | tail -1)}"
# Reference: nginx serving the same bytes as a static file.
mkdir -p "$STOREFLEET_STATE/platform/static"
cp "$STOREFLEET_STATE/platform/list.json" "$STOREFLEET_STATE/platform/static/list.json"
static_port=$(free_port)
cat >"$STOREFLEET_STATE/platform/static.conf" <<CONF
worker_processes 1; pid $STOREFLEET_STATE/platform/static.pid; error_log stderr;
events { worker_connections 1024; }
http { access_log off; server { listen 127.0.0.1:$static_port; root $STOREFLEET_STATE/platform/static; } }
CONF
nginx -c "$STOREFLEET_STATE/platform/static.conf" -p "$STOREFLEET_STATE/platform"
record "{\"section\":\"nginx_static_reference\",\"result\":$(wrk -t2 -c64 -d"${wrk_seconds}s" -s "$root/bench/get.lua" "http://127.0.0.1:$static_port" -- "/list.json" | tail -1)}"
kill "$(<"$STOREFLEET_STATE/platform/static.pid")"

# 5. Projection lag: status events at 500/s, from occurred_at to the row in the read model.
record "{\"section\":\"projection_lag\",\"result\":$("$root/build/bench/projection_lag" --rate 500 --seconds "$wrk_seconds")}"

# 3. Intake at 64 connections, with the provisioner stopped (the commands would otherwise be
# built); then every accepted request must have reached Kafka.
kill "$(<"$STOREFLEET_STATE/platform/provisioner.pid")"
offsets() { kafka_tool org.apache.kafka.tools.GetOffsetShell --bootstrap-server "$STOREFLEET_KAFKA_BROKERS" --topic store-commands 2>/dev/null | awk -F: '{s+=$3} END {print s+0}'; }
before=$(offsets)
intake_result=$(wrk -t2 -c64 -d"${wrk_seconds}s" -s "$root/bench/intake.lua" "$STOREFLEET_INTAKE_URL" -- "w$RANDOM" | tail -1)
deadline=$((SECONDS + 60))
while :; do
    unsent=$(psql -tA "$STOREFLEET_PG_URL" -c "select count(*) from intake.outbox where sent_at is null")
    [[ $unsent == 0 || $SECONDS -gt $deadline ]] && break
    sleep 0.5
done
reached=$(( $(offsets) - before ))
record "{\"section\":\"intake\",\"result\":$intake_result,\"reached_kafka\":$reached,\"unsent_after_drain\":$unsent}"
pgbench_result=$(PGOPTIONS="-c synchronous_commit=off" bash -c "
    psql -q '$STOREFLEET_PG_URL' -c 'create table if not exists bench_insert (id bigserial primary key, v text)' >/dev/null
    echo \"insert into bench_insert (v) values ('x');\" >'$STOREFLEET_STATE/insert.sql'
    pgbench -n -c 64 -j 2 -T $wrk_seconds -f '$STOREFLEET_STATE/insert.sql' '$STOREFLEET_PG_URL' 2>/dev/null | grep -E '^tps|latency average'")
tps=$(grep -oE 'tps = [0-9.]+' <<<"$pgbench_result" | grep -oE '[0-9.]+$')
record "{\"section\":\"pgbench_insert_reference\",\"clients\":64,\"tps\":$tps}"

mv "$out.tmp" "$out"
python3 "$root/bench/summarize.py" "$out" | tee "${out%.json}.md"
