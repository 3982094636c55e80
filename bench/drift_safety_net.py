#!/usr/bin/env python3
"""The drift safety net's cost on the local stack (docs/decisions/0012-drift-repair.md).

Creates STORES stores (default 10) through the front door, waits until they are ready, lets the
provisioner's safety net compare them for WINDOW seconds (run the platform with a short
STOREFLEET_DRIFT_RESYNC_SECONDS, e.g. 10), and prints what it cost from the provisioner's own
metrics: stores compared, API requests, requests per store, the time one comparison took, and
what that means at 5,000 stores per hour. Deletes its stores. Needs tests/with-stack.

With BACKFILL=1 the stores' release records (storefleet.io/release-objects) are removed first,
as on stores converged before the record existed: the window then shows the one-off cost of
the safety net recording them (an agent read and a PATCH per store, once), and whether any
store was repaired for it (it must not be: the record changes no object).

    STOREFLEET_DRIFT_RESYNC_SECONDS=10 tests/with-stack python3 bench/drift_safety_net.py
"""
import json
import os
import secrets
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
import drift_repair as e2e  # noqa: E402  (request, env_file, metrics)


def metrics(url):
    out = {}
    with urllib.request.urlopen(url + "/metrics", timeout=10) as response:
        for line in response.read().decode().splitlines():
            if line.startswith("storefleet_provisioner_drift_resync_"):
                key, value = line.rsplit(" ", 1)
                out[key] = float(value)
    return out


def main():
    stores = int(os.environ.get("STORES", "10"))
    window = int(os.environ.get("WINDOW", "30"))
    started = False
    if subprocess.run(["bash", e2e.PLATFORM, "status"], capture_output=True).returncode != 0:
        subprocess.run(["bash", e2e.PLATFORM, "up"], check=True, stdout=subprocess.DEVNULL)
        started = True
    platform = e2e.env_file(os.path.join(e2e.STATE, "env.d/platform"))
    base, prov = platform["STOREFLEET_URL"], platform["STOREFLEET_PROVISIONER_URL"]
    with open(platform["STOREFLEET_TOKEN_FILE"], encoding="utf-8") as f:
        token = f.read().strip()
    ids = []
    try:
        for _ in range(stores):
            status, created = e2e.request(base, "POST", "/api/v1/stores", token,
                                          {"name": "net-" + secrets.token_hex(3), "engine": "woocommerce"})
            if status == 202:
                ids.append(created["id"])
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            ready = sum(1 for i in ids if e2e.request(base, "GET", "/api/v1/stores/" + i, token)[1]["status"] == "ready")
            if ready == len(ids):
                break
            time.sleep(2)
        backfill = os.environ.get("BACKFILL") == "1"
        if backfill:
            for i in ids:
                subprocess.run(["kubectl", "annotate", "namespace", "store-" + i,
                                "storefleet.io/release-objects-"], check=True, stdout=subprocess.DEVNULL)
        before = metrics(prov)
        time.sleep(window)
        after = metrics(prov)
        if backfill:
            recorded = sum(1 for i in ids if "storefleet.io/release-objects" in json.loads(subprocess.run(
                ["kubectl", "get", "namespace", "store-" + i, "-o", "json"], capture_output=True,
                text=True, check=True).stdout)["metadata"].get("annotations", {}))
            drifted = sum(1 for i in ids if any(e.get("step") == "drift" for e in
                                                e2e.request(base, "GET", f"/api/v1/stores/{i}/events", token)[1] or []))
            print(f"backfill: {recorded}/{len(ids)} stores recorded again, {drifted} with a drift event")
        delta = {k: after.get(k, 0) - before.get(k, 0) for k in after}
        compared = delta.get("storefleet_provisioner_drift_resync_stores_total", 0)
        made = delta.get("storefleet_provisioner_drift_resync_requests_total", 0)
        seconds = delta.get("storefleet_provisioner_drift_resync_seconds_sum", 0)
        print(f"{len(ids)} stores, {window}s window, resync {os.environ.get('STOREFLEET_DRIFT_RESYNC_SECONDS')}s")
        print(f"compared {compared:.0f} stores with {made:.0f} API requests "
              f"({made / max(compared, 1):.2f} per store), "
              f"{1000 * seconds / max(compared, 1):.1f} ms per comparison")
        per_hour = 5000
        print(f"at {per_hour} stores per hour: {per_hour / 3600:.2f} stores/s, "
              f"{per_hour * made / max(compared, 1) / 3600:.2f} API requests/s per replica, "
              f"{per_hour * seconds / max(compared, 1):.0f} s of comparison per hour")
    finally:
        for i in ids:
            e2e.request(base, "DELETE", "/api/v1/stores/" + i, token)
        if started:
            subprocess.run(["bash", e2e.PLATFORM, "down"], stdout=subprocess.DEVNULL)
    return 0


if __name__ == "__main__":
    sys.exit(main())
