#!/usr/bin/env bash
# tests/dashboard/refresh-screenshots.sh: refreshes the dashboard's screenshots in
# docs/screenshots on purpose (`make screenshots`); the tests never write there. Runs the
# browser test (e2e.mjs) on the local real stack (tests/with-stack: reuses a running one,
# else starts one and stops it after) with the binaries of $STOREFLEET_BUILD_DIR (default
# build/), into a scratch folder, and copies its PNGs over the tracked ones only if every step
# passed, so a failed run leaves docs/screenshots as it was. The real node's medusa-admin-*.png
# come from tests/real/medusa-order.sh: STOREFLEET_SCREENSHOTS="$PWD/docs/screenshots" make test-real.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
export STOREFLEET_ROOT="$root"
export STOREFLEET_BUILD_DIR="${STOREFLEET_BUILD_DIR:-$root/build}"
scratch="$(mktemp -d "${TMPDIR:-/tmp}/storefleet-screenshots.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT

STOREFLEET_SCREENSHOTS="$scratch" "$root/tests/with-stack" node "$root/tests/dashboard/e2e.mjs"

shopt -s nullglob
shots=("$scratch"/*.png)
if ((${#shots[@]} == 0)); then
    echo "refresh-screenshots: the browser test passed but wrote no screenshot" >&2
    exit 1
fi
cp "${shots[@]}" "$root/docs/screenshots/"
echo "refresh-screenshots: ${#shots[@]} screenshots copied to docs/screenshots (review with git diff --stat docs/screenshots)"
