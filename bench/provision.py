#!/usr/bin/env python3
"""Provisioning throughput: POST N stores at once, wait until all are Ready, report totals,
percentiles of POST-to-Ready (from the stores' own timelines in Postgres) and the CPU and
memory each process used. Prints one JSON object. Standard library only.

Steady-rate mode (--rate R --duration S): POST R stores a second for S seconds on a fixed
schedule (open loop: a POST never waits for earlier stores, nor for earlier POSTs to answer),
then wait for all of them and report the same figures plus the rate achieved."""
import argparse, concurrent.futures, json, os, subprocess, threading, time, urllib.request

CLK = os.sysconf("SC_CLK_TCK")


def proc_stats(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / CLK
        status = dict(l.split(":", 1) for l in open(f"/proc/{pid}/status") if ":" in l)
        rss = int(status.get("VmRSS", "0 kB").split()[0]) // 1024
        hwm = int(status.get("VmHWM", "0 kB").split()[0]) // 1024
        return cpu, rss, hwm
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


def processes(state):
    found = {}
    for sub, names in (("platform", ["intake", "query", "projector", "provisioner", "nginx"]),
                       ("k8s", ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"]),
                       ("kafka", ["kafka"]), ):
        for name in names:
            path = os.path.join(state, sub, f"{name}.pid")
            if os.path.exists(path):
                found[name] = int(open(path).read().split()[0])
    for path in sorted(os.listdir(os.path.join(state, "platform"))):
        if path.startswith("provisioner-") and path.endswith(".pid"):
            found[path[:-4]] = int(open(os.path.join(state, "platform", path)).read().split()[0])
    return found


def psql(url, sql):
    # The statement goes in on stdin: a run's id list (4,000 stores: 156 KB) is over the
    # kernel's limit for one command-line argument (128 KiB).
    return subprocess.run(["psql", "-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1", url], input=sql, check=True,
                          capture_output=True, text=True).stdout.strip()


def post(url, token, name):
    body = json.dumps({"name": name, "engine": "woocommerce"}).encode()
    req = urllib.request.Request(url + "/api/v1/stores", data=body, method="POST",
                                 headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 202, resp.status
        return json.load(resp)["id"]


def post_steady(url, token, prefix, rate, duration):
    """POSTs on a fixed schedule (store i at start + i/rate), each from its own thread so a
    slow answer delays nobody. Returns the ids in schedule order, the seconds until the last
    POST was answered, and how late the schedule's worst send was."""
    count = int(rate * duration)
    ids, errors, lateness = [None] * count, [], [0.0]
    lock = threading.Lock()

    def one(i):
        try:
            ids[i] = post(url, token, f"{prefix}-{i}")
        except Exception as e:  # noqa: BLE001 - reported, not hidden
            with lock:
                errors.append(f"{prefix}-{i}: {e}")

    threads = []
    start = time.time()
    for i in range(count):
        due = start + i / rate
        now = time.time()
        if due > now:
            time.sleep(due - now)
        lateness[0] = max(lateness[0], time.time() - due)
        t = threading.Thread(target=one, args=(i,), daemon=True)
        t.start()
        threads.append(t)
    for t in threads:
        t.join(60)
    if errors:
        raise SystemExit(f"{len(errors)} POSTs failed, first: {errors[0]}")
    return ids, time.time() - start, lateness[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--stores", type=int, default=100)
    ap.add_argument("--rate", type=float, help="steady mode: stores per second (with --duration)")
    ap.add_argument("--duration", type=float, help="steady mode: seconds of arrivals")
    ap.add_argument("--prefix", default=f"bench{int(time.time()) % 100000}")
    ap.add_argument("--deadline", type=int, default=900)
    args = ap.parse_args()
    steady = args.rate is not None or args.duration is not None
    if steady and not (args.rate and args.duration and args.rate > 0 and args.duration > 0):
        ap.error("--rate and --duration go together, both above 0")
    state = os.environ["STOREFLEET_STATE"]
    url, pg = os.environ["STOREFLEET_URL"], os.environ["STOREFLEET_PG_URL"]
    token = open(os.environ["STOREFLEET_TOKEN_FILE"]).read().strip()
    procs = processes(state)
    before = {n: proc_stats(p) for n, p in procs.items()}

    start = time.time()
    late = None
    if steady:
        ids, posted, late = post_steady(url, token, args.prefix, args.rate, args.duration)
        args.stores = len(ids)
    else:
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            ids = list(pool.map(lambda i: post(url, token, f"{args.prefix}-{i}"), range(args.stores)))
        posted = time.time() - start
    id_list = ",".join(f"'{i}'" for i in ids)
    peak = {}
    ready = failed = 0
    while time.time() - start < args.deadline:
        counts = psql(pg, f"select count(*) filter (where status='ready'), count(*) filter (where status='failed') "
                          f"from read.stores where store_id in ({id_list})")
        ready, failed = (int(x) for x in counts.split("|"))
        for n, p in procs.items():
            s = proc_stats(p)
            if s:
                peak[n] = max(peak.get(n, 0), s[1])
        if ready + failed >= args.stores:
            break
        # Each poll reads every store of the run: poll a big run less often (up to 2 s).
        time.sleep(min(2.0, max(0.5, args.stores / 1000)))
    total = time.time() - start
    after = {n: proc_stats(p) for n, p in procs.items()}
    lat = psql(pg, f"""
        with t as (
          select store_id,
                 extract(epoch from max(occurred_at) filter (where status = 'ready')
                                  - min(occurred_at) filter (where status = 'requested')) as s
          from read.store_events where store_id in ({id_list}) group by store_id)
        select percentile_cont(0.5) within group (order by s), percentile_cont(0.9) within group (order by s),
               percentile_cont(0.95) within group (order by s),
               percentile_cont(0.99) within group (order by s), max(s),
               extract(epoch from (select max(occurred_at) from read.store_events
                                    where store_id in ({id_list}) and status = 'ready')
                              - (select min(occurred_at) from read.store_events
                                    where store_id in ({id_list}) and status = 'requested'))
        from t where s is not null""")
    p50, p90, p95, p99, pmax, span = (float(x) if x else None for x in lat.split("|"))
    usage = {}
    for n in procs:
        if before.get(n) and after.get(n):
            usage[n] = {"cpu_seconds": round(after[n][0] - before[n][0], 1),
                        "cpu_cores_avg": round((after[n][0] - before[n][0]) / total, 2),
                        "rss_peak_mib": peak.get(n, after[n][1]), "rss_end_mib": after[n][1]}
    result = {"stores": args.stores, "ready": ready, "failed": failed,
              "post_seconds": round(posted, 2), "wall_seconds": round(total, 2),
              "event_span_seconds": round(span, 2) if span else None,
              "stores_per_second": round(ready / span, 2) if span else None,
              "post_to_ready_p50": p50, "post_to_ready_p90": p90, "post_to_ready_p95": p95,
              "post_to_ready_p99": p99, "post_to_ready_max": pmax, "processes": usage}
    if steady:
        # Achieved: the stores POSTed over the time until the last POST was answered.
        result = {"mode": "steady", "rate": args.rate, "duration": args.duration,
                  "achieved_rate": round(len(ids) / posted, 3) if posted else None,
                  "schedule_late_max_seconds": round(late, 3), **result}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
