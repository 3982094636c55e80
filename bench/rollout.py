#!/usr/bin/env python3
"""Fleet rollout throughput: starts a rollout of every WooCommerce store of the platform to
--target (POST /api/v1/admin/rollouts, selector "all"), polls it until it ends and reports the
time from the POST to the end, stores upgraded per second, the time each wave took and, from
the stores' Helm release records, how many new revisions each store got (one each, or the
rollout upgraded a store twice). Prints one JSON object. Standard library only.

  rollout.py --target VERSION [--canary 5] [--waves 25,50,100] [--in-flight 64]
             [--ready-within 600] [--deadline 3600]
Reads STOREFLEET_URL and STOREFLEET_ADMIN_TOKEN_FILE (the stack's env)."""
import argparse, collections, json, os, subprocess, time, urllib.error, urllib.request


def call(url, token, method, path, body=None):
    request = urllib.request.Request(url + path, method=method, data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def helm_revisions():
    """store namespace -> its release's newest revision (the release Secrets' version label)."""
    out = subprocess.run(["kubectl", "--request-timeout=120s", "get", "secrets", "-A", "-l", "owner=helm,name=store",
                          "-o", "jsonpath={range .items[*]}{.metadata.namespace} {.metadata.labels.version}{\"\\n\"}{end}"],
                         check=True, capture_output=True, text=True).stdout
    newest = {}
    for line in out.splitlines():
        ns, version = line.split()
        newest[ns] = max(newest.get(ns, 0), int(version))
    return newest


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", required=True)
    ap.add_argument("--canary", type=int, default=5)
    ap.add_argument("--waves", default="25,50,100")
    ap.add_argument("--in-flight", type=int, default=64)
    ap.add_argument("--ready-within", type=int, default=600)
    ap.add_argument("--deadline", type=int, default=3600)
    args = ap.parse_args()
    url = os.environ["STOREFLEET_URL"]
    token = open(os.environ["STOREFLEET_ADMIN_TOKEN_FILE"]).read().strip()

    before = helm_revisions()
    posted = time.monotonic()
    status, rollout = call(url, token, "POST", "/api/v1/admin/rollouts", {
        "engine": "woocommerce", "target_version": args.target, "selector": "all",
        "strategy": {"canary": args.canary, "waves": [int(w) for w in args.waves.split(",")],
                     "max_in_flight": args.in_flight, "ready_within_seconds": args.ready_within,
                     "max_failed": 10, "max_failed_percent": 10}})
    if status != 201:
        raise SystemExit(f"rollout.py: POST /api/v1/admin/rollouts answered {status}: {rollout}")
    rollout_id = rollout["id"]
    wave_ends, most_in_flight, wave = {}, 0, 0
    shown = rollout
    while time.monotonic() - posted < args.deadline:
        status, shown = call(url, token, "GET", "/api/v1/admin/rollouts/" + rollout_id)
        if status != 200:
            time.sleep(1)
            continue
        most_in_flight = max(most_in_flight, shown["counts"]["upgrading"])
        if shown["wave"] != wave:
            wave_ends[wave] = round(time.monotonic() - posted, 1)
            wave = shown["wave"]
        if shown["state"] in ("done", "halted", "aborted"):
            break
        time.sleep(0.5)
    seconds = time.monotonic() - posted
    wave_ends[wave] = round(seconds, 1)
    after = helm_revisions()
    new_revisions = collections.Counter(after.get(ns, 0) - n for ns, n in before.items())
    upgraded = shown["counts"]["upgraded"]
    print(json.dumps({
        "rollout": rollout_id, "target": args.target, "state": shown["state"], "stores": shown["stores"],
        "upgraded": upgraded, "failed": shown["counts"]["failed"], "seconds": round(seconds, 2),
        "stores_per_second": round(upgraded / seconds, 2) if seconds > 0 else 0,
        "in_flight": args.in_flight, "most_in_flight_seen": most_in_flight,
        "wave_sizes": [w["upgraded"] + w["failed"] + w["skipped"] for w in shown["wave_counts"]],
        "wave_end_seconds": [wave_ends[w] for w in sorted(wave_ends)],
        "new_helm_revisions": {str(k): v for k, v in sorted(new_revisions.items())},
        "reason": shown.get("reason")}))
    return 0 if shown["state"] == "done" else 1


if __name__ == "__main__":
    raise SystemExit(main())
