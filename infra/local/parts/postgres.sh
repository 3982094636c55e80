# shellcheck shell=bash
# PostgreSQL 15 part of the local real stack. Sourced after lib/common.sh by the
# dispatcher; defines postgres_start, postgres_stop and postgres_status.
#
# Layout (all under $STOREFLEET_STATE/postgres unless noted):
#   port       the TCP port chosen once by free_port, kept by every later start
#   password   the storefleet role's password, 0600, never printed
#   home       the path of the directory the server itself owns (see _pg_home)
#   <home>/data          the cluster (initdb)
#   <home>/run           the unix socket directory
#   <home>/postgres.log  the server log
# It writes STOREFLEET_PG_URL to $STOREFLEET_STATE/env.d/postgres (0600).

PG_BIN=${STOREFLEET_PG_BIN:-/usr/lib/postgresql/15/bin}
PG_OS_USER=${STOREFLEET_PG_OS_USER:-postgres}
PG_DB=storefleet
PG_ROLE=storefleet

# absolute, since the server tools run from / (see _pg_run)
_pg_meta() { realpath -m "$STOREFLEET_STATE/postgres"; }

# initdb, pg_ctl and postgres refuse to run as root, so as root run them as the
# postgres OS user; run as anyone else, they run as that user. From /, because
# the caller's working directory (say /root) may be closed to that user.
_pg_run() {
    if (( EUID == 0 )); then
        (cd / && runuser -u "$PG_OS_USER" -- "$@")
    else
        "$@"
    fi
}

# the cluster's superuser: the OS user the server runs as, so that peer
# authentication on the unix socket lets our setup in without a password
_pg_superuser() {
    if (( EUID == 0 )); then echo "$PG_OS_USER"; else id -un; fi
}

# _pg_home: prints the directory the server owns, creating it on first use.
# Preferred: $STOREFLEET_STATE/postgres/server, beside everything else. But the
# postgres user must be able to reach it, and as root the state dir may sit below
# a directory it cannot traverse (a checkout under /root, which is 0700). Rather
# than loosen the modes of directories that are not ours, fall back to a private
# directory made by mktemp under /var/tmp (world-traversable, sticky, and not
# wiped on reboot like /tmp can be), owned by postgres and 0700. Its path is
# recorded in the "home" file so every later start reuses the same cluster.
_pg_home() {
    local meta home
    meta=$(_pg_meta)
    if [[ -s $meta/home ]]; then
        home=$(<"$meta/home")
        if [[ -d $home ]]; then
            printf '%s\n' "$home"
            return 0
        fi
    fi
    home=$meta/server
    mkdir -p "$home"
    if (( EUID == 0 )); then
        chown "$PG_OS_USER:" "$home"
        chmod 0700 "$home"
        if ! runuser -u "$PG_OS_USER" -- test -w "$home" -a -x "$home"; then
            rmdir "$home"
            home=$(mktemp -d /var/tmp/storefleet-pg.XXXXXXXX)
            chown "$PG_OS_USER:" "$home"
            chmod 0700 "$home"
            log "postgres: $PG_OS_USER cannot reach $meta; server files go to $home"
        fi
    fi
    printf '%s\n' "$home" >"$meta/home"
    printf '%s\n' "$home"
}

# _pg_running HOME: true when our cluster's postmaster is up (reads postmaster.pid).
_pg_running() {
    [[ -f $1/data/postmaster.pid ]] || return 1
    _pg_run "$PG_BIN/pg_ctl" status -D "$1/data" >/dev/null 2>&1
}

_pg_write_env() {
    local meta=$1 port pw
    port=$(<"$meta/port")
    pw=$(<"$meta/password")
    mkdir -p "$STOREFLEET_STATE/env.d"
    # the password is hex, so the URL needs neither quoting nor percent-encoding
    (
        umask 077
        printf 'STOREFLEET_PG_URL=postgresql://%s:%s@127.0.0.1:%s/%s\n' \
            "$PG_ROLE" "$pw" "$port" "$PG_DB" >"$STOREFLEET_STATE/env.d/postgres.tmp"
    )
    chmod 0600 "$STOREFLEET_STATE/env.d/postgres.tmp"
    mv -f "$STOREFLEET_STATE/env.d/postgres.tmp" "$STOREFLEET_STATE/env.d/postgres"
}

postgres_start() {
    [[ -x $PG_BIN/initdb ]] || die "postgres: $PG_BIN/initdb not found (run make deps)"
    local meta home data port start=$SECONDS
    meta=$(_pg_meta)
    mkdir -p "$meta"
    chmod 0755 "$meta"
    home=$(_pg_home)
    data=$home/data

    if [[ ! -s $meta/password ]]; then
        # hex: safe inside a URL and an SQL literal without escaping
        (umask 077 && python3 -c 'import secrets; print(secrets.token_hex(24))' >"$meta/password")
    fi
    chmod 0600 "$meta/password"

    if _pg_running "$home"; then
        log "postgres: already running on port $(<"$meta/port")"
        _pg_write_env "$meta"
        return 0
    fi

    # The port is chosen once and kept for good: clients that outlive a stop find the
    # server where it was. A port someone else holds is an error, never a reason to move.
    if [[ ! -s $meta/port ]]; then
        free_port >"$meta/port"
    fi
    port=$(<"$meta/port")
    require_port postgres "$port" "postgres"

    if [[ ! -f $data/PG_VERSION ]]; then
        log "postgres: initdb in $data"
        # local socket: peer (only the postgres OS user gets in as superuser);
        # TCP: passwords only.
        _pg_run "$PG_BIN/initdb" -D "$data" -U "$(_pg_superuser)" -E UTF8 --locale=C.UTF-8 \
            --auth-local=peer --auth-host=scram-sha-256 >"$home/initdb.log" 2>&1 ||
            { cat "$home/initdb.log" >&2; die "postgres: initdb failed"; }
        printf "include_if_exists = 'storefleet.conf'\n" |
            _pg_run tee -a "$data/postgresql.conf" >/dev/null
    fi
    _pg_run mkdir -p "$home/run"

    # Rewritten on every start, so a changed port takes effect. A throwaway test
    # database: durability is traded for speed (fsync and friends off).
    _pg_run tee "$data/storefleet.conf" >/dev/null <<EOF
# written by infra/local/parts/postgres.sh on every start; edits are lost
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$home/run'
max_connections = 200
shared_buffers = 128MB
fsync = off
synchronous_commit = off
full_page_writes = off
EOF

    log "postgres: starting on 127.0.0.1:$port"
    # -w waits for the postmaster itself and notices if it dies while starting
    if ! _pg_run "$PG_BIN/pg_ctl" start -D "$data" -l "$home/postgres.log" -w -t 60 >/dev/null; then
        tail -n 30 "$home/postgres.log" >&2 || true
        die "postgres: failed to start (log: $home/postgres.log)"
    fi
    # and the TCP listener the services use, with a deadline
    wait_for "postgres on 127.0.0.1:$port" 60 \
        "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port" -d postgres ||
        die "postgres: not ready (log: $home/postgres.log)"

    # Role and database, idempotently; the password is set on every start so the
    # role always matches the password file. SQL goes through stdin, not argv,
    # so the password never shows up in ps.
    local pw
    pw=$(<"$meta/password")
    _pg_run "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$home/run" -p "$port" -U "$(_pg_superuser)" -d postgres \
        >/dev/null <<EOF || die "postgres: creating role/database failed"
SELECT 'CREATE ROLE $PG_ROLE LOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_ROLE')
\gexec
ALTER ROLE $PG_ROLE WITH LOGIN PASSWORD '$pw';
SELECT 'CREATE DATABASE $PG_DB OWNER $PG_ROLE' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$PG_DB')
\gexec
EOF
    _pg_write_env "$meta"
    log "postgres: ready on 127.0.0.1:$port in $((SECONDS - start))s"
}

postgres_stop() {
    local meta home
    meta=$(_pg_meta)
    rm -f "$STOREFLEET_STATE/env.d/postgres"
    [[ -s $meta/home ]] || { log "postgres: not started here"; return 0; }
    home=$(<"$meta/home")
    if ! _pg_running "$home"; then
        log "postgres: not running"
        return 0
    fi
    # only our cluster: pg_ctl signals the postmaster named in OUR data dir's pid file
    _pg_run "$PG_BIN/pg_ctl" stop -D "$home/data" -m fast -w -t 60 >/dev/null ||
        die "postgres: stop failed (log: $home/postgres.log)"
    log "postgres: stopped"
}

# postgres_status: prints one line; returns 0 when running, 1 when not.
postgres_status() {
    local meta home pid
    meta=$(_pg_meta)
    if [[ -s $meta/home ]]; then
        home=$(<"$meta/home")
        if _pg_running "$home"; then
            pid=$(head -n1 "$home/data/postmaster.pid")
            echo "postgres: running (pid $pid, 127.0.0.1:$(<"$meta/port"), data $home/data)"
            return 0
        fi
    fi
    echo "postgres: stopped"
    return 1
}
