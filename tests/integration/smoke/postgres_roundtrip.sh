#!/usr/bin/env bash
# A real PostgreSQL: write a row in one session and read it back in another.
source "$(dirname "$0")/lib.sh"
: "${STOREFLEET_PG_URL:?}"
table="smoke_$RANDOM"
psql -q -v ON_ERROR_STOP=1 "$STOREFLEET_PG_URL" -c "create table $table (v text); insert into $table values ('round-trip')"
got=$(psql -tA "$STOREFLEET_PG_URL" -c "select v from $table")
psql -q "$STOREFLEET_PG_URL" -c "drop table $table"
[[ $got == round-trip ]] || fail "read back '$got'"
version=$(psql -tA "$STOREFLEET_PG_URL" -c "show server_version_num")
(( version >= 150000 )) || fail "expected PostgreSQL 15+, got $version"
echo "ok: postgres round trip on server $version"
