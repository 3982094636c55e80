"""What the Python end-to-end tests share: where the stack and the platform are, checks that
count failures, the stack's env files, JSON calls through the front door, waits with a
deadline. Imported by the scripts beside it (their folder is on sys.path)."""
import http.client
import json
import os
import time
import urllib.parse

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
    """(status, JSON body or None) of one call with the bearer token."""
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


def wait(what, deadline_s, probe, every=0.2):
    """probe()'s first truthy answer, polled every `every` s; a failed check after the deadline."""
    start = time.monotonic()
    while time.monotonic() - start < deadline_s:
        got = probe()
        if got:
            return got
        time.sleep(every)
    check(False, f"{what} within {deadline_s}s")
    return None
