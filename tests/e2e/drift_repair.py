#!/usr/bin/env python3
"""Drift repair end to end (docs/decisions/0012-drift-repair.md), on the real platform.

Creates a store through the front door and waits until it is ready. Then, as an operator with
the admin kubeconfig would, deletes its NetworkPolicy default-deny and scales one of its
Deployments to 0. The provisioner must notice both from its watches and repair them: the
policy re-created, the Deployment back at its replicas, the store's timeline naming both, the
store in sync again, storefleet_provisioner_drift_total counting them. Prints the time from the
change to each repair. Starts the platform with infra/local/platform unless it runs. Needs the
stack's environment (tests/with-stack). Every wait has a deadline.
"""
import http.client
import json
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import secrets

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STATE = os.environ.get("STOREFLEET_STATE", os.path.join(ROOT, ".state/local"))
PLATFORM = os.path.join(ROOT, "infra/local/platform")
failures = []


def check(condition, message):
    print(("ok   " if condition else "FAIL ") + message, flush=True)
    if not condition:
        failures.append(message)
    return condition


def env_file(path):
    values = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if "=" in line:
                key, value = line.rstrip("\n").split("=", 1)
                values[key] = value
    return values


def request(base, method, path, token, body=None):
    url = urllib.parse.urlparse(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    headers = {"Authorization": "Bearer " + token}
    if body is not None:
        headers["Content-Type"] = "application/json"
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, (json.loads(data) if data else None)


def kubectl(*args, check_rc=True):
    out = subprocess.run(["kubectl", "--request-timeout=20s", *args], capture_output=True, text=True)
    if check_rc and out.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)}: {out.stderr.strip()}")
    return out


def wait(what, deadline_s, probe):
    start = time.monotonic()
    while time.monotonic() - start < deadline_s:
        got = probe()
        if got:
            return got
        time.sleep(0.2)
    check(False, f"{what} within {deadline_s}s")
    return None


def drift_metric(url, prefix="storefleet_provisioner_drift_total{"):
    total = {}
    with urllib.request.urlopen(url + "/metrics", timeout=10) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(prefix):
                labels, value = line.rsplit(" ", 1)
                total[labels] = float(value)
    return total


def main():
    started = False
    if subprocess.run(["bash", PLATFORM, "status"], capture_output=True).returncode != 0:
        subprocess.run(["bash", PLATFORM, "up"], check=True, stdout=subprocess.DEVNULL)
        started = True
    try:
        platform = env_file(os.path.join(STATE, "env.d/platform"))
        with open(platform["STOREFLEET_TOKEN_FILE"], encoding="utf-8") as f:
            token = f.read().strip()
        run(platform["STOREFLEET_URL"], token, platform["STOREFLEET_PROVISIONER_URL"])
    finally:
        if started:
            subprocess.run(["bash", PLATFORM, "down"], stdout=subprocess.DEVNULL)
    print(f"drift repair e2e: {len(failures)} failed")
    return 1 if failures else 0


def run(base, token, provisioner_url):
    name = "drift-" + secrets.token_hex(3)
    status, created = request(base, "POST", "/api/v1/stores", token, {"name": name, "engine": "woocommerce"})
    if not check(status == 202, f"store created (got {status})"):
        return
    store_id = created["id"]
    ns = "store-" + store_id
    try:
        ready = wait("the store is ready", 300, lambda: (
            lambda s: s if s[0] == 200 and s[1]["status"] == "ready" else None)(
                request(base, "GET", "/api/v1/stores/" + store_id, token)))
        if not ready:
            return
        annotations = json.loads(kubectl("get", "namespace", ns, "-o", "json").stdout)["metadata"]["annotations"]
        check(annotations.get("storefleet.io/suspended") == "false" and
              "storefleet.io/observed-command-offset" in annotations,
              f"the namespace records suspended and the converged command's offset ({annotations})")
        deployments = json.loads(kubectl("-n", ns, "get", "deployments", "-o", "json").stdout)["items"]
        if not check(deployments, "the store has a Deployment"):
            return
        deployment = deployments[0]["metadata"]["name"]
        want = deployments[0]["spec"].get("replicas", 1)
        before = drift_metric(provisioner_url)
        # No wait for the watches: an object deleted before the namespace watch saw the store
        # converged is kept as deleted and judged once it has (drift_watcher.cpp).

        changed = time.monotonic()
        kubectl("-n", ns, "delete", "networkpolicy", "default-deny")
        kubectl("-n", ns, "scale", "deployment", deployment, "--replicas=0")
        print(f"deleted NetworkPolicy default-deny and scaled Deployment {deployment} to 0", flush=True)

        times = {}
        def repaired():
            if "policy" not in times and kubectl("-n", ns, "get", "networkpolicy", "default-deny",
                                                 check_rc=False).returncode == 0:
                times["policy"] = time.monotonic() - changed
            if "deployment" not in times:
                got = kubectl("-n", ns, "get", "deployment", deployment, "-o",
                              "jsonpath={.spec.replicas}", check_rc=False)
                if got.returncode == 0 and got.stdout.strip() == str(want):
                    times["deployment"] = time.monotonic() - changed
            return len(times) == 2
        wait("both repaired", 120, repaired)
        for what, seconds in times.items():
            print(f"repaired {what} {seconds:.2f}s after the change", flush=True)
        check("policy" in times, "NetworkPolicy default-deny re-created")
        check("deployment" in times, f"Deployment {deployment} back at {want} replicas")

        def timeline():
            status, shown = request(base, "GET", "/api/v1/stores/" + store_id, token)
            if status == 200 and "NetworkPolicy default-deny was deleted" in (shown.get("reason") or "") \
                    and (shown.get("condition") or {}).get("state") == "in_sync":
                return shown
            return None
        shown = wait("the store says what was repaired and is in sync", 60, timeline)
        if shown:
            print(f"store reason: {shown.get('reason')!r}; condition {shown.get('condition')}", flush=True)
            check("re-created" in shown["reason"], "the reason says the policy was re-created")
        after = drift_metric(provisioner_url)
        grown = {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}
        print(f"storefleet_provisioner_drift_total grew by {grown}", flush=True)
        check(any('kind="NetworkPolicy"' in k and 'action="repaired"' in k for k in grown),
              "drift_total counts the policy repaired")
        # The credentials Secret is never watched (decision 0009): only the safety net finds it
        # gone, and never re-creates it. Checked when the platform runs it often enough.
        resync_s = int(os.environ.get("STOREFLEET_DRIFT_RESYNC_SECONDS", "3600"))
        if 0 < resync_s <= 60:
            deleted = time.monotonic()
            kubectl("-n", ns, "delete", "secret", "store-credentials")

            def out_of_sync():
                status, shown = request(base, "GET", "/api/v1/stores/" + store_id, token)
                condition = (shown or {}).get("condition") or {}
                if status == 200 and condition.get("state") == "out_of_sync" and \
                        "Secret store-credentials was deleted" in (condition.get("message") or ""):
                    return condition
                return None
            condition = wait("the safety net reports the deleted Secret", 3 * resync_s + 30, out_of_sync)
            if condition:
                print(f"safety net found the Secret gone {time.monotonic() - deleted:.1f}s after: "
                      f"{condition['message']!r}", flush=True)
            check(kubectl("-n", ns, "get", "secret", "store-credentials", check_rc=False).returncode != 0,
                  "the credentials Secret is not re-created with new values")
        # The safety net's cost so far: API requests per store compared.
        resync = drift_metric(provisioner_url, "storefleet_provisioner_drift_resync_")
        print("safety net so far: " + ", ".join(
            f"{k} {v:g}" for k, v in resync.items() if "_bucket" not in k), flush=True)
    finally:
        request(base, "DELETE", "/api/v1/stores/" + store_id, token)


if __name__ == "__main__":
    sys.exit(main())
