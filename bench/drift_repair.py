#!/usr/bin/env python3
"""Drift repair time at scale on the local stack (docs/decisions/0012-drift-repair.md).

Creates STORES stores (default 200) through the front door and waits until every one is ready.
Then makes DRIFTS drifts at once (default 60, in as many distinct stores picked at random), as
an operator with kubectl would, the kinds in turn: the NetworkPolicy default-deny deleted, the
WordPress Deployment scaled to 0, the ResourceQuota store-quota edited, the WordPress
container's image changed (`kubectl set image`). For each drift it takes
the time from the change (the API's answer) to:

- repaired: the provisioner's drift event (its occurred_at, the provisioner's clock);
- in sync: that event in the read model (store_events.recorded_at, Postgres's clock) with the
  store's condition in_sync;

and prints p50/p99/max of both, then checks that every drifted store had exactly one drift
event and is in sync, that no other store had any (a false positive would be a repair nobody
asked for), and that only the scaled Deployments and the changed images cost a Helm revision
(one each). One JSON line goes to
stdout (and to OUT when set, appended). Deletes its stores. Needs the stack's environment
(tests/with-stack) and room for the stores: about 50 small stores per KWOK node, so
STOREFLEET_K8S_NODES=6 or more for 200. Starts the platform unless it runs. Same machine
clock for everything (the stack is local).

    STOREFLEET_K8S_NODES=6 tests/with-stack python3 bench/drift_repair.py
"""
import concurrent.futures
import json
import os
import random
import secrets
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
import drift_repair as e2e  # noqa: E402  (request, env_file, kubectl, PLATFORM, STATE)

KINDS = ("networkpolicy", "deployment", "resourcequota", "image")
# The kinds a Helm repair puts back (one revision each); the others are applied.
HELM_KINDS = ("deployment", "image")


def psql(sql):
    return subprocess.run(["psql", "-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1", os.environ["STOREFLEET_PG_URL"]],
                          input=sql, check=True, capture_output=True, text=True).stdout.strip()


def percentile(values, p):
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p * (len(ordered) - 1))))]


def helm_revisions():
    """Helm release records per store namespace (one LIST of every namespace's)."""
    out = e2e.kubectl("get", "secrets", "-A", "-l", "owner=helm,name=store", "-o",
                      "jsonpath={range .items[*]}{.metadata.namespace}{\"\\n\"}{end}").stdout
    counts = {}
    for ns in out.split():
        counts[ns] = counts.get(ns, 0) + 1
    return counts


def make_drift(store_id, kind):
    """Makes one drift; returns (wall time the API answered, what was done)."""
    ns = "store-" + store_id
    if kind == "networkpolicy":
        e2e.kubectl("-n", ns, "delete", "networkpolicy", "default-deny", "--wait=false")
    elif kind == "deployment":
        name, _ = e2e.first_deployment(ns)
        e2e.kubectl("-n", ns, "scale", "deployment", name, "--replicas=0")
    elif kind == "image":
        name, _ = e2e.first_deployment(ns)
        e2e.kubectl("-n", ns, "set", "image", "deployment/" + name, "wordpress=registry.invalid/drift:bench")
    else:
        e2e.kubectl("-n", ns, "patch", "resourcequota", "store-quota", "--type=merge",
                    "-p", '{"spec":{"hard":{"pods":"999"}}}')
    return time.time(), kind


def main():
    stores = int(os.environ.get("STORES", "200"))
    drifts = int(os.environ.get("DRIFTS", "60"))
    if drifts > stores:
        sys.exit("DRIFTS must be at most STORES")
    started = False
    if subprocess.run(["bash", e2e.PLATFORM, "status"], capture_output=True).returncode != 0:
        # One client address POSTs every store: the per-address limiter would measure itself.
        subprocess.run(["bash", e2e.PLATFORM, "up"], check=True, stdout=subprocess.DEVNULL,
                       env=dict(os.environ, STOREFLEET_CLIENT_RATE_PER_SECOND="0"))
        started = True
    platform = e2e.env_file(os.path.join(e2e.STATE, "env.d/platform"))
    base = platform["STOREFLEET_URL"]
    with open(platform["STOREFLEET_TOKEN_FILE"], encoding="utf-8") as f:
        token = f.read().strip()
    ids = []
    result = {"bench": "drift_repair", "stores": stores, "drifts": drifts,
              "git": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                    text=True, cwd=os.path.dirname(os.path.abspath(__file__))).stdout.strip(),
              "cores": os.cpu_count(), "load_at_start": os.getloadavg()[0],
              "drift_settings": {k: v for k, v in os.environ.items() if k.startswith("STOREFLEET_DRIFT_")}}
    try:
        create_start = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            replies = list(pool.map(lambda _: e2e.request(
                base, "POST", "/api/v1/stores", token,
                {"name": "drift-bench-" + secrets.token_hex(4), "engine": "woocommerce"}), range(stores)))
        ids = [created["id"] for status, created in replies if status == 202]
        if len(ids) != stores:
            sys.exit(f"only {len(ids)} of {stores} stores accepted")
        id_list = ",".join(f"'{i}'" for i in ids)
        deadline = time.monotonic() + 600 + 3 * stores
        while time.monotonic() < deadline:
            ready = int(psql(f"select count(*) from read.stores where store_id in ({id_list}) "
                             "and status = 'ready' and condition_state = 'in_sync'"))
            if ready == stores:
                break
            time.sleep(2)
        else:
            sys.exit(f"{ready} of {stores} stores ready in {deadline}s")
        result["ready_seconds"] = round(time.monotonic() - create_start, 1)
        print(f"{stores} stores ready in {result['ready_seconds']}s", file=sys.stderr, flush=True)
        revisions_before = helm_revisions()

        chosen = random.sample(ids, drifts)
        plan = [(store_id, KINDS[i % len(KINDS)]) for i, store_id in enumerate(chosen)]
        inject_start = time.time()
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            made = dict(zip(chosen, pool.map(lambda p: make_drift(*p), plan)))
        result["inject_seconds"] = round(time.time() - inject_start, 2)
        print(f"{drifts} drifts made in {result['inject_seconds']}s", file=sys.stderr, flush=True)

        chosen_list = ",".join(f"'{i}'" for i in chosen)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            done = int(psql(f"select count(*) from read.stores where store_id in ({chosen_list}) "
                            "and condition_state = 'in_sync' and step = 'drift'"))
            if done == drifts:
                break
            time.sleep(0.5)
        # Once settled: a late second event or a false positive would show here.
        time.sleep(5)
        rows = psql(
            "select e.store_id, extract(epoch from e.occurred_at), extract(epoch from e.recorded_at), e.reason "
            f"from read.store_events e where e.store_id in ({id_list}) and e.step = 'drift' "
            "order by e.recorded_at")
        events = {}
        for line in filter(None, rows.splitlines()):
            store_id, occurred, recorded, reason = line.split("|", 3)
            events.setdefault(store_id, []).append((float(occurred), float(recorded), reason))
        conditions = dict(line.split("|") for line in psql(
            f"select store_id, condition_state from read.stores where store_id in ({chosen_list})").splitlines())
        repaired, in_sync, problems = [], [], []
        in_sync_by_kind = {}
        for store_id in chosen:
            at, kind = made[store_id]
            got = events.get(store_id, [])
            if len(got) != 1:
                problems.append(f"store {store_id} ({kind}): {len(got)} drift events {[g[2] for g in got]}")
            if got:
                repaired.append(got[0][0] - at)
                in_sync.append(got[0][1] - at)
                in_sync_by_kind.setdefault(kind, []).append(got[0][1] - at)
            if conditions.get(store_id) != "in_sync":
                problems.append(f"store {store_id} ({kind}): {conditions.get(store_id)}")
        false_positives = [f"store {s}: {[g[2] for g in e]}" for s, e in events.items() if s not in made]
        revisions_after = helm_revisions()
        added = {}
        for store_id in ids:
            ns = "store-" + store_id
            n = revisions_after.get(ns, 0) - revisions_before.get(ns, 0)
            kind = made.get(store_id, ("", "untouched"))[1]
            added.setdefault(kind, {}).setdefault(n, 0)
            added[kind][n] += 1
        # A scaled Deployment or a changed image: one Helm repair each.
        for kind in HELM_KINDS:
            planned = sum(1 for _, k in plan if k == kind)
            if planned and added.get(kind) != {1: planned}:
                problems.append(f"Helm revisions added for {kind}: {added.get(kind)} (want {planned}x1)")
        for kind in ("networkpolicy", "resourcequota", "untouched"):
            if set(added.get(kind, {0: 0})) != {0}:
                problems.append(f"Helm revisions added for {kind}: {added.get(kind)}")

        def figures(values):
            return {"p50": round(percentile(values, 0.5), 2), "p99": round(percentile(values, 0.99), 2),
                    "max": round(max(values), 2), "n": len(values)} if values else None
        result.update({"repaired_s": figures(repaired), "in_sync_s": figures(in_sync),
                       "in_sync_s_by_kind": {k: figures(v) for k, v in in_sync_by_kind.items()},
                       "helm_revisions_added": {k: {str(n): c for n, c in v.items()} for k, v in added.items()},
                       "false_positives": len(false_positives), "problems": problems + false_positives})
        for what, values in (("drift made -> repaired (event)", repaired), ("drift made -> read model in sync", in_sync)):
            f = figures(values)
            if f:
                print(f"{what}: p50 {f['p50']}s p99 {f['p99']}s max {f['max']}s over {f['n']}", file=sys.stderr)
        for kind, values in in_sync_by_kind.items():
            f = figures(values)
            print(f"  {kind}: p50 {f['p50']}s max {f['max']}s over {f['n']}", file=sys.stderr)
        for problem in problems + false_positives:
            print("PROBLEM " + problem, file=sys.stderr)
    finally:
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda i: e2e.request(base, "DELETE", "/api/v1/stores/" + i, token), ids))
        # Gone before the platform stops (or the next run shares the cluster with them).
        deadline = time.monotonic() + 600 + 3 * len(ids)
        id_list = ",".join(f"'{i}'" for i in ids)
        while ids and time.monotonic() < deadline and int(psql(
                f"select count(*) from read.stores where store_id in ({id_list}) and status <> 'deleted'")):
            time.sleep(2)
        if started:
            subprocess.run(["bash", e2e.PLATFORM, "down"], stdout=subprocess.DEVNULL)
    line = json.dumps(result)
    print(line)
    if os.environ.get("OUT"):
        with open(os.environ["OUT"], "a", encoding="utf-8") as f:
            f.write(line + "\n")
    return 1 if result.get("problems") else 0


if __name__ == "__main__":
    sys.exit(main())
