#!/usr/bin/env python3
"""Backups and restores through the API on simulated (KWOK) WooCommerce stores
(docs/decisions/0014-backups.md): the same API, commands, Job and bookkeeping as on the real
node, with no data copied.

Creates a WooCommerce store through the front door and waits until it is ready. Then:

- POST .../backups answers 202 with a backup id and the plan's retention (small: 3); a second
  POST while it runs answers 409; GET .../backups shows it requested or running, then completed
  with simulated true and size 0; the provisioner ran a Job backup-<id> in the store's namespace
  (gone once its outcome was read) and applied the claim store-backups;
- a restore of an unknown backup answers 409, one without a JSON body 415; a restore of the
  completed backup answers 202 and completes;
- four more backups: the store keeps its newest 3 completed, the oldest are `expired`, and a
  restore of an expired one answers 409;
- the timeline has backup-requested, backup-running, backup-completed, restore-requested,
  restore-completed; the audit trail (the admin token) has store.backup and store.restore;
- an unknown store gets 404.

Prints the time from POST to completed of a simulated backup. Starts the platform with
infra/local/platform unless it runs. Needs the stack's environment (tests/with-stack). Every
wait has a deadline.
"""
import os
import secrets
import subprocess
import sys
import time
import urllib.parse
import http.client

from e2e_support import PLATFORM, STATE, check, env_file, failures, request, wait


def kubectl(*args):
    return subprocess.run(["kubectl", "--request-timeout=20s", *args], capture_output=True, text=True)


def raw_post(base, path, token, body, content_type):
    url = urllib.parse.urlparse(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    conn.request("POST", path, body=body, headers={"Authorization": "Bearer " + token, "Content-Type": content_type})
    response = conn.getresponse()
    response.read()
    conn.close()
    return response.status


def backups_of(base, token, store_id):
    status, listed = request(base, "GET", f"/api/v1/stores/{store_id}/backups", token)
    return listed if status == 200 else None


def backup_state(base, token, store_id, backup_id):
    listed = backups_of(base, token, store_id) or {"items": []}
    return next((b for b in listed["items"] if b["id"] == backup_id), None)


def take_backup(base, token, store_id):
    """The completed backup (its row) of one POST .../backups, or None."""
    status, accepted = request(base, "POST", f"/api/v1/stores/{store_id}/backups", token)
    if not check(status == 202 and accepted.get("state") == "requested", f"POST .../backups: 202 requested ({status} {accepted})"):
        return None
    backup_id = accepted["id"]
    return wait(f"backup {backup_id} to complete", 180,
                lambda: (lambda b: b if b and b["state"] in ("completed", "failed") else None)(
                    backup_state(base, token, store_id, backup_id)), every=0.3)


def main():
    started = False
    if subprocess.run(["bash", PLATFORM, "status"], capture_output=True).returncode != 0:
        subprocess.run(["bash", PLATFORM, "up"], check=True, stdout=subprocess.DEVNULL)
        started = True
    store_id = None
    try:
        platform = env_file(os.path.join(STATE, "env.d/platform"))
        with open(platform["STOREFLEET_TOKEN_FILE"], encoding="utf-8") as f:
            token = f.read().strip()
        base = platform["STOREFLEET_URL"]
        status, created = request(base, "POST", "/api/v1/stores", token,
                                  {"name": "backup-" + secrets.token_hex(3), "engine": "woocommerce"})
        if check(status == 202, f"POST /api/v1/stores: 202 ({status})"):
            store_id = created["id"]
            ready = wait("the store to be ready", 300,
                         lambda: (request(base, "GET", "/api/v1/stores/" + store_id, token)[1] or {}).get("status") == "ready")
            if ready:
                with open(platform["STOREFLEET_ADMIN_TOKEN_FILE"], encoding="utf-8") as f:
                    admin_token = f.read().strip()
                run_cases(base, token, admin_token, store_id)
    finally:
        if store_id:
            request(base, "DELETE", "/api/v1/stores/" + store_id, token)
        if started:
            subprocess.run(["bash", PLATFORM, "down"], stdout=subprocess.DEVNULL)
    print(f"store backups e2e: {len(failures)} failed")
    return 1 if failures else 0


def run_cases(base, token, admin_token, store_id):
    ns = "store-" + store_id
    posted = time.monotonic()
    status, accepted = request(base, "POST", f"/api/v1/stores/{store_id}/backups", token)
    check(status == 202 and accepted.get("keep") == 3 and accepted.get("state") == "requested",
          f"POST .../backups: 202, state requested, keep 3 for a small store ({status} {accepted})")
    if status != 202:
        return
    first = accepted["id"]
    status, _ = request(base, "POST", f"/api/v1/stores/{store_id}/backups", token)
    check(status == 409, f"a second backup while the first is under way: 409 ({status})")
    done = wait(f"backup {first} to complete", 180,
                lambda: (lambda b: b if b and b["state"] in ("completed", "failed") else None)(
                    backup_state(base, token, store_id, first)), every=0.2)
    if not done:
        return
    took = time.monotonic() - posted
    check(done["state"] == "completed" and done["simulated"] is True and done["size_bytes"] == 0
          and done["finished_at"] and done["started_at"],
          f"the backup completed, simulated, size 0, with its times ({done})")
    print(f"a simulated backup: POST to completed in {took:.2f} s (the provisioner's run {done['duration_ms']} ms)", flush=True)
    check(kubectl("-n", ns, "get", "pvc", "store-backups").returncode == 0, "the claim store-backups is in the store's namespace")
    check(wait(f"Job backup-{first} to go", 60,
               lambda: kubectl("-n", ns, "get", "job", "backup-" + first).returncode != 0) is not None,
          "the backup Job is deleted once its outcome was read")

    # Restores: refused in words, then one that completes.
    status, _ = request(base, "POST", f"/api/v1/stores/{store_id}/restore", token, {"backup_id": secrets.token_hex(4)})
    check(status == 409, f"a restore of an unknown backup: 409 ({status})")
    check(raw_post(base, f"/api/v1/stores/{store_id}/restore", token, "backup_id=x", "text/plain") == 415,
          "a restore without a JSON body: 415")
    status, restore = request(base, "POST", f"/api/v1/stores/{store_id}/restore", token, {"backup_id": first})
    if check(status == 202 and restore.get("backup_id") == first, f"POST .../restore: 202 ({status} {restore})"):
        restored = wait("the restore to complete", 180,
                        lambda: next((r for r in (backups_of(base, token, store_id) or {"restores": []})["restores"]
                                      if r["id"] == restore["id"] and r["state"] in ("completed", "failed")), None))
        check(restored and restored["state"] == "completed", f"the restore completed ({restored})")

    # Retention: small keeps its newest 3 completed backups.
    later = [take_backup(base, token, store_id) for _ in range(3)]
    check(all(b and b["state"] == "completed" for b in later), "three more backups completed")
    listed = backups_of(base, token, store_id)
    states = {b["id"]: b["state"] for b in listed["items"]}
    check(states.get(first) == "expired" and sum(1 for s in states.values() if s == "completed") == 3,
          f"the oldest backup expired, the newest 3 are kept ({states})")
    check([b["id"] for b in listed["items"]][:3] == [b["id"] for b in reversed(later) if b],
          "GET .../backups lists the newest first")
    status, _ = request(base, "POST", f"/api/v1/stores/{store_id}/restore", token, {"backup_id": first})
    check(status == 409, f"a restore of an expired backup: 409 ({status})")

    # Timeline and audit trail.
    def timeline_steps():
        status, timeline = request(base, "GET", f"/api/v1/stores/{store_id}/events", token)
        steps = [e.get("step") for e in timeline] if status == 200 else []
        wanted = ["backup-requested", "backup-running", "backup-completed", "restore-requested", "restore-completed"]
        return steps if all(s in steps for s in wanted) else None
    check(wait("the timeline to show the backups and the restore", 60, timeline_steps) is not None,
          "the timeline has backup-requested, -running, -completed and restore-requested, -completed")
    status, audit = request(base, "GET", "/api/v1/admin/audit?limit=200", admin_token)
    if status == 200:
        actions = [(e.get("action"), e.get("target")) for e in audit.get("items", [])]
        check(("store.backup", store_id) in actions and ("store.restore", store_id) in actions,
              "the audit trail has store.backup and store.restore for the store")
    else:
        check(False, f"GET /api/v1/admin/audit with the admin token answered {status}")

    # Not found for an unknown store.
    status, _ = request(base, "POST", "/api/v1/stores/00000000-0000-4000-8000-000000000000/backups", token)
    check(status == 404, f"a backup of an unknown store: 404 ({status})")


if __name__ == "__main__":
    sys.exit(main())
