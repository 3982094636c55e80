#!/usr/bin/env python3
"""The live status stream end to end, through the front door of the real platform.

A client watches GET /api/v1/stores/events, creates a store, sees it requested and then
provisioning, disconnects, and reconnects with Last-Event-ID after the store became ready
meanwhile. It must get every change of its store committed after that id (compared with the
projector's change log in Postgres, so a gap would show), in order, none twice, ending in
ready. (Tenant scoping of the stream is proven in services/query/tests/event_stream_test.cpp.) Starts the platform with infra/local/platform
unless it runs. Needs the stack's environment (tests/with-stack). Every wait has a deadline.
"""
import http.client
import json
import os
import secrets
import subprocess
import sys
import time
import urllib.parse

from e2e_support import PLATFORM, STATE, check, env_file, failures, request


class Stream:
    """An SSE client on a raw connection: (id, event, data) frames, with a deadline."""

    def __init__(self, base, token, last_event_id=None):
        url = urllib.parse.urlparse(base)
        self.conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        headers = {"Authorization": "Bearer " + token, "Accept": "text/event-stream"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = str(last_event_id)
        self.conn.request("GET", "/api/v1/stores/events", headers=headers)
        self.response = self.conn.getresponse()
        self.status = self.response.status
        self.content_type = self.response.getheader("Content-Type", "")

    def frames(self, deadline):
        frame = {}
        while time.monotonic() < deadline:
            # The front door sends the stream chunked: read through the response, which
            # removes the chunk framing (the raw socket would interleave it into the lines).
            line = self.response.readline()
            if not line:
                return
            line = line.decode("utf-8").rstrip("\n")
            if line == "":
                if "event" in frame:
                    yield frame
                frame = {}
            elif line.startswith(":"):
                continue
            else:
                key, _, value = line.partition(": ")
                frame[key] = value

    def close(self):
        self.conn.close()


def changes_after(pg_url, store_id, after):
    out = subprocess.run(
        ["psql", pg_url, "-At", "-c",
         f"select change_id from read.store_changes where store_id = '{store_id}' and change_id > {int(after)} "
         "order by change_id"],
        check=True, capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def main():
    started = False
    if subprocess.run(["bash", PLATFORM, "status"], capture_output=True).returncode != 0:
        subprocess.run(["bash", PLATFORM, "up"], check=True, stdout=subprocess.DEVNULL)
        started = True
    try:
        platform = env_file(os.path.join(STATE, "env.d/platform"))
        base = platform["STOREFLEET_URL"]
        with open(platform["STOREFLEET_TOKEN_FILE"], encoding="utf-8") as f:
            token = f.read().strip()
        pg_url = os.environ["STOREFLEET_PG_URL"]
        run(base, token, pg_url)
    finally:
        if started:
            subprocess.run(["bash", PLATFORM, "down"], stdout=subprocess.DEVNULL)
    print(f"live stream e2e: {len(failures)} failed")
    return 1 if failures else 0


def run(base, token, pg_url):
    refused = Stream(base, "not-a-token")
    check(refused.status == 401, f"an unknown token is refused with 401 (got {refused.status})")
    refused.close()

    first = Stream(base, token)
    check(first.status == 200 and first.content_type.startswith("text/event-stream"),
          f"the stream answers 200 text/event-stream through the front door (got {first.status} {first.content_type})")
    name = "live-" + secrets.token_hex(3)
    status, created = request(base, "POST", "/api/v1/stores", token, {"name": name, "engine": "woocommerce"})
    if not check(status == 202, f"store created (got {status})"):
        return
    store_id = created["id"]
    status, shown = request(base, "GET", "/api/v1/stores/" + store_id, token)
    check(status == 200 and shown["status"] in ("requested", "provisioning"),
          f"GET at once after the 202 answers 200 with the accepted state (read-your-writes; got {status})")

    seen_first = []
    last_id = None
    deadline = time.monotonic() + 120
    for frame in first.frames(deadline):
        if frame.get("event") == "open":
            last_id = int(frame["id"])
            continue
        if frame.get("event") != "store":
            continue
        data = json.loads(frame["data"])
        last_id = int(frame["id"])
        if data["id"] != store_id:
            continue
        seen_first.append((int(frame["id"]), data["status"], data["step"]))
        if data["status"] == "provisioning":
            break  # disconnect mid-way
    first.close()
    check(any(s == "provisioning" for _, s, _ in seen_first),
          f"the first connection saw the store provisioning live: {seen_first}")
    if last_id is None:
        return

    # Meanwhile the store becomes ready.
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        status, shown = request(base, "GET", "/api/v1/stores/" + store_id, token)
        if status == 200 and shown["status"] in ("ready", "failed"):
            break
        time.sleep(0.5)
    check(shown["status"] == "ready", f"the store became ready while the client was away ({shown['status']})")

    resumed = Stream(base, token, last_event_id=last_id)
    seen_after = []
    deadline = time.monotonic() + 60
    for frame in resumed.frames(deadline):
        if frame.get("event") == "open":
            break  # caught up
        if frame.get("event") == "store":
            data = json.loads(frame["data"])
            if data["id"] == store_id:
                seen_after.append((int(frame["id"]), data["status"], data["step"]))
    resumed.close()
    ids = [i for i, _, _ in seen_after]
    check(ids == sorted(set(ids)) and all(i > last_id for i in ids),
          f"resumed events come after Last-Event-ID {last_id}, in order, none twice: {ids}")
    expected = changes_after(pg_url, store_id, last_id)
    check(ids == expected, f"no gap: the resumed stream carried every change committed after {last_id} "
                           f"(stream {ids}, change log {expected})")
    check(bool(seen_after) and seen_after[-1][1] == "ready", f"the resumed stream ends with ready: {seen_after}")
    order = {"requested": 0, "provisioning": 1, "ready": 2}
    statuses = [order.get(s, -1) for _, s, _ in seen_first + seen_after]
    check(statuses == sorted(statuses), f"requested -> provisioning -> ready, never backwards: {seen_first + seen_after}")

    status, _ = request(base, "DELETE", "/api/v1/stores/" + store_id, token)
    check(status == 202, "the store is deleted afterwards")


if __name__ == "__main__":
    sys.exit(main())
