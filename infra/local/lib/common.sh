# shellcheck shell=bash
# Shared settings for the infra/local scripts. Sourced, never run.
# Everything built or fetched goes under STOREFLEET_CACHE (outside git, reused by
# every clone on this machine); everything a running stack writes goes under
# STOREFLEET_STATE.
set -euo pipefail

STOREFLEET_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
: "${STOREFLEET_CACHE:=${XDG_CACHE_HOME:-$HOME/.cache}/storefleet}"
: "${STOREFLEET_STATE:=$STOREFLEET_ROOT/.state/local}"
export STOREFLEET_ROOT STOREFLEET_CACHE STOREFLEET_STATE
export PATH="$STOREFLEET_CACHE/bin:$PATH"

# shellcheck source=process.sh
source "$(dirname "${BASH_SOURCE[0]}")/process.sh"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# use_go: puts a Go new enough for the repository's go.mod files first on PATH (the one on
# PATH, or the toolchain infra/deps/go.sh fetches when that one is too old or missing).
use_go() {
    local go
    go=$(bash "$STOREFLEET_ROOT/infra/deps/go.sh") || die "no usable Go (infra/deps/go.sh above)"
    PATH="$(dirname "$go"):$PATH"
    export PATH
}

# wait_for DESCRIPTION DEADLINE_SECONDS COMMAND...: polls COMMAND until it succeeds.
wait_for() {
    local what=$1 deadline=$2
    shift 2
    local start=$SECONDS
    until "$@" >/dev/null 2>&1; do
        if (( SECONDS - start >= deadline )); then
            log "timed out after ${deadline}s waiting for $what"
            return 1
        fi
        sleep 0.2
    done
}

# free_port [TAKEN...]: asks the kernel for a free loopback TCP port, other than the TAKEN ones.
# Ports picked together but bound later must be told apart: the kernel can hand out one just
# closed again (measured: 19 of 20,000 batches of 6 picks had a repeat).
free_port() {
    python3 - "$@" <<'PY'
import socket, sys
taken = set(sys.argv[1:])
while True:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = str(s.getsockname()[1])
    s.close()
    if port not in taken:
        print(port)
        break
PY
}

# kept_ports FILE NAME...: sets NAME=<port> for each NAME, chosen free the first time and
# kept in FILE (one line of NAME=PORT pairs) for good, so clients keep dialling the same ports
# across a stop and a start.
kept_ports() {
    local file=$1 name line="" port picked=()
    shift
    if [[ ! -f $file ]]; then
        for name in "$@"; do
            port=$(free_port "${picked[@]}")
            picked+=("$port")
            line+="$name=$port "
        done
        echo "${line% }" >"$file"
    fi
    # shellcheck disable=SC1090,SC2046
    eval $(cat "$file")
}

# port_in_use PORT: true when something could stop a server from listening on
# 127.0.0.1:PORT. The probe binds with SO_REUSEADDR, as every server here does
# (postgres, Kafka, the Go servers), so the TIME_WAIT sockets a server leaves for a
# minute after it stops do not count: they never stop it from listening again.
# A plain bind fails on them, and that used to move a restarted part to a new port.
port_in_use() {
    python3 - "$1" <<'PY'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(0)   # in use
finally:
    s.close()
sys.exit(1)
PY
}

# port_owner PORT: "pid 123 (java)" for whoever listens on 127.0.0.1:PORT, or "an
# unknown process" (another user's process, whose fds we may not read). Reads /proc
# directly, so it needs neither ss nor lsof.
port_owner() {
    python3 - "$1" <<'PY'
import os, sys
port = int(sys.argv[1])
inodes = set()
for table in ("/proc/net/tcp", "/proc/net/tcp6"):
    try:
        with open(table) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":  # LISTEN
                    inodes.add(fields[9])
    except OSError:
        pass
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:[") and link[8:-1] in inodes:
                with open(f"/proc/{pid}/comm") as f:
                    print(f"pid {pid} ({f.read().strip()})")
                sys.exit(0)
    except OSError:
        continue
print("an unknown process")
PY
}

# require_port PART PORT WHAT: a part keeps the ports it chose the first time, so that
# clients still running after a stop and a start find it where it was. If another
# process really holds one, fail naming the port and that process; never move.
require_port() {
    local part=$1 port=$2 what=$3
    if port_in_use "$port"; then
        die "$part: port $port ($what) on 127.0.0.1 is taken by $(port_owner "$port"); stop that process, or remove $STOREFLEET_STATE/$part to start afresh on new ports"
    fi
}
