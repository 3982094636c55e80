#!/usr/bin/env python3
"""What the provisioner's read shape costs the API server (docs/decisions/0009-provisioner-reads.md).

Opens watches the way the provisioner's client opens them (libs/kube KubeClient::Watch: one
libcurl handle, so one TLS connection, per watch) against the local stack's kube-apiserver and
reads its cost at each step, from the server's own metrics and /proc:
  baseline       nothing of ours open;
  cluster-wide   one watch per workload kind (deployments, statefulsets, jobs) across all
                 namespaces, label-selected, as readiness.cpp does;
  per-namespace  one watch per kind per store namespace (store-<uuid>), STEPS stores at a time,
                 as per-namespace grants would need.
For each: the API server's resident memory and Go heap in use, its goroutines, the WATCH
requests it holds, and the established TCP connections on its port. Run through the stack env:

  tests/with-stack python3 tests/rbac/watch_cost.py --stores 250,500,1000

Needs nothing but python3 and kubectl, and as many open files as watches, in this process and
in the API server (`ulimit -n` of the shell that started the stack); uses the admin credential
(the server's cost of a watch does not depend on whose it is). Read-only: it creates nothing.
Run it on a stack of its own: Go keeps the heap it grew, so a second run starts higher.
"""
import argparse
import base64
import json
import os
import re
import selectors
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid

KINDS = [("apps", "deployments"), ("apps", "statefulsets"), ("batch", "jobs")]
SELECTOR = "app.kubernetes.io%2Finstance%3Dstore"


def kubeconfig():
    raw = json.loads(subprocess.check_output(["kubectl", "config", "view", "--raw", "--minify", "-o", "json"]))
    cluster, user = raw["clusters"][0]["cluster"], raw["users"][0]["user"]
    tmp = tempfile.mkdtemp(prefix="watch-cost-")

    def material(data_key, file_key, name):
        if data_key in cluster or data_key in user:
            path = os.path.join(tmp, name)
            with open(path, "wb") as f:
                f.write(base64.b64decode(cluster.get(data_key) or user.get(data_key)))
            return path
        return cluster.get(file_key) or user.get(file_key)

    ctx = ssl.create_default_context(cafile=material("certificate-authority-data", "certificate-authority", "ca.crt"))
    ctx.load_cert_chain(material("client-certificate-data", "client-certificate", "client.crt"),
                        material("client-key-data", "client-key", "client.key"))
    ctx.set_alpn_protocols(["http/1.1"])
    url = urllib.parse.urlparse(cluster["server"])
    return url.hostname, url.port or 443, ctx


def apiserver_pid(port):
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        if not cmd or not cmd[0].endswith(b"kube-apiserver"):
            continue
        pairs = zip(cmd, cmd[1:])
        if f"--secure-port={port}".encode() in cmd or (b"--secure-port", str(port).encode()) in pairs:
            return int(pid)
    sys.exit(f"no kube-apiserver with --secure-port {port} on this machine")


def get(host, port, ctx, path):
    with socket.create_connection((host, port)) as raw, ctx.wrap_socket(raw, server_hostname=host) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    if b"chunked" in head.lower():
        out, rest = b"", body
        while rest:
            size, _, rest = rest.partition(b"\r\n")
            n = int(size, 16)
            if n == 0:
                break
            out, rest = out + rest[:n], rest[n + 2:]
        body = out
    return body.decode()


def measure(host, port, ctx, pid, settle):
    time.sleep(settle)
    metrics = get(host, port, ctx, "/metrics")

    def metric(name, labels=""):
        total = 0.0
        for line in metrics.splitlines():
            if line.startswith(name) and (line[len(name)] in " {") and labels in line:
                total += float(line.rsplit(" ", 1)[1])
        return total

    rss_kib = int(re.search(r"VmRSS:\s+(\d+)", open(f"/proc/{pid}/status").read()).group(1))
    conns = subprocess.run(["ss", "-Htn", "state", "established", f"( sport = :{port} )"],
                           capture_output=True, text=True).stdout.count("\n")
    return {"rss_mib": rss_kib / 1024, "heap_inuse_mib": metric("go_memstats_heap_inuse_bytes") / 2**20,
            "goroutines": int(metric("go_goroutines")),
            "watches": int(metric("apiserver_longrunning_requests", 'verb="WATCH"')), "connections": conns}


class Watches:
    """Open watch streams, one TLS connection each, drained without threads."""

    def __init__(self, host, port, ctx):
        self.host, self.port, self.ctx = host, port, ctx
        self.sel = selectors.DefaultSelector()
        self.socks = []

    def open(self, path):
        raw = socket.create_connection((self.host, self.port))
        s = self.ctx.wrap_socket(raw, server_hostname=self.host)
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += s.recv(4096)
        if not head.startswith(b"HTTP/1.1 200"):
            sys.exit(f"watch {path}: {head.splitlines()[0].decode()}")
        s.setblocking(False)
        self.sel.register(s, selectors.EVENT_READ)
        self.socks.append(s)

    def drain(self, seconds):
        end = time.time() + seconds
        while time.time() < end:
            for key, _ in self.sel.select(timeout=0.2):
                try:
                    key.fileobj.recv(65536)
                except (ssl.SSLWantReadError, BlockingIOError):
                    pass

    def close(self):
        for s in self.socks:
            self.sel.unregister(s)
            s.close()
        self.socks = []


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--stores", default="250,500,1000", help="store counts to step through (per-namespace)")
    ap.add_argument("--settle", type=float, default=5.0, help="seconds to wait before each reading")
    args = ap.parse_args()
    host, port, ctx = kubeconfig()
    pid = apiserver_pid(port)
    watch_args = f"?labelSelector={SELECTOR}&watch=1&allowWatchBookmarks=true&timeoutSeconds=3600"
    rows = []

    def row(shape, stores, watches, m):
        rows.append(dict(shape=shape, stores=stores, opened=watches, **m))
        print(f"{shape:14} stores={stores:6} opened={watches:6} rss={m['rss_mib']:8.1f} MiB "
              f"heap={m['heap_inuse_mib']:8.1f} MiB goroutines={m['goroutines']:7} "
              f"server_watches={m['watches']:6} connections={m['connections']:6}", flush=True)

    base = measure(host, port, ctx, pid, args.settle)
    row("baseline", 0, 0, base)
    w = Watches(host, port, ctx)
    for group, kind in KINDS:
        w.open(f"/apis/{group}/v1/{kind}{watch_args}")
    w.drain(args.settle)
    row("cluster-wide", "all", len(w.socks), measure(host, port, ctx, pid, 0))
    w.close()
    time.sleep(args.settle)
    opened_stores = 0
    for target in sorted(int(n) for n in args.stores.split(",")):
        start = time.time()
        while opened_stores < target:
            ns = f"store-{uuid.uuid4()}"
            for group, kind in KINDS:
                w.open(f"/apis/{group}/v1/namespaces/{ns}/{kind}{watch_args}")
            opened_stores += 1
        w.drain(args.settle)
        m = measure(host, port, ctx, pid, 0)
        m["open_s"] = round(time.time() - start, 1)
        row("per-namespace", target, len(w.socks), m)
    w.close()
    last = rows[-1]
    per_watch = {k: (last[k] - base[k]) / last["opened"] for k in ("rss_mib", "heap_inuse_mib", "goroutines", "connections")}
    print("per watch (last step - baseline): " + ", ".join(
        f"{k}={v * (1024 if k.endswith('mib') else 1):.2f}{' KiB' if k.endswith('mib') else ''}" for k, v in per_watch.items()))
    for stores in (5000,):
        n = stores * len(KINDS)
        print(f"extrapolated to {stores} stores x {len(KINDS)} kinds = {n} watches: "
              f"rss +{per_watch['rss_mib'] * n:.0f} MiB, heap +{per_watch['heap_inuse_mib'] * n:.0f} MiB, "
              f"goroutines +{per_watch['goroutines'] * n:.0f}, connections +{per_watch['connections'] * n:.0f}")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
