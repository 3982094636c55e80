#!/usr/bin/env python3
"""The real-node rollout test's chart catalogue: the product's (charts/, as the build makes it)
plus one Medusa version that must never ship, FAILING_VERSION: the released medusa-store 0.2.1
with `dataMigration.failAfterMigrating: true`, so its migration Job commits its SQL and then
fails, and with a migration that records FAILING_VERSION in the store's
storefleet_schema_versions table (the data a restore must take back). A store upgraded to it
never becomes Ready; a rollout rolls it back and restores its backup (tests/real/medusa-rollout.sh).
Built with catalogue.py's --extra, so the version exists only in the catalogue written to OUT.

  rollout_catalogue.py OUT     writes OUT/index.json and the versions; prints OUT
"""
import os
import re
import sys
import tarfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "infra/charts"))
import catalogue  # noqa: E402

BASE_RELEASE = "charts/releases/medusa-store-0.2.1.tgz"
FAILING_VERSION = "9.0.0-fails-after-migrating"  # tests/real/medusa-rollout.sh names it too


def replace_once(path, pattern, replacement):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    text, count = re.subn(pattern, replacement, text, flags=re.M)
    if count != 1:
        raise SystemExit(f"rollout_catalogue: {os.path.relpath(path)} changed shape ({pattern!r} "
                         f"matched {count} times); update tests/real/rollout_catalogue.py")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def failing_chart(into):
    with tarfile.open(os.path.join(ROOT, BASE_RELEASE)) as tar:
        tar.extractall(into, filter="data")
    chart = os.path.join(into, "medusa-store")
    replace_once(os.path.join(chart, "Chart.yaml"), r"^version:.*$", f"version: {FAILING_VERSION}")
    values = os.path.join(chart, "values.yaml")
    replace_once(values, r"^(  failAfterMigrating:) false$", r"\1 true")
    replace_once(values, r"values \('0\.2\.1'\)", f"values ('{FAILING_VERSION}')")
    return chart


if __name__ == "__main__":
    catalogue.extra_version_main("rollout_catalogue", __doc__, failing_chart)
