#!/usr/bin/env bash
# make format: rewrites every C++ file with clang-format-14 (the reference version; config in
# .clang-format) and every Go file with gofmt. `make lint` checks the same without writing.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

require "$CLANG_FORMAT" "run make deps (Debian package clang-format-14)"
require gofmt "run make deps (the Go toolchain)"

mapfile -t cpp < <(cpp_files)
mapfile -t go < <(go_files)
if ((${#cpp[@]})); then
    printf '%s\0' "${cpp[@]}" | xargs -0 -n 20 -P "${JOBS:-2}" "$CLANG_FORMAT" -i
fi
if ((${#go[@]})); then
    gofmt -w "${go[@]}"
fi
lint_log "formatted ${#cpp[@]} C++ and ${#go[@]} Go files"
