#!/usr/bin/env python3
"""The store charts' catalogue: every version of each store chart the platform can install.

A version is immutable once released. The released versions are packaged charts in
charts/releases/<chart>-<version>.tgz (the layout `helm package` makes: one top folder named
after the chart); the working tree's chart (charts/<chart>) is the engine's current version,
the default for new stores. If the working tree's version is also released, the two must hold
the same files: a chart changed without a version bump is refused.

  catalogue.py build --charts DIR --out DIR   unpack every version to OUT/<chart>/<version>/
                                              and write OUT/index.json (what services read)
  catalogue.py check --charts DIR             the same checks, nothing written
  ... build|check --extra DIR                 also a version from a chart folder outside charts/
                                              (repeatable; never a default): how a test adds a
                                              version the product must not ship
  catalogue.py release --charts DIR CHART     package the working tree's CHART as a release
                                              (refused if that version is released already)

index.json: {"engines": {"<engine>": {"chart": NAME, "default": VERSION, "versions":
{VERSION: {"dir": ABSOLUTE DIR, "migrates_data": BOOL, "app_version": TEXT}}}}}.
A version whose Chart.yaml has the annotation storefleet.io/migrates-data: "true" migrates the
store's data when installed over an older one (rollouts back the data up first).
"""
import argparse
import fnmatch
import gzip
import io
import json
import os
import re
import shutil
import sys
import tarfile
import tempfile

ENGINE_CHARTS = {"woocommerce": "woocommerce-store", "medusa": "medusa-store"}
MIGRATES_DATA = "storefleet.io/migrates-data"
RELEASE_NAME = re.compile(r"^(?P<chart>[a-z0-9-]+?)-(?P<version>\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?)\.tgz$")


class CatalogueError(Exception):
    pass


def chart_yaml_fields(text):
    """name, version, appVersion and the migrates-data annotation of a Chart.yaml (the few
    top-level scalars it needs; no YAML library in the build)."""
    fields = {}
    in_annotations = False
    for line in text.splitlines():
        if re.match(r"^\S", line):
            in_annotations = line.startswith("annotations:")
        match = re.match(r"^(name|version|appVersion):\s*\"?([^\"#\s]+)\"?", line)
        if match:
            fields[match.group(1)] = match.group(2)
        match = re.match(r"^\s+\"?" + re.escape(MIGRATES_DATA) + r"\"?:\s*\"?(\w+)\"?", line)
        if in_annotations and match:
            fields["migrates_data"] = match.group(1) == "true"
    for required in ("name", "version"):
        if required not in fields:
            raise CatalogueError(f"Chart.yaml has no {required}")
    fields.setdefault("migrates_data", False)
    return fields


def ignore_patterns(chart_dir):
    path = os.path.join(chart_dir, ".helmignore")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [line.strip() for line in f if line.strip() and not line.startswith("#")]


def ignored(relative, patterns):
    parts = relative.split("/")
    for pattern in patterns:
        if pattern.endswith("/"):
            if pattern.rstrip("/") in parts[:-1] or any(fnmatch.fnmatch(p, pattern.rstrip("/")) for p in parts[:-1]):
                return True
        elif fnmatch.fnmatch(parts[-1], pattern) or fnmatch.fnmatch(relative, pattern):
            return True
    return False


def tree_files(chart_dir):
    """{relative path: bytes} of a chart folder, without what its .helmignore names."""
    patterns = ignore_patterns(chart_dir)
    files = {}
    for root, dirs, names in os.walk(chart_dir):
        dirs.sort()
        for name in sorted(names):
            full = os.path.join(root, name)
            relative = os.path.relpath(full, chart_dir).replace(os.sep, "/")
            if not ignored(relative, patterns):
                with open(full, "rb") as f:
                    files[relative] = f.read()
    return files


def release_files(path, chart):
    """{relative path: bytes} of a packaged chart (its one top folder stripped)."""
    files = {}
    with tarfile.open(path, "r:gz") as tar:
        for member in tar.getmembers():
            if not member.isfile():
                continue
            top, _, relative = member.name.partition("/")
            if top != chart or not relative or relative.startswith("/") or ".." in relative.split("/"):
                raise CatalogueError(f"{os.path.basename(path)}: unexpected member {member.name}")
            files[relative] = tar.extractfile(member).read()
    return files


def package(files, chart):
    """A reproducible .tgz of the files under one folder named after the chart."""
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as gz:
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for relative in sorted(files):
                info = tarfile.TarInfo(f"{chart}/{relative}")
                info.size = len(files[relative])
                info.mode = 0o644
                info.mtime = 0
                tar.addfile(info, io.BytesIO(files[relative]))
    return buffer.getvalue()


def collect(charts_dir, extra_dirs=()):
    """Every version of each engine's chart: {engine: {version: (files, fields)}} and the
    default version of each, with the immutability checks. `extra_dirs`: chart folders added as
    more versions (never a default; refused if their version is in the catalogue already)."""
    releases_dir = os.path.join(charts_dir, "releases")
    catalogue = {engine: {} for engine in ENGINE_CHARTS}
    by_chart = {chart: engine for engine, chart in ENGINE_CHARTS.items()}
    for name in sorted(os.listdir(releases_dir)) if os.path.isdir(releases_dir) else []:
        if not name.endswith(".tgz"):
            continue
        match = RELEASE_NAME.match(name)
        if not match or match.group("chart") not in by_chart:
            raise CatalogueError(f"charts/releases/{name}: not <store chart>-<version>.tgz")
        files = release_files(os.path.join(releases_dir, name), match.group("chart"))
        if "Chart.yaml" not in files:
            raise CatalogueError(f"charts/releases/{name}: no Chart.yaml")
        fields = chart_yaml_fields(files["Chart.yaml"].decode())
        if (fields["name"], fields["version"]) != (match.group("chart"), match.group("version")):
            raise CatalogueError(f"charts/releases/{name}: its Chart.yaml says {fields['name']} {fields['version']}")
        catalogue[by_chart[fields["name"]]][fields["version"]] = (files, fields)
    defaults = {}
    for engine, chart in ENGINE_CHARTS.items():
        chart_dir = os.path.join(charts_dir, chart)
        if not os.path.exists(os.path.join(chart_dir, "Chart.yaml")):
            continue
        files = tree_files(chart_dir)
        fields = chart_yaml_fields(files["Chart.yaml"].decode())
        released = catalogue[engine].get(fields["version"])
        if released is not None and released[0] != files:
            changed = sorted(set(files) ^ set(released[0]) | {p for p in files if released[0].get(p) not in (None, files[p])})
            raise CatalogueError(
                f"charts/{chart} differs from its released version {fields['version']} "
                f"(charts/releases/{chart}-{fields['version']}.tgz) in {', '.join(changed[:5])}: a released "
                f"version is immutable; bump version in charts/{chart}/Chart.yaml")
        catalogue[engine][fields["version"]] = (files, fields)
        defaults[engine] = fields["version"]
    for extra_dir in extra_dirs:
        files = tree_files(extra_dir)
        if "Chart.yaml" not in files:
            raise CatalogueError(f"{extra_dir}: no Chart.yaml")
        fields = chart_yaml_fields(files["Chart.yaml"].decode())
        if fields["name"] not in by_chart:
            raise CatalogueError(f"{extra_dir}: {fields['name']} is not a store chart")
        versions = catalogue[by_chart[fields["name"]]]
        if fields["version"] in versions:
            raise CatalogueError(f"{extra_dir}: {fields['name']} {fields['version']} is in the catalogue already")
        versions[fields["version"]] = (files, fields)
    return catalogue, defaults


def build(charts_dir, out_dir, extra_dirs=()):
    catalogue, defaults = collect(charts_dir, extra_dirs)
    out_dir = os.path.abspath(out_dir)
    staging = out_dir + ".new"
    shutil.rmtree(staging, ignore_errors=True)
    index = {"engines": {}}
    for engine, versions in catalogue.items():
        if engine not in defaults:
            continue
        chart = ENGINE_CHARTS[engine]
        entry = {"chart": chart, "default": defaults[engine], "versions": {}}
        for version, (files, fields) in sorted(versions.items()):
            target = os.path.join(staging, chart, version)
            for relative, data in files.items():
                path = os.path.join(target, relative)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "wb") as f:
                    f.write(data)
            entry["versions"][version] = {
                "dir": os.path.join(out_dir, chart, version),
                "migrates_data": fields["migrates_data"],
                "app_version": fields.get("appVersion", ""),
            }
        index["engines"][engine] = entry
    os.makedirs(staging, exist_ok=True)
    with open(os.path.join(staging, "index.json"), "w") as f:
        json.dump(index, f, indent=2, sort_keys=True)
        f.write("\n")
    shutil.rmtree(out_dir, ignore_errors=True)
    os.rename(staging, out_dir)
    return index


def release(charts_dir, chart):
    if chart not in ENGINE_CHARTS.values():
        raise CatalogueError(f"{chart} is not a store chart ({', '.join(ENGINE_CHARTS.values())})")
    files = tree_files(os.path.join(charts_dir, chart))
    version = chart_yaml_fields(files["Chart.yaml"].decode())["version"]
    path = os.path.join(charts_dir, "releases", f"{chart}-{version}.tgz")
    if os.path.exists(path):
        raise CatalogueError(f"{path} exists: {chart} {version} is released; bump version in Chart.yaml first")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(package(files, chart))
    return path


def extra_version_main(tool, usage, make_chart):
    """main() of a test's own catalogue (tests/faults/test_catalogue.py,
    tests/real/rollout_catalogue.py): `tool OUT` builds the product's catalogue into OUT plus the
    one chart folder `make_chart(work_dir)` returns, and prints OUT."""
    if len(sys.argv) != 2:
        raise SystemExit(usage)
    out = os.path.abspath(sys.argv[1])
    charts = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "charts")
    with tempfile.TemporaryDirectory() as work:
        try:
            build(charts, out, [make_chart(work)])
        except CatalogueError as error:
            raise SystemExit(f"{tool}: {error}")
    print(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["build", "check", "release"])
    parser.add_argument("chart", nargs="?")
    parser.add_argument("--charts", default="charts")
    parser.add_argument("--out")
    parser.add_argument("--extra", action="append", default=[], metavar="DIR")
    args = parser.parse_args()
    try:
        if args.command == "build":
            if not args.out:
                parser.error("build needs --out")
            index = build(args.charts, args.out, args.extra)
            summary = "; ".join(f"{e} {', '.join(v['versions'])} (default {v['default']})" for e, v in index["engines"].items())
            print(f"chart catalogue in {args.out}: {summary}")
        elif args.command == "check":
            catalogue, defaults = collect(args.charts, args.extra)
            print("chart catalogue: " + "; ".join(f"{e} {', '.join(sorted(v))} (default {defaults.get(e)})" for e, v in catalogue.items()))
        else:
            if not args.chart:
                parser.error("release needs a chart name")
            print(release(args.charts, args.chart))
    except CatalogueError as error:
        print(f"chart catalogue: {error}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
