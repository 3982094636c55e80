#!/usr/bin/env bash
# infra/deps/go.sh on a machine whose Go is Debian 12's 1.19 (too old for our go.mod files, and
# without GOTOOLCHAIN): it must fetch the pinned toolchain from the Go module proxy, check it,
# and give a go that builds a module needing Go 1.22+; a second run must need no network; a
# zip whose bytes differ from the pinned hash must be refused and leave nothing behind.
# Needs the Debian archive (apt-get download) and the Go module proxy, as `make deps` does.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
work=$(mktemp -d)
server_pid=""
cleanup() {
    [[ -z $server_pid ]] || kill "$server_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# Debian's golang-1.19-go, unpacked (no root needed); the .deb is kept in the cache.
debs="$HOME/.cache/storefleet/debs"
mkdir -p "$debs"
if [[ -z $(find "$debs" -name 'golang-1.19-go_*.deb') ]]; then
    (cd "$debs" && apt-get download golang-1.19-go >/dev/null 2>&1) ||
        fail "apt-get download golang-1.19-go failed (is the Debian archive reachable?)"
fi
dpkg -x "$(find "$debs" -name 'golang-1.19-go_*.deb' | head -1)" "$work/debian"
old_go_dir="$work/debian/usr/lib/go-1.19/bin"
"$old_go_dir/go" version | grep -q 'go1\.19\.' || fail "the Debian package did not give Go 1.19"

# Only Debian's Go 1.19 on PATH (plus the base system), and an empty toolchain cache.
base_path="$old_go_dir:/usr/sbin:/usr/bin:/sbin:/bin"
export STOREFLEET_GO_CACHE="$work/cache"

echo "== first run: Go 1.19 on PATH, nothing cached"
go_command=$(PATH=$base_path bash "$root/infra/deps/go.sh" 2>"$work/first.err") ||
    fail "go.sh failed: $(cat "$work/first.err")"
cat "$work/first.err"
grep -q 'is Go 1.19.8, older than' "$work/first.err" || fail "go.sh did not say why Go 1.19 was not used"
[[ $go_command == "$work/cache/"*/bin/go ]] || fail "go.sh chose $go_command, not the fetched toolchain"
required=$(bash "$root/infra/deps/go.sh" --required)
have=$("$go_command" version | awk '{ print $3 }')
echo "required go$required, fetched $have"
[[ $(printf '%s\n%s\n' "go$required" "$have" | sort -V | head -1) == "go$required" ]] ||
    fail "fetched $have is older than the required go$required"

echo "== the fetched go builds a module that needs Go 1.22 (range over an int)"
mkdir -p "$work/module"
cat >"$work/module/go.mod" <<'MOD'
module example.com/needsnewgo

go 1.22
MOD
cat >"$work/module/main.go" <<'SRC'
package main

import "fmt"

func main() {
	total := 0
	for i := range 4 {
		total += i
	}
	fmt.Println(total)
}
SRC
out=$(cd "$work/module" && PATH=$base_path GOTOOLCHAIN=local GOFLAGS=-mod=mod \
    "$go_command" run .) || fail "the fetched go could not build the module"
[[ $out == 6 ]] || fail "the module printed '$out', not 6"

echo "== second run: found in the cache, with the network cut (a proxy that refuses)"
second=$(PATH=$base_path GOPROXY=http://127.0.0.1:9 bash "$root/infra/deps/go.sh" 2>"$work/second.err") ||
    fail "second run failed: $(cat "$work/second.err")"
[[ $second == "$go_command" ]] || fail "second run chose $second"
! grep -q fetching "$work/second.err" || fail "second run fetched again"

echo "== a toolchain zip that does not match the pinned hash is refused"
mkdir -p "$work/proxy/golang.org/toolchain/@v"
for platform in linux-amd64 linux-arm64; do
    version=$(grep -m1 '^TOOLCHAIN_VERSION=' "$root/infra/deps/go.sh" | cut -d= -f2)
    python3 - "$work/proxy/golang.org/toolchain/@v/v0.0.1-go$version.$platform.zip" "$version" "$platform" <<'PY'
import sys, zipfile
path, version, platform = sys.argv[1:]
with zipfile.ZipFile(path, "w") as z:
    z.writestr(f"golang.org/toolchain@v0.0.1-go{version}.{platform}/bin/go", "#!/bin/sh\necho tampered\n")
PY
done
port_file="$work/port"
python3 - "$work/proxy" "$port_file" <<'PY' &
import functools, http.server, sys
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[1])
server = http.server.HTTPServer(("127.0.0.1", 0), handler)
open(sys.argv[2], "w").write(str(server.server_port))
server.serve_forever()
PY
server_pid=$!
for _ in $(seq 50); do [[ -s $port_file ]] && break; sleep 0.1; done
[[ -s $port_file ]] || fail "the local proxy did not start"
export STOREFLEET_GO_CACHE="$work/cache-tampered"
if PATH=$base_path GOPROXY="http://127.0.0.1:$(cat "$port_file")" bash "$root/infra/deps/go.sh" \
    >"$work/tampered.out" 2>"$work/tampered.err"; then
    fail "a tampered toolchain was accepted: $(cat "$work/tampered.out")"
fi
cat "$work/tampered.err"
grep -q 'does not have the pinned SHA-256' "$work/tampered.err" || fail "no hash refusal in the message"
[[ -z $(find "$work/cache-tampered" -name go -type f) ]] || fail "the tampered toolchain was left in the cache"
echo "PASS"
