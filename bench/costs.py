#!/usr/bin/env python3
"""Per-store costs from the servers themselves, for bench/run.sh.

  costs.py snapshot > before.json          (needs STOREFLEET_STATE and KUBECONFIG)
  costs.py diff before.json after.json N    -> one JSON object, costs per store

A snapshot holds kube-apiserver's own apiserver_request_total (from its /metrics, summed by
verb and resource[/subresource]) and the CPU time (utime+stime from /proc/<pid>/stat) of every
process of the stack and the platform. Children's time: a process's cutime+cstime (children
it has reaped) plus its live descendants' own time, so postgres counts every backend and the
provisioner's children are the Helm processes it ran. Standard library only; not a hot path.
"""
import json, os, subprocess, sys, time

CLK = os.sysconf("SC_CLK_TCK")


def stat(pid):
    """(utime+stime, cutime+cstime, ppid) in seconds, or None when the process is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # fields[0] is the state (field 3 of stat(5)); utime is field 14, so index 11.
    return (int(fields[11]) + int(fields[12])) / CLK, (int(fields[13]) + int(fields[14])) / CLK, int(fields[1])


def read_pid(path):
    try:
        with open(path) as f:
            return int(f.read().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None


def processes(state):
    """name -> pid for the stack's servers and the platform's services that run now."""
    found = {}
    for sub, names in (("k8s", ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"]),
                       ("kafka", ["kafka"]),
                       ("platform", ["intake", "projector", "provisioner", "query", "nginx"])):
        for name in names:
            pid = read_pid(os.path.join(state, sub, f"{name}.pid"))
            if pid:
                found[name] = pid
    platform = os.path.join(state, "platform")
    if os.path.isdir(platform):
        for entry in sorted(os.listdir(platform)):
            if entry.startswith("provisioner-") and entry.endswith(".pid"):
                pid = read_pid(os.path.join(platform, entry))
                if pid:
                    found[entry[:-4]] = pid
    try:
        home = open(os.path.join(state, "postgres", "home")).read().strip()
        pid = read_pid(os.path.join(home, "data", "postmaster.pid"))
        if pid:
            found["postgres"] = pid
    except FileNotFoundError:
        pass
    return {n: p for n, p in found.items() if stat(p)}


def cpu(procs):
    """name -> {self, children} CPU seconds; children = reaped + live descendants."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            s = stat(entry)
            if s:
                parents.setdefault(s[2], []).append((int(entry), s[0]))
    out = {}
    for name, pid in procs.items():
        s = stat(pid)
        if not s:
            continue
        live, todo = 0.0, [pid]
        while todo:
            for child, own in parents.get(todo.pop(), []):
                live += own
                todo.append(child)
        out[name] = {"pid": pid, "self": s[0], "children": s[1] + live}
    return out


def api_requests():
    """'VERB resource[/subresource]' -> count, from kube-apiserver's /metrics (admin KUBECONFIG)."""
    text = subprocess.run(["kubectl", "get", "--raw", "/metrics"], check=True, capture_output=True, text=True).stdout
    totals = {}
    for line in text.splitlines():
        if not line.startswith("apiserver_request_total{"):
            continue
        labels_text, value = line[len("apiserver_request_total{"):].rsplit("} ", 1)
        labels = {}
        for part in labels_text.split('",'):
            if "=" in part:
                k, v = part.split("=", 1)
                labels[k] = v.strip('"')
        resource = labels.get("resource", "")
        if not resource:
            continue  # non-resource URLs: /metrics, /healthz, discovery
        if labels.get("subresource"):
            resource += "/" + labels["subresource"]
        key = f"{labels.get('verb', '?')} {resource}"
        totals[key] = totals.get(key, 0) + float(value)
    return totals


def snapshot():
    state = os.environ["STOREFLEET_STATE"]
    return {"time": time.time(), "cpu": cpu(processes(state)), "api": api_requests()}


def diff(before, after, stores):
    api = {}
    for key, value in after["api"].items():
        delta = value - before["api"].get(key, 0)
        if delta > 0:
            api[key] = round(delta / stores, 2)
    cpu_per_store = {}
    for name, a in after["cpu"].items():
        b = before["cpu"].get(name)
        if not b or b["pid"] != a["pid"]:
            continue  # restarted (or started) in between: its counters are not comparable
        cpu_per_store[name] = round((a["self"] - b["self"]) / stores, 4)
        children = a["children"] - b["children"]
        if name == "postgres":  # the postmaster's backends are postgres itself
            cpu_per_store[name] = round((a["self"] - b["self"] + children) / stores, 4)
        elif children > 0.005:
            label = f"helm (children of {name})" if name.startswith("provisioner") else f"{name} children"
            cpu_per_store[label] = round(children / stores, 4)
    return {"stores": stores, "seconds": round(after["time"] - before["time"], 2),
            "api_requests_per_store": dict(sorted(api.items(), key=lambda kv: -kv[1])),
            "api_requests_per_store_total": round(sum(api.values()), 1),
            "cpu_seconds_per_store": dict(sorted(cpu_per_store.items(), key=lambda kv: -kv[1])),
            "cpu_seconds_per_store_total": round(sum(cpu_per_store.values()), 4)}


def main():
    if len(sys.argv) == 2 and sys.argv[1] == "snapshot":
        print(json.dumps(snapshot()))
    elif len(sys.argv) == 5 and sys.argv[1] == "diff":
        stores = int(sys.argv[4])
        if stores < 1:
            sys.exit("costs.py: the number of stores must be at least 1")
        print(json.dumps(diff(json.load(open(sys.argv[2])), json.load(open(sys.argv[3])), stores)))
    else:
        sys.exit("usage: costs.py snapshot | costs.py diff BEFORE.json AFTER.json STORES")


if __name__ == "__main__":
    main()
