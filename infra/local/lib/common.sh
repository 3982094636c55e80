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

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

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

# free_port: asks the kernel for a free loopback TCP port.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
