#!/usr/bin/env bash
# The migrate-only mode the chart's migrations hook Job runs (templates/migrations-job.yaml):
# the real intake and projector binaries against the stack's Postgres apply their schema and
# exit 0 without serving, a second run and two concurrent runs change nothing (idempotent,
# advisory-locked), and a bad argument (2) or an unreachable Postgres (1) fail the Job.
# The projector migrates a schema of this run's own (STOREFLEET_READ_SCHEMA, dropped at exit),
# so its schema is proven built from nothing; intake's schema name is fixed ("intake"), so it
# is checked for its tables and an unchanged migration history.
# Usage: migrate_only.sh INTAKE_BIN PROJECTOR_BIN (ctest passes the built ones). Needs the stack
# (tests/with-stack).
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
intake_bin=${1:?usage: migrate_only.sh INTAKE_BIN PROJECTOR_BIN}
projector_bin=${2:?usage: migrate_only.sh INTAKE_BIN PROJECTOR_BIN}
: "${STOREFLEET_PG_URL:?run through tests/with-stack, which gives the stack environment}"
: "${STOREFLEET_KAFKA_BROKERS:?run through tests/with-stack, which gives the stack environment}"
schema="read_migrate_$(openssl rand -hex 4)"
trap 'psql -q "$STOREFLEET_PG_URL" -c "drop schema if exists $schema cascade" >/dev/null 2>&1 || true; _cleanup' EXIT
sql() { psql -X -At "$STOREFLEET_PG_URL" -v ON_ERROR_STOP=1 -c "$1"; }
history() { sql "select string_agg(version || ':' || applied_at, ',' order by version) from $1.schema_migrations"; }

# run NAME EXPECTED_RC COMMAND...: COMMAND (a migrate-only run) exits EXPECTED_RC within 60 s.
run() {
    local name=$1 want=$2 rc=0
    shift 2
    timeout 60 "$@" >"$WORK/$name.log" 2>&1 || rc=$?
    ((rc != 124)) || fail "$name: still running after 60 s (migrate-only must exit)"
    ((rc == want)) || { cat "$WORK/$name.log" >&2; fail "$name: exit $rc, want $want"; }
}

# The projector, from nothing, with the environment switch.
[[ $(sql "select count(*) from information_schema.schemata where schema_name = '$schema'") == 0 ]] ||
    fail "schema $schema exists before the run"
run projector-first 0 env STOREFLEET_READ_SCHEMA="$schema" STOREFLEET_MIGRATE_ONLY=1 "$projector_bin"
for table in schema_migrations stores store_events consumer_offsets; do
    [[ $(sql "select to_regclass('$schema.$table') is not null") == t ]] || fail "projector: no table $schema.$table after migrate-only"
done
projector_history=$(history "$schema")
[[ -n $projector_history ]] || fail "projector: no migration recorded in $schema.schema_migrations"
grep -q '"projector migrations applied' "$WORK/projector-first.log" || fail "projector: no 'migrations applied' log line"
ok "projector (STOREFLEET_MIGRATE_ONLY=1) built schema $schema from nothing (migrations $(sql "select string_agg(version::text, ',' order by version) from $schema.schema_migrations")) and exited 0"

# intake, with the flag.
run intake-first 0 "$intake_bin" --migrate-only
for table in schema_migrations tenants api_tokens; do
    [[ $(sql "select to_regclass('intake.$table') is not null") == t ]] || fail "intake: no table intake.$table after migrate-only"
done
intake_history=$(history intake)
[[ -n $intake_history ]] || fail "intake: no migration recorded in intake.schema_migrations"
grep -q '"intake migrations applied' "$WORK/intake-first.log" || fail "intake: no 'migrations applied' log line"
ok "intake --migrate-only: schema intake with its tables, exited 0"

# Again, twice at once each: every run exits 0 and the recorded history stays as it was.
run intake-a 0 "$intake_bin" --migrate-only &
a=$!
run intake-b 0 "$intake_bin" --migrate-only &
b=$!
run projector-a 0 env STOREFLEET_READ_SCHEMA="$schema" "$projector_bin" --migrate-only &
c=$!
run projector-b 0 env STOREFLEET_READ_SCHEMA="$schema" STOREFLEET_MIGRATE_ONLY=true "$projector_bin" &
d=$!
for pid in $a $b $c $d; do wait "$pid" || fail "a concurrent migrate-only run failed"; done
[[ $(history intake) == "$intake_history" ]] || fail "intake: the migration history changed on a rerun"
[[ $(history "$schema") == "$projector_history" ]] || fail "projector: the migration history changed on a rerun"
ok "migrate-only again, two at once each: all exited 0, no migration applied twice"

# Failures the Job must see as failures.
run intake-bad-arg 2 "$intake_bin" --migrate-everything
run projector-bad-arg 2 "$projector_bin" --serve
unreachable=postgresql://storefleet:x@127.0.0.1:1/storefleet
run intake-no-pg 1 env STOREFLEET_PG_URL=$unreachable "$intake_bin" --migrate-only
run projector-no-pg 1 env STOREFLEET_PG_URL=$unreachable STOREFLEET_READ_SCHEMA="$schema" "$projector_bin" --migrate-only
if grep -q 'storefleet:x@' "$WORK"/intake-no-pg.log "$WORK"/projector-no-pg.log; then fail "the Postgres password reached a log"; fi
ok "an unknown argument exits 2, an unreachable Postgres exits 1 (no password in the log)"
