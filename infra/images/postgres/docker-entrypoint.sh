#!/bin/bash
# Entrypoint of storefleet's Debian PostgreSQL image, the subset of the official image's that
# the medusa-store chart relies on: on an empty $PGDATA, initdb with the superuser
# $POSTGRES_USER (default postgres) and the password $POSTGRES_PASSWORD, password
# (scram-sha-256) logins over TCP from anywhere, then every /docker-entrypoint-initdb.d/*.sh
# (run if executable, else sourced) and *.sql against a socket-only server; then exec postgres
# listening on all addresses.
set -Eeuo pipefail
export POSTGRES_USER=${POSTGRES_USER:-postgres}
export PGDATA=${PGDATA:-/var/lib/postgresql/data}
if [[ ${1:-} == -* ]]; then set -- postgres "$@"; fi

if [[ ${1:-} == postgres && ! -s $PGDATA/PG_VERSION ]]; then
    [[ -n ${POSTGRES_PASSWORD:-} ]] || { echo "POSTGRES_PASSWORD is not set" >&2; exit 1; }
    mkdir -p "$PGDATA"
    chmod 700 "$PGDATA"
    pwfile=$(mktemp)
    printf '%s' "$POSTGRES_PASSWORD" >"$pwfile"
    initdb --username="$POSTGRES_USER" --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 \
        --encoding=UTF8 --locale=C.UTF-8 -D "$PGDATA"
    rm -f "$pwfile"
    echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
    echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
    pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p 5432" -w start
    for f in /docker-entrypoint-initdb.d/*; do
        # shellcheck disable=SC1090  # the init scripts are the chart's, not known here
        case $f in
            *.sh) if [[ -x $f ]]; then "$f"; else . "$f"; fi ;;
            *.sql) psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres -f "$f" ;;
        esac
    done
    pg_ctl -D "$PGDATA" -m fast -w stop
    echo "PostgreSQL init process complete; ready for start up."
fi
exec "$@"
