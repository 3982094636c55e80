#!/usr/bin/env bash
# Installs the Debian packages storefleet needs, only those missing. Run as root (or with
# sudo available). The package list is the one source of truth for system dependencies.
set -euo pipefail
packages=(
    build-essential cmake ninja-build pkg-config git curl ca-certificates openssl python3
    librdkafka-dev libpistache-dev libpqxx-dev libprotobuf-dev protobuf-compiler
    libspdlog-dev nlohmann-json3-dev libyaml-cpp-dev libcurl4-openssl-dev libssl-dev
    libgtest-dev libgmock-dev
    libcli11-dev  # the storefleet tool's arguments, --help and --version
    prometheus-cpp-dev  # libs/metrics: the registry, metric types and text serializer behind the facade
    postgresql-15 postgresql-client-15
    openjdk-17-jre-headless maven  # Go: infra/deps/go.sh (Debian 12's Go 1.19 is too old)
    unzip  # infra/deps/go.sh unpacks the Go toolchain
    nginx-light
    wrk  # bench/: HTTP load (pgbench comes with postgresql-15)
    python3-yaml  # tests/platform-chart/ and the build (docs/openapi.yaml is embedded as JSON)
    python3-venv  # tests/contract/: schemathesis from PyPI in a cached venv
    nodejs npm chromium  # dashboard/: build (Vite) and its browser tests (playwright-core drives chromium)
    ccache  # the C++ build: a second build, or a build in another folder, reuses the objects
    clang-format-14 clang-tidy-14 shellcheck  # make format / make lint (docs/style.md)
)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Java may come from elsewhere on the machine; accept it.
if command -v java >/dev/null && grep -qE 'version "(1[7-9]|2[0-9])' <<<"$(java -version 2>&1)"; then
    missing=("${missing[@]/openjdk-17-jre-headless/}")
fi
if command -v mvn >/dev/null; then missing=("${missing[@]/maven/}"); fi
# Node may come from elsewhere too (NodeSource ships npm inside its nodejs); the dashboard needs 18+.
if command -v node >/dev/null && node -e 'process.exit(+process.versions.node.split(".")[0] >= 18 ? 0 : 1)'; then
    missing=("${missing[@]/nodejs/}")
    if command -v npm >/dev/null; then missing=("${missing[@]/npm/}"); fi
fi
read -r -a missing <<<"${missing[*]}"
if [[ ${#missing[@]} -eq 0 ]]; then
    echo "deps: all Debian packages present" >&2
    exit 0
fi
echo "deps: installing ${missing[*]}" >&2
SUDO=""
[[ $(id -u) -eq 0 ]] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The Debian postgresql package starts a system cluster on 5432; we run our own.
if [[ " ${missing[*]} " == *" postgresql-15 "* ]] && command -v pg_ctlcluster >/dev/null; then
    $SUDO pg_ctlcluster 15 main stop 2>/dev/null || true
fi
echo "deps: done" >&2
