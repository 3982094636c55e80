#!/usr/bin/env python3
"""A fleet rollout end to end (docs/decisions/0013-chart-versions-and-rollouts.md), on the real
platform with KWOK's simulated nodes.

Creates STOREFLEET_ROLLOUT_STORES (60 in `make test`; 200 for the issue's figure, run by hand)
WooCommerce stores through the front door, waits until
every one is ready, then as the platform admin rolls exactly those stores (selector.store_ids)
to the other WooCommerce chart version of the catalogue: a canary of 5, then waves of 25, 50
and 100 %, at most 20 at once. While it runs it checks, at each look, that no more than 20
stores are under way and that no store of a later wave has started while an earlier one is
open. At the end: the rollout is done with every store upgraded, each store's GET says the
target version (observed and desired) and ready, and each store's Helm release has exactly one
revision more than before (one upgrade each). Prints the install and upgrade rates of the run.
Deletes the stores. The stack's simulated nodes are sized for the other tests, so it adds
EXTRA_NODES KWOK nodes of the stack's own shape for its stores and removes them at the end.
Starts the platform with infra/local/platform unless it runs; needs the stack's environment
(tests/with-stack). Every wait has a deadline.
"""
import os
import secrets
import subprocess
import sys
import time
from collections import Counter

from e2e_support import PLATFORM, STATE, check, env_file, failures, request, wait

# 60 in make test: the canary and three waves all hold stores, and deleting them leaves the
# shared stack free for the fault suite within a minute or two (200 took minutes to delete on
# a loaded machine). STOREFLEET_ROLLOUT_STORES=200 is the run (docs/decisions/0013).
STORES = int(os.environ.get("STOREFLEET_ROLLOUT_STORES", "60"))
IN_FLIGHT = 20
# 32 CPUs each (infra/local/parts/k8s.sh); a small WooCommerce store requests about half a CPU.
EXTRA_NODES = max(1, (STORES + 63) // 64)
NODE = """apiVersion: v1
kind: Node
metadata:
  name: {name}
  labels: {{type: kwok, kubernetes.io/hostname: {name}, kubernetes.io/os: linux, kubernetes.io/arch: amd64, node-role.kubernetes.io/worker: ""}}
  annotations: {{node.alpha.kubernetes.io/ttl: "0", kwok.x-k8s.io/node: fake}}
status:
  allocatable: {{cpu: "32", memory: 128Gi, pods: "250", ephemeral-storage: 500Gi}}
  capacity: {{cpu: "32", memory: 128Gi, pods: "250", ephemeral-storage: 500Gi}}
  nodeInfo: {{architecture: amd64, operatingSystem: linux, kubeletVersion: fake, kubeProxyVersion: fake}}
"""


def helm_revisions():
    """Release records of every store namespace: {namespace: count}."""
    out = subprocess.run(["kubectl", "--request-timeout=60s", "get", "secrets", "-A", "-l",
                          "owner=helm,name=store", "-o", "jsonpath={range .items[*]}{.metadata.namespace}{\"\\n\"}{end}"],
                         capture_output=True, text=True, check=True).stdout
    return Counter(line for line in out.splitlines() if line.strip())


def add_nodes(names):
    manifest = "---\n".join(NODE.format(name=name) for name in names)
    subprocess.run(["kubectl", "--request-timeout=60s", "apply", "-f", "-"], input=manifest, text=True,
                   check=True, stdout=subprocess.DEVNULL)

    def ready():
        out = subprocess.run(["kubectl", "get", "nodes", *names, "--no-headers"], capture_output=True, text=True)
        return out.returncode == 0 and out.stdout.count(" Ready") == len(names)
    return wait(f"{len(names)} more KWOK nodes Ready", 120, ready)


def main():
    started = False
    if subprocess.run(["bash", PLATFORM, "status"], capture_output=True).returncode != 0:
        subprocess.run(["bash", PLATFORM, "up"], check=True, stdout=subprocess.DEVNULL)
        started = True
    ids = []
    base = token = None
    suffix = secrets.token_hex(2)
    nodes = [f"kwok-rollout-{suffix}-{i}" for i in range(EXTRA_NODES)]
    if not add_nodes(nodes):
        return 1
    try:
        platform = env_file(os.path.join(STATE, "env.d/platform"))
        with open(platform["STOREFLEET_TOKEN_FILE"], encoding="utf-8") as f:
            token = f.read().strip()
        with open(platform["STOREFLEET_ADMIN_TOKEN_FILE"], encoding="utf-8") as f:
            admin = f.read().strip()
        base = platform["STOREFLEET_URL"]
        prefix = "ro-" + secrets.token_hex(2)
        created_at = time.monotonic()
        for i in range(STORES):
            status, body = request(base, "POST", "/api/v1/stores", token,
                                   {"name": f"{prefix}-{i}", "engine": "woocommerce"})
            if status != 202:
                check(False, f"store {prefix}-{i} created ({status} {body})")
                return 1
            ids.append(body["id"])

        def all_ready():
            ready = 0
            for store_id in ids:
                status, store = request(base, "GET", "/api/v1/stores/" + store_id, token)
                ready += status == 200 and store["status"] == "ready"
            return ready == len(ids)
        if not wait(f"{STORES} stores ready", 900, all_ready, every=2):
            return 1
        install_s = time.monotonic() - created_at
        check(True, f"{STORES} stores ready {install_s:.1f} s after the first POST "
                    f"({STORES / install_s:.2f} stores/s installed)")
        status, first = request(base, "GET", "/api/v1/stores/" + ids[0], token)
        start_version = first["chart_version"]
        # The catalogue's two released WooCommerce versions (charts/releases): to the other one.
        target = "0.1.0" if start_version == "0.2.0" else "0.2.0"
        before = helm_revisions()

        status, rollout = request(base, "POST", "/api/v1/admin/rollouts", admin, {
            "engine": "woocommerce", "target_version": target, "selector": {"store_ids": ids},
            "strategy": {"canary": 5, "waves": [25, 50, 100], "max_in_flight": IN_FLIGHT,
                         "ready_within_seconds": 300, "max_failed": 1}})
        if not check(status == 201, f"rollout {start_version} -> {target} of {STORES} stores started ({status})"):
            print(rollout)
            return 1
        rollout_id = rollout["id"]
        check(rollout["stores"] == STORES and rollout["waves"] == 4,
              f"it took the {STORES} stores in 4 waves ({rollout['stores']} stores, {rollout['waves']} waves)")
        rolled_at = time.monotonic()
        most_in_flight = 0
        out_of_order = []

        def done():
            nonlocal most_in_flight
            _, shown = request(base, "GET", "/api/v1/admin/rollouts/" + rollout_id, admin)
            most_in_flight = max(most_in_flight, shown["counts"]["upgrading"])
            for wave in shown["wave_counts"]:
                if wave["wave"] > shown["wave"] and wave["upgrading"] + wave["upgraded"] > 0:
                    out_of_order.append((shown["wave"], wave))
            return shown if shown["state"] in ("done", "halted", "aborted") else None
        shown = wait("the rollout to end", 900, done, every=0.5)
        if not shown:
            return 1
        upgrade_s = time.monotonic() - rolled_at
        check(shown["state"] == "done" and shown["counts"]["upgraded"] == STORES,
              f"the rollout is done with every store upgraded: {shown['state']} {shown['counts']}")
        check(most_in_flight <= IN_FLIGHT, f"at most {IN_FLIGHT} stores under way at once (saw {most_in_flight})")
        check(not out_of_order, f"no store of a later wave started while an earlier one was open {out_of_order[:2]}")
        rest, reached, sizes = STORES - 5, 0, [5]
        for share in (25, 50, 100):  # AssignWaves: each wave up to its share of the rest, rounded up
            reach = rest if share == 100 else min(rest, (rest * share + 99) // 100)
            sizes.append(reach - reached)
            reached = reach
        check([w["upgraded"] for w in shown["wave_counts"]] == sizes,
              f"the waves' sizes: {[w['upgraded'] for w in shown['wave_counts']]} (want {sizes})")
        print(f"[figure] rollout of {STORES} stores {start_version} -> {target}: {upgrade_s:.1f} s, "
              f"{STORES / upgrade_s:.2f} stores/s upgraded (installs of the same run: "
              f"{STORES / install_s:.2f} stores/s)", flush=True)

        wrong = []
        for store_id in ids:
            _, store = request(base, "GET", "/api/v1/stores/" + store_id, token)
            if (store["status"], store["chart_version"], store["desired"]["chart_version"]) != ("ready", target, target):
                wrong.append((store_id, store["status"], store["chart_version"], store["desired"]["chart_version"]))
        check(not wrong, f"every store is ready at {target}, observed and desired {wrong[:3]}")
        after = helm_revisions()
        extra = Counter(after["store-" + i] - before["store-" + i] for i in ids)
        check(extra == Counter({1: STORES}), f"one new Helm revision per store (new revisions x stores: {dict(extra)})")
    finally:
        for store_id in ids:
            request(base, "DELETE", "/api/v1/stores/" + store_id, token)

        def deleted():
            for store_id in ids:
                status, store = request(base, "GET", "/api/v1/stores/" + store_id, token)
                if status == 200 and store["status"] != "deleted":
                    return False
            return True
        if ids:
            # The tests after this one share the stack: they start with these stores gone.
            wait(f"the {len(ids)} stores deleted", 900, deleted, every=3)
        subprocess.run(["kubectl", "--request-timeout=60s", "delete", "node", *nodes, "--wait=false"],
                       stdout=subprocess.DEVNULL)
        if started:
            subprocess.run(["bash", PLATFORM, "down"], stdout=subprocess.DEVNULL)
    print(f"rollout e2e: {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
