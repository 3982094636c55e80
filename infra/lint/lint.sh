#!/usr/bin/env bash
# make lint: every style and static check, without changing a file. Each failing check says
# what failed and how to fix it; all checks run, and the exit status is 1 if any failed.
# Usage: infra/lint/lint.sh [CHECK...]   CHECK: format shell go ts tidy (default: all, in
# that order, the slow clang-tidy last). BUILD_DIR (default build) and JOBS (default 2) as
# in the Makefile.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-2}
failed=()

check_format() {
    require "$CLANG_FORMAT" "run make deps (Debian package clang-format-14)" || return 1
    require gofmt "run make deps (the Go toolchain)" || return 1
    local rc=0 unformatted
    mapfile -t cpp < <(cpp_files)
    # One line per file that would change (clang-format's own report is every violation).
    # shellcheck disable=SC2016  # $0 and $1 are the inner sh's arguments
    unformatted=$(printf '%s\0' "${cpp[@]}" | xargs -0 -r -n 1 -P "$JOBS" \
        sh -c '"$0" --dry-run --Werror "$1" >/dev/null 2>&1 || echo "$1"' "$CLANG_FORMAT")
    if [[ -n $unformatted ]]; then
        sort <<<"$unformatted"
        lint_log "$(wc -l <<<"$unformatted") C++ files above are not formatted: run make format" \
            "(clang-format-14 with .clang-format; '$CLANG_FORMAT --dry-run FILE' shows what changes)"
        rc=1
    fi
    mapfile -t go < <(go_files)
    if ((${#go[@]})); then
        unformatted=$(gofmt -l "${go[@]}")
        if [[ -n $unformatted ]]; then
            printf '%s\n' "$unformatted"
            lint_log "Go files above are not gofmt-formatted: run make format"
            rc=1
        fi
    fi
    return $rc
}

check_shell() {
    require shellcheck "run make deps (Debian package shellcheck)" || return 1
    local rc=0 file
    mapfile -t scripts < <(shell_files)
    for file in "${scripts[@]}"; do
        if ! bash -n "$file"; then
            lint_log "$file: syntax error (bash -n)"
            rc=1
        fi
    done
    # -x follows `source` lines to the files they name (a `# shellcheck source=` hint, relative
    # to the script's folder).
    if ! shellcheck -x --source-path=SCRIPTDIR -f gcc "${scripts[@]}"; then
        lint_log "shellcheck findings above: fix them (https://www.shellcheck.net/wiki/SC<code>), or" \
            "add '# shellcheck disable=SC<code>' with the reason on the line above"
        rc=1
    fi
    return $rc
}

# go vet on the helm agent, the Go code the services ship (infra/local/tools only pins the
# upstream tools the local stack builds).
check_go() {
    require go "run make deps (the Go toolchain)" || return 1
    local module=services/provisioner/helm-agent
    [[ -f $module/go.mod ]] || return 0
    if ! (cd "$module" && go vet ./...); then
        lint_log "go vet findings above in $module: fix them"
        return 1
    fi
}

check_ts() {
    [[ -f dashboard/package.json ]] || return 0
    if ! node -e 'process.exit(require("./dashboard/package.json").scripts?.typecheck ? 0 : 1)'; then
        lint_log "dashboard has no typecheck script yet; skipped"
        return 0
    fi
    if [[ ! -d dashboard/node_modules ]]; then
        lint_log "dashboard/node_modules is missing: run make dashboard (npm ci) first"
        return 1
    fi
    if ! (cd dashboard && npm run --silent typecheck); then
        lint_log "TypeScript errors above in dashboard/: fix them (npm run typecheck in dashboard/)"
        return 1
    fi
}

# clang-tidy reads the build's compile_commands.json and needs the generated sources: the
# protobuf headers, the embedded migrations and OpenAPI tables (every custom command's .h,
# .hpp, .cc or .cpp output in the Ninja build; nothing is compiled).
check_tidy() {
    if [[ ! -f $BUILD_DIR/compile_commands.json || ! -f $BUILD_DIR/build.ninja ]]; then
        lint_log "$BUILD_DIR is not a configured Ninja build: run make build (or" \
            "cmake -S . -B $BUILD_DIR -G Ninja)"
        return 1
    fi
    local generated=()
    mapfile -t generated < <(ninja -C "$BUILD_DIR" -t targets all |
        awk -F': ' '$2 == "CUSTOM_COMMAND" && $1 !~ /^\// && $1 !~ /CMakeFiles/ &&
                    $1 ~ /\.(h|hpp|cc|cpp)$/ { print $1 }')
    if ((${#generated[@]})) && ! ninja -C "$BUILD_DIR" "${generated[@]}" >/dev/null; then
        lint_log "cannot generate the sources clang-tidy needs: ninja -C $BUILD_DIR ${generated[*]}"
        return 1
    fi
    if ! python3 infra/lint/tidy.py --build-dir "$BUILD_DIR" --jobs "$JOBS"; then
        lint_log "clang-tidy findings above: fix them, or add '// NOLINT(<check>): <why>' where" \
            "the check is wrong; the checks are chosen in .clang-tidy"
        return 1
    fi
}

checks=("$@")
((${#checks[@]})) || checks=(format shell go ts tidy)
for check in "${checks[@]}"; do
    case $check in
        format | shell | go | ts | tidy) ;;
        *) lint_log "unknown check '$check' (format shell go ts tidy)"; exit 2 ;;
    esac
    started=$SECONDS
    if "check_$check"; then
        lint_log "$check: ok ($((SECONDS - started))s)"
    else
        lint_log "$check: FAILED ($((SECONDS - started))s)"
        failed+=("$check")
    fi
done
if ((${#failed[@]})); then
    lint_log "failed: ${failed[*]}"
    exit 1
fi
