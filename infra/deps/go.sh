#!/usr/bin/env bash
# Prints the path of a `go` command new enough for every go.mod in the repository, fetching
# the pinned Go toolchain from the Go module proxy when the go on PATH is missing or too old.
#
# Why: Debian 12's Go is 1.19, and our modules need the newest `go` line of their go.mod files
# (1.26 today). Go 1.19 predates GOTOOLCHAIN, so it cannot switch on its own; this script does
# what a newer go command would do: it downloads the module golang.org/toolchain at the pinned
# version, checks the zip's SHA-256 against the one written below, and unpacks it to
# $STOREFLEET_GO_CACHE (default ~/.cache/storefleet/go). The second run finds it there and
# needs no network. Every build that runs Go asks this script (CMake, infra/local/build-*.sh,
# infra/lint), so the same Go builds everything.
#
# Usage: infra/deps/go.sh            the go binary's path on stdout (progress on stderr)
#        infra/deps/go.sh --required the Go version the repository's go.mod files require
# Environment: STOREFLEET_GO_CACHE, GOPROXY (its first https entry; default proxy.golang.org).
set -euo pipefail

# The toolchain fetched when the go on PATH is too old, and its zip's SHA-256 per platform (the
# module proxy's bytes; sum.golang.org cannot be reached from the build machines, so the hashes
# are pinned here). To move to another version, fetch both zips and write their hashes.
TOOLCHAIN_VERSION=1.27.3
declare -A TOOLCHAIN_SHA256=(
    [linux-amd64]=af4c06478303fdd1bfb335fab86c7ccb9b12e529044a946a16a1c4bcc779f8d7
    [linux-arm64]=0ec0774cad42ecf4df82691146ee0b10c303ea594f163acb1737baedd5cc2835
)

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cache="${STOREFLEET_GO_CACHE:-$HOME/.cache/storefleet/go}"

say() { printf 'go.sh: %s\n' "$*" >&2; }
die() {
    say "error: $*"
    exit 1
}

# "1.26.0" -> "001026000": versions compare as strings.
version_key() {
    local major minor patch
    IFS=. read -r major minor patch <<<"$1"
    printf '%03d%03d%03d' "${major:-0}" "${minor:-0}" "${patch:-0}"
}

# The newest `go X.Y[.Z]` line among the repository's go.mod files.
required_version() {
    local newest="" file version
    while IFS= read -r file; do
        version=$(awk '$1 == "go" { print $2; exit }' "$file")
        [[ -n $version ]] || continue
        if [[ -z $newest || $(version_key "$version") > $(version_key "$newest") ]]; then
            newest=$version
        fi
    done < <(find "$root/services" "$root/infra" -name go.mod -not -path '*/node_modules/*' 2>/dev/null)
    [[ -n $newest ]] || die "no go.mod found under $root/services or $root/infra"
    printf '%s\n' "$newest"
}

# "go version go1.19.8 linux/amd64" -> "1.19.8"; empty when the command does not answer.
version_of() {
    "$1" version 2>/dev/null | awk '{ sub(/^go/, "", $3); print $3 }' | sed 's/[^0-9.].*//'
}

new_enough() {  # new_enough GO REQUIRED
    local have
    have=$(version_of "$1")
    [[ -n $have && ! $(version_key "$have") < $(version_key "$2") ]]
}

download() {  # download URL FILE
    if command -v curl >/dev/null; then
        curl -fsSL --retry 3 -o "$2" "$1"
    elif command -v python3 >/dev/null; then
        python3 -c 'import sys, urllib.request; urllib.request.urlretrieve(sys.argv[1], sys.argv[2])' "$1" "$2"
    else
        die "neither curl nor python3 is installed: run 'make deps-apt' first"
    fi
}

unzip_to() {  # unzip_to ZIP DIR
    if command -v unzip >/dev/null; then
        unzip -q "$1" -d "$2"
    else
        python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' "$1" "$2"
    fi
}

fetch_toolchain() {  # fetch_toolchain DIR: unpacks the pinned toolchain so that DIR/bin/go exists
    local dir=$1 platform sha proxy url tmp
    platform="linux-$(dpkg --print-architecture 2>/dev/null || uname -m)"
    platform=${platform/x86_64/amd64}
    platform=${platform/aarch64/arm64}
    sha=${TOOLCHAIN_SHA256[$platform]:-}
    [[ -n $sha ]] || die "no pinned Go toolchain for $platform: install Go $(required_version) or newer"
    proxy=${GOPROXY:-https://proxy.golang.org}
    proxy=${proxy%%[,|]*}
    [[ $proxy == http* ]] || proxy=https://proxy.golang.org
    url="${proxy%/}/golang.org/toolchain/@v/v0.0.1-go$TOOLCHAIN_VERSION.$platform.zip"
    mkdir -p "$cache"
    tmp=$(mktemp -d "$cache/.fetch.XXXXXX")
    # shellcheck disable=SC2064  # expand now: the folder of this fetch
    trap "rm -rf '$tmp'" EXIT
    say "fetching Go $TOOLCHAIN_VERSION ($platform) from $proxy"
    download "$url" "$tmp/toolchain.zip" || die "could not download $url"
    if [[ $(sha256sum "$tmp/toolchain.zip" | cut -d' ' -f1) != "$sha" ]]; then
        die "$url does not have the pinned SHA-256 $sha: refused"
    fi
    unzip_to "$tmp/toolchain.zip" "$tmp/unpacked"
    local top="$tmp/unpacked/golang.org/toolchain@v0.0.1-go$TOOLCHAIN_VERSION.$platform"
    [[ -f $top/bin/go ]] || die "$url has no bin/go"
    # Module zips keep no file modes; the go command marks these executable itself.
    chmod -R a+x "$top/bin" "$top/pkg/tool"
    rm -rf "$dir"
    mv "$top" "$dir"
    say "Go $TOOLCHAIN_VERSION unpacked in $dir"
}

main() {
    local required
    required=$(required_version)
    if [[ ${1:-} == --required ]]; then
        printf '%s\n' "$required"
        return
    fi
    local on_path toolchain_dir="$cache/go$TOOLCHAIN_VERSION"
    on_path=$(command -v go || true)
    if [[ -n $on_path ]] && new_enough "$on_path" "$required"; then
        printf '%s\n' "$on_path"
        return
    fi
    if [[ -x $toolchain_dir/bin/go ]] && new_enough "$toolchain_dir/bin/go" "$required"; then
        printf '%s\n' "$toolchain_dir/bin/go"
        return
    fi
    [[ $(version_key "$TOOLCHAIN_VERSION") < $(version_key "$required") ]] &&
        die "the pinned toolchain $TOOLCHAIN_VERSION is older than the go.mod files' $required: update infra/deps/go.sh"
    if [[ -n $on_path ]]; then
        say "$on_path is Go $(version_of "$on_path"), older than the $required the go.mod files need"
    else
        say "no go on PATH"
    fi
    # One fetch at a time (two builds may start together); the second finds the first's.
    mkdir -p "$cache"
    exec 9>"$cache/.lock"
    flock 9
    [[ -x $toolchain_dir/bin/go ]] || fetch_toolchain "$toolchain_dir"
    new_enough "$toolchain_dir/bin/go" "$required" || die "$toolchain_dir/bin/go does not run"
    printf '%s\n' "$toolchain_dir/bin/go"
}

main "$@"
