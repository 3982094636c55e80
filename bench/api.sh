#!/usr/bin/env bash
# bench/api.sh SECONDS [OUT]: the read and write speed of the API (sections 3 and 4 of
# bench/run.sh), each beside its reference measured in the same run: query's list and
# single-store GET next to pgbench select-only (-S) and nginx serving the list's bytes;
# intake's create next to pgbench single-row inserts. Appends JSON lines to OUT (stdout
# by default).
#
# Runs against the platform of $STOREFLEET_STATE (bench/run.sh starts one; on a stack of
# your own: infra/local/platform start intake|query|projector). The provisioner must not
# run (the creates would be provisioned). BENCH_PROFILE=1 also samples the whole machine
# with `perf record` during the list, the GET and the creates, and writes where the time
# went, by process and inside the service (bench/results/profile-*.txt).
set -euo pipefail
seconds=${1:-10}
out=${2:-/dev/stdout}
root="$(cd "$(dirname "$0")/.." && pwd)"
source "$root/infra/local/lib/common.sh"
source "$root/infra/local/parts/kafka.sh"
set -a
# shellcheck disable=SC1091
source "$STOREFLEET_STATE/env"
set +a
platform="$STOREFLEET_STATE/platform"
record() { echo "$1" >>"$out"; [[ $out == /dev/stdout ]] || echo "$1" >&2; }
psql_q() { psql -X -q -tA "$STOREFLEET_PG_URL" -c "$1"; }
# BENCH_ONLY="list get pgbench-select nginx intake pgbench-insert" runs only those (all by default).
want() { [[ -z ${BENCH_ONLY:-} || " $BENCH_ONLY " == *" $1 "* ]]; }

# profile NAME: samples the whole machine for the next $seconds seconds in the background
# (every process: the service, Postgres, the load generator, anything else running).
profile_pids=()
profile() {
    [[ ${BENCH_PROFILE:-0} == 1 ]] && command -v perf >/dev/null || return 0
    perf record -q -a -F 499 -g -o "$platform/perf-$1.data" -- sleep "$seconds" >/dev/null 2>&1 &
    profile_pids+=($!)
}
# profile_report NAME COMM: the share of CPU samples per process, then COMM's time by
# library and its top functions (bench/results/profile-NAME.txt).
profile_report() {
    local name=$1 comm=$2 file="$platform/perf-$1.data"
    # Only this run's samples: a data file left by an earlier BENCH_PROFILE=1 run is not reported.
    [[ ${BENCH_PROFILE:-0} == 1 && -f $file ]] || return 0
    mkdir -p "$root/bench/results"
    {
        echo "## $name: CPU samples by process (load $(cut -d' ' -f1-3 /proc/loadavg) after)"
        perf report -i "$file" --no-children --sort comm --stdio 2>/dev/null | grep -E '^ +[0-9.]+%' | head -12
        echo "## $comm by library"
        perf report -i "$file" --comm "$comm" --no-children --sort dso --stdio 2>/dev/null | grep -E '^ +[0-9.]+%' | head -12
        echo "## $comm top functions"
        perf report -i "$file" --comm "$comm" --no-children --sort symbol --stdio 2>/dev/null | grep -E '^ +[0-9.]+%' |
            sed 's/  */ /g' | cut -c1-160 | head -30
    } >"$root/bench/results/profile-$name.txt" || true
}

export BENCH_TOKEN
BENCH_TOKEN=$(<"$STOREFLEET_TOKEN_FILE")

# 4. Query: 10,000 stores of one tenant in the read model.
seeded=$(psql_q "select count(*) from read.stores where tenant_id = 'demo' and name like 'seed-%'")
if ((seeded < 10000)); then
    psql_q "insert into read.stores (store_id, tenant_id, name, engine, plan, host, status, created_at, updated_at)
        select gen_random_uuid(), 'demo', 'seed-' || g, 'woocommerce', 'small', 'seed-' || g || '.demo.stores.localtest.me', 'ready',
               now() - g * interval '1 second', now() from generate_series($((seeded + 1)), 10000) g" >/dev/null
    # The seed is the benchmark's own bulk write: vacuum and analyze it now, or autovacuum does
    # it in the middle of a later measurement (seen as a p99 of 170-230 ms in the first
    # create run after seeding, 30-60 ms without).
    psql_q "vacuum analyze read.stores" >/dev/null
fi
one=$(psql_q "select store_id from read.stores where tenant_id='demo' and name = 'seed-1'")
curl -sf "$STOREFLEET_QUERY_URL/api/v1/stores?limit=50" -H "Authorization: Bearer $BENCH_TOKEN" >"$platform/list.json"
list_bytes=$(stat -c %s "$platform/list.json")
if want list; then
profile query-list
record "{\"section\":\"query_list\",\"body_bytes\":$list_bytes,\"load\":\"$(cut -d' ' -f1-3 /proc/loadavg)\",\"result\":$(wrk -t2 -c64 -d"${seconds}s" -s "$root/bench/get.lua" "$STOREFLEET_QUERY_URL" -- "/api/v1/stores?limit=50" | tail -1)}"
wait "${profile_pids[@]}" 2>/dev/null || true
profile_pids=()
fi
if want get; then
profile query-get
record "{\"section\":\"query_get\",\"load\":\"$(cut -d' ' -f1-3 /proc/loadavg)\",\"result\":$(wrk -t2 -c64 -d"${seconds}s" -s "$root/bench/get.lua" "$STOREFLEET_QUERY_URL" -- "/api/v1/stores/$one" | tail -1)}"
wait "${profile_pids[@]}" 2>/dev/null || true
profile_pids=()
fi

# Reference: Postgres answering single-row primary-key selects (pgbench -S, prepared, as
# query's statements are), 64 clients like wrk's 64 connections.
if want pgbench-select; then
if [[ -z $(psql_q "select to_regclass('public.pgbench_accounts')") ]]; then
    pgbench -q -i -s 1 "$STOREFLEET_PG_URL" >/dev/null 2>&1
fi
pgbench_s=$(pgbench -n -S -M prepared -c 64 -j 2 -T "$seconds" "$STOREFLEET_PG_URL" 2>/dev/null | grep -E '^tps|latency average')
record "{\"section\":\"pgbench_select_reference\",\"clients\":64,\"tps\":$(grep -oE 'tps = [0-9.]+' <<<"$pgbench_s" | grep -oE '[0-9.]+$'),\"latency_avg_ms\":$(grep -oE 'latency average = [0-9.]+' <<<"$pgbench_s" | grep -oE '[0-9.]+$')}"
fi

# Reference: nginx serving the list's bytes as a static file.
if want nginx; then
# Its own readable folder: nginx's workers run as an unprivileged user, and the platform's
# state folder (tokens) is not readable by them.
static_dir=$(mktemp -d /tmp/storefleet-bench-static.XXXXXX)
chmod 755 "$static_dir"
install -m 644 "$platform/list.json" "$static_dir/list.json"
static_port=$(free_port)
cat >"$platform/static.conf" <<CONF
worker_processes 1; pid $platform/static.pid; error_log stderr;
events { worker_connections 1024; }
http { access_log off; server { listen 127.0.0.1:$static_port; root $static_dir; } }
CONF
nginx -c "$platform/static.conf" -p "$platform"
record "{\"section\":\"nginx_static_reference\",\"result\":$(wrk -t2 -c64 -d"${seconds}s" -s "$root/bench/get.lua" "http://127.0.0.1:$static_port" -- "/list.json" | tail -1)}"
kill "$(<"$platform/static.pid")"
rm -rf "$static_dir"
fi

# 3. Intake at 64 connections; then every accepted request must have reached Kafka.
if want intake; then
offsets() { kafka_tool org.apache.kafka.tools.GetOffsetShell --bootstrap-server "$STOREFLEET_KAFKA_BROKERS" --topic store-commands 2>/dev/null | awk -F: '{s+=$3} END {print s+0}'; }
before=$(offsets)
accepted_before=$(psql_q "select count(*) from intake.outbox")
profile intake
intake_result=$(wrk -t2 -c64 -d"${seconds}s" -s "$root/bench/intake.lua" "$STOREFLEET_INTAKE_URL" -- "w$RANDOM$RANDOM" | tail -1)
load=$(cut -d' ' -f1-3 /proc/loadavg)
wait "${profile_pids[@]}" 2>/dev/null || true
deadline=$((SECONDS + 60))
while :; do
    unsent=$(psql_q "select count(*) from intake.outbox where sent_at is null")
    [[ $unsent == 0 || $SECONDS -gt $deadline ]] && break
    sleep 0.5
done
queued=$(( $(psql_q "select count(*) from intake.outbox") - accepted_before ))
reached=$(( $(offsets) - before ))
record "{\"section\":\"intake\",\"load\":\"$load\",\"result\":$intake_result,\"outbox_rows\":$queued,\"reached_kafka\":$reached,\"unsent_after_drain\":$unsent}"
fi
if want pgbench-insert; then
pgbench_result=$(PGOPTIONS="-c synchronous_commit=off" bash -c "
    psql -X -q '$STOREFLEET_PG_URL' -c 'create table if not exists bench_insert (id bigserial primary key, v text)' >/dev/null
    echo \"insert into bench_insert (v) values ('x');\" >'$platform/insert.sql'
    pgbench -n -c 64 -j 2 -T $seconds -f '$platform/insert.sql' '$STOREFLEET_PG_URL' 2>/dev/null | grep -E '^tps|latency average'")
record "{\"section\":\"pgbench_insert_reference\",\"clients\":64,\"tps\":$(grep -oE 'tps = [0-9.]+' <<<"$pgbench_result" | grep -oE '[0-9.]+$')}"
fi
# perf shows a process by its first 15 characters.
profile_report query-list storefleet-quer
profile_report query-get storefleet-quer
profile_report intake storefleet-inta
