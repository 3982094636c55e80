# shellcheck shell=bash
# Shared by the infra/lint scripts. Sourced, never run.
# Lists the files each check covers: tracked files plus new ones not yet added (so a file is
# checked before its first commit), never ignored ones (build folders, node_modules), and only
# those that exist in the working tree.
set -euo pipefail

STOREFLEET_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$STOREFLEET_ROOT"

CLANG_FORMAT=${CLANG_FORMAT:-clang-format-14}
CLANG_TIDY=${CLANG_TIDY:-clang-tidy-14}

lint_log() { printf 'lint: %s\n' "$*" >&2; }

# go and gofmt: the Go that builds the repository (infra/deps/go.sh), first on PATH, so that
# gofmt and go vet are the same version as the builds.
if go_command=$(bash infra/deps/go.sh); then
    PATH="$(dirname "$go_command"):$PATH"
fi

# repo_files PATHSPEC...: the files matching PATHSPEC, one per line.
repo_files() {
    local file
    git ls-files --cached --others --exclude-standard -- "$@" | sort -u | while IFS= read -r file; do
        [[ -f $file ]] && printf '%s\n' "$file"
    done
}

# Generated or third-party code is not ours to format or lint.
not_generated() { grep -vE '(^|/)(third_party|vendor|generated)/|\.pb\.(h|cc)$' || true; }

cpp_files() { repo_files '*.cpp' '*.hpp' '*.h' | not_generated; }
go_files() { repo_files '*.go' | not_generated; }

# shell_files: every *.sh, plus the extensionless scripts whose first line names bash or sh.
shell_files() {
    local file
    repo_files '*.sh' | not_generated
    repo_files | not_generated | while IFS= read -r file; do
        [[ ${file##*/} == *.* ]] && continue
        head -n1 "$file" 2>/dev/null | grep -qE '^#!.*\b(bash|sh)\b' && printf '%s\n' "$file"
    done
    return 0
}

# require TOOL HINT: fails with HINT when TOOL is not installed.
require() {
    command -v "$1" >/dev/null 2>&1 && return 0
    lint_log "$1 is not installed: $2"
    return 1
}
