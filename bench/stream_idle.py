#!/usr/bin/env python3
"""bench/stream_idle.py --url STREAM_URL --token-file F --pid QUERY_PID [--connections N]

What N idle live-status streams (GET /api/v1/stores/events) cost the query service: its
resident memory before and after N authenticated streams are open (each has received its
`open` event), and the time to open them. Prints one JSON object."""
import argparse
import json
import socket
import sys
import time
import urllib.parse


def rss_kib(pid):
    with open(f"/proc/{pid}/status", encoding="utf-8") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--token-file", required=True)
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--connections", type=int, default=1000)
    args = parser.parse_args()
    url = urllib.parse.urlparse(args.url)
    with open(args.token_file, encoding="utf-8") as f:
        token = f.read().strip()
    request = (f"GET /api/v1/stores/events HTTP/1.1\r\nHost: {url.hostname}\r\nAuthorization: Bearer {token}\r\n"
               "Accept: text/event-stream\r\n\r\n").encode()
    before = rss_kib(args.pid)
    start = time.monotonic()
    sockets = []
    for _ in range(args.connections):
        s = socket.create_connection((url.hostname, url.port), timeout=10)
        s.sendall(request)
        sockets.append(s)
    opened = 0
    for s in sockets:
        received = b""
        while b"event: open" not in received:
            chunk = s.recv(4096)
            if not chunk:
                break
            received += chunk
        opened += b"event: open" in received
    seconds = time.monotonic() - start
    if opened < args.connections:
        sys.exit(f"stream_idle: only {opened} of {args.connections} streams opened "
                 "(the query service's per-tenant cap, STOREFLEET_STREAM_MAX_PER_TENANT?)")
    time.sleep(1)
    after = rss_kib(args.pid)
    for s in sockets:
        s.close()
    print(json.dumps({"connections": args.connections, "opened": opened, "open_seconds": round(seconds, 2),
                      "rss_before_kib": before, "rss_after_kib": after,
                      "bytes_per_stream": round((after - before) * 1024 / max(1, opened))}))


if __name__ == "__main__":
    main()
