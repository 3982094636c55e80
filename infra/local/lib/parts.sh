# shellcheck shell=bash
# Loads every part of the local stack; sourced after common.sh.
# shellcheck disable=SC2034  # read by up, down and status, which source this file
ALL_PARTS=(postgres kafka k8s)
_parts_dir="$(dirname "${BASH_SOURCE[0]}")/../parts"
# shellcheck source=../parts/postgres.sh
source "$_parts_dir/postgres.sh"
# shellcheck source=../parts/kafka.sh
source "$_parts_dir/kafka.sh"
# shellcheck source=../parts/k8s.sh
source "$_parts_dir/k8s.sh"
# The real node is not in ALL_PARTS: off by default, `infra/local/up real-node` starts it.
# shellcheck source=../parts/realnode.sh
source "$_parts_dir/realnode.sh"

# write_env: $STOREFLEET_STATE/env = every running part's env.d file, for `source`.
write_env() {
    mkdir -p "$STOREFLEET_STATE/env.d"
    local tmp="$STOREFLEET_STATE/env.tmp"
    (umask 077 && { echo "STOREFLEET_STATE=$STOREFLEET_STATE"; cat "$STOREFLEET_STATE"/env.d/* 2>/dev/null; } |
        sed 's/^/export /' >"$tmp") || true
    mv "$tmp" "$STOREFLEET_STATE/env"
}
