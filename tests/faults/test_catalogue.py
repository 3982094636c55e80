#!/usr/bin/env python3
"""The fault suite's chart catalogue: the product's (charts/, as the build makes it) plus one
WooCommerce version that must never ship, BROKEN_VERSION: the working tree's chart whose
WordPress Deployment asks for a node no node is (a nodeSelector), so its new pod stays Pending
and a store upgraded to it never becomes Ready on KWOK. Only the Deployment: the setup Job's
pod template is immutable (an upgrade that changes it fails outright, not the "never Ready" this
version stands for), and a StatefulSet whose new pod never became Ready is not put back by
reverting its template (Kubernetes' "forced rollback"), which a rollback cannot do yet.
The rollout cases (case_rollout_*.cpp) roll a canary to it. Built with catalogue.py's --extra,
so the version exists only in the catalogue written to OUT.

  test_catalogue.py OUT     writes OUT/index.json and the versions; prints OUT
"""
import os
import re
import shutil
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "infra/charts"))
import catalogue  # noqa: E402

BROKEN_VERSION = "9.0.0-never-ready"  # case_rollout_broken.cpp names it too
NO_SUCH_NODE = "storefleet.io/fault-suite-no-such-node"


def broken_chart(into):
    chart = os.path.join(into, "woocommerce-store")
    shutil.copytree(os.path.join(ROOT, "charts/woocommerce-store"), chart)
    path = os.path.join(chart, "Chart.yaml")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    text, bumped = re.subn(r"(?m)^version:.*$", f"version: {BROKEN_VERSION}", text)
    deployment = os.path.join(chart, "templates", "wordpress-deployment.yaml")
    with open(deployment, encoding="utf-8") as f:
        template = f.read()
    template, pinned = re.subn(r"(?m)^(      automountServiceAccountToken: false\n)",
                               rf'\1      nodeSelector: {{{NO_SUCH_NODE}: "true"}}\n', template)
    if bumped != 1 or pinned != 1:
        raise SystemExit("test_catalogue: the WooCommerce chart changed shape (its version line or the "
                         "WordPress pod's automountServiceAccountToken line); update tests/faults/test_catalogue.py")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    with open(deployment, "w", encoding="utf-8") as f:
        f.write(template)
    return chart


if __name__ == "__main__":
    catalogue.extra_version_main("test_catalogue", __doc__, broken_chart)
