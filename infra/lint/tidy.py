#!/usr/bin/env python3
"""clang-tidy over the build's compile_commands.json, with each file's result cached.

A full run takes 15-25 minutes on 2 cores, so each translation unit's result (its findings,
or none) is kept in the cache under a hash of everything that can change it:

  - the clang-tidy version, the .clang-tidy config and this script's own clang-tidy options;
  - the file's compile command, with the source and build folders written as placeholders
    (so every clone on the machine shares the cache);
  - the file itself and every header it includes, transitively, from this repository or
    the build folder (the generated protobuf headers, so a .proto change counts).

Includes are found by reading `#include` lines and resolving them the way the compiler does
(the including file's folder for "...", then the -I/-iquote/-isystem folders). That errs on
the safe side: an include inside an `#if` counts even when the branch is not compiled. System
headers are not hashed (the clang-tidy version stands for the toolchain; after a Debian
upgrade of a library, run with --all).

Usage: tidy.py [--build-dir DIR] [--jobs N] [--all] [FILE...]
Exit status: 0 when no file has a finding, 1 when some do, 2 when it cannot run.
"""

import argparse
import concurrent.futures
import hashlib
import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Bump when the way results are produced changes, so old results are not reused.
RUNNER_VERSION = "1"
# The compile commands are GCC's; clang does not know some of its warning options.
TIDY_EXTRA_ARGS = ["--quiet", "--extra-arg=-Wno-unknown-warning-option"]
INCLUDE_LINE = re.compile(rb'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.MULTILINE)
FINDING = re.compile(r"^(?P<where>[^\s:][^:]*:\d+:\d+): (?P<kind>warning|error): (?P<text>.*)$")
GENERATED = re.compile(r"(^|/)(third_party|vendor|generated)/|\.pb\.(h|cc)$")
CACHE_UNUSED_DAYS = 30


def fail(message):
    print(f"lint: clang-tidy: {message}", file=sys.stderr)
    sys.exit(2)


def digest(data):
    return hashlib.sha256(data).hexdigest()


class IncludeGraph:
    """The repository and build-folder headers a file includes, transitively."""

    def __init__(self, roots):
        self.roots = [str(r) + os.sep for r in roots]
        self.names = {}  # file -> [(kind, name)] read from its #include lines
        self.contents = {}  # file -> sha256 of its bytes

    def ours(self, path):
        return any(str(path).startswith(r) for r in self.roots)

    def read(self, path):
        if path not in self.names:
            data = path.read_bytes()
            self.contents[path] = digest(data)
            self.names[path] = [(m.group(1), m.group(2).decode()) for m in INCLUDE_LINE.finditer(data)]
        return self.names[path]

    def closure(self, source, search_dirs):
        seen = {source}
        pending = [source]
        while pending:
            current = pending.pop()
            for kind, name in self.read(current):
                dirs = ([current.parent] if kind == '"' else []) + search_dirs
                for folder in dirs:
                    candidate = Path(os.path.normpath(folder / name))
                    if candidate.is_file():
                        if self.ours(candidate) and candidate not in seen:
                            seen.add(candidate)
                            pending.append(candidate)
                        break
        return seen


def command_arguments(entry):
    if "arguments" in entry:
        return list(entry["arguments"])
    return shlex.split(entry["command"])


def search_dirs(arguments, directory):
    dirs = []
    flags = ("-I", "-iquote", "-isystem")
    i = 0
    while i < len(arguments):
        arg = arguments[i]
        for flag in flags:
            if arg == flag and i + 1 < len(arguments):
                dirs.append(arguments[i + 1])
                i += 1
                break
            if arg.startswith(flag) and len(arg) > len(flag):
                dirs.append(arg[len(flag):])
                break
        i += 1
    return [Path(os.path.normpath(Path(directory) / d)) for d in dirs]


def normalized(text, build_dir):
    # Build folder first: it may lie inside the source folder.
    return text.replace(str(build_dir), "<build>").replace(str(ROOT), "<root>")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build-dir", default=os.environ.get("BUILD_DIR", "build"))
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("JOBS", "2")))
    parser.add_argument("--cache", default=os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "storefleet", "lint"))
    parser.add_argument("--clang-tidy", default=os.environ.get("CLANG_TIDY", "clang-tidy-14"))
    parser.add_argument("--all", action="store_true", help="ignore cached results")
    parser.add_argument("files", nargs="*", help="only these sources (default: every one)")
    args = parser.parse_args()

    build_dir = (ROOT / args.build_dir).resolve()
    database = build_dir / "compile_commands.json"
    if not database.is_file():
        fail(f"{database} is missing: configure the build first (cmake -S . -B {args.build_dir} -G Ninja)")
    config = ROOT / ".clang-tidy"
    try:
        version = subprocess.run([args.clang_tidy, "--version"], capture_output=True, text=True,
                                 check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        fail(f"{args.clang_tidy} is not installed: run make deps (Debian package clang-tidy-14)")

    wanted = {(ROOT / f).resolve() for f in args.files}
    entries = {}
    for entry in json.loads(database.read_text()):
        source = Path(os.path.normpath(Path(entry["directory"]) / entry["file"]))
        relative = os.path.relpath(source, ROOT)
        if relative.startswith("..") or source.is_relative_to(build_dir) or GENERATED.search(relative):
            continue
        if wanted and source not in wanted:
            continue
        if source.is_file():
            entries.setdefault(source, entry)
    if not entries:
        fail("no source file to check in " + str(database))

    graph = IncludeGraph([ROOT])
    shared = digest("\0".join([RUNNER_VERSION, version, config.read_text() if config.exists() else "",
                               " ".join(TIDY_EXTRA_ARGS)]).encode())
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)

    jobs = []
    for source, entry in sorted(entries.items()):
        arguments = command_arguments(entry)
        headers = graph.closure(source, search_dirs(arguments, entry["directory"]))
        parts = [shared, normalized(" ".join(arguments), build_dir), os.path.relpath(source, ROOT)]
        for path in sorted(headers):
            parts.append(normalized(str(path), build_dir) + "=" + graph.contents[path])
        jobs.append((source, digest("\n".join(parts).encode())))

    # The generated headers must exist, or every file that includes one fails to parse.
    generated_dir = build_dir / "proto"
    if generated_dir.is_dir() and not any(generated_dir.rglob("*.pb.h")):
        fail("the protobuf headers are not generated: run infra/lint/lint.sh tidy (it generates them)")

    def check(job):
        source, key = job
        cached = cache / key[:2] / (key + ".json")
        if not args.all and cached.is_file():
            os.utime(cached)
            return source, json.loads(cached.read_text()), True
        run = subprocess.run([args.clang_tidy, *TIDY_EXTRA_ARGS, "-p", str(build_dir), str(source)],
                             capture_output=True, text=True, cwd=ROOT)
        lines = [line.replace(str(ROOT) + "/", "").replace(",-warnings-as-errors]", "]")
                 for line in (run.stdout + run.stderr).splitlines()]
        result = {"file": os.path.relpath(source, ROOT), "rc": run.returncode,
                  "output": [line for line in lines if not re.match(r"^\d+ (warnings?|errors?) generated", line)]}
        cached.parent.mkdir(exist_ok=True)
        temporary = cached.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(result))
        temporary.replace(cached)
        return source, result, False

    build_prefix = os.path.relpath(build_dir, ROOT) + os.sep

    def ours(line):
        # Headers generated into the build folder are not ours to fix.
        where = FINDING.match(line).group("where")
        return not where.startswith(("/", build_prefix, ".."))

    started = time.monotonic()
    from_cache = 0
    failed_files = []
    findings = {}  # "file:line:col: kind: text" -> first source that reported it
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for source, result, hit in pool.map(check, jobs):
            from_cache += hit
            relative = os.path.relpath(source, ROOT)
            reported = [line for line in result["output"] if FINDING.match(line) and ours(line)]
            if result["rc"] != 0 or reported:
                failed_files.append(relative)
            for line in reported:
                findings.setdefault(line, relative)
            if result["rc"] != 0 and not reported:
                print(f"{relative}: clang-tidy failed (exit {result['rc']}):", *result["output"][-20:], sep="\n")
    # A header's finding is reported by every file including it: print each once.
    for line in sorted(findings):
        print(line)

    for old in cache.glob("*/*.json"):
        if time.time() - old.stat().st_mtime > CACHE_UNUSED_DAYS * 86400:
            old.unlink(missing_ok=True)

    elapsed = time.monotonic() - started
    print(f"lint: clang-tidy: {len(jobs)} files ({len(jobs) - from_cache} checked, {from_cache} from the cache) "
          f"in {elapsed:.0f}s; {len(findings)} findings in {len(failed_files)} files", file=sys.stderr)
    return 1 if failed_files else 0


if __name__ == "__main__":
    sys.exit(main())
