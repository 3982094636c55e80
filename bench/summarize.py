#!/usr/bin/env python3
"""Turns a bench/run.sh result file (JSON lines) into the Markdown summary table."""
import json, sys

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
by = {}
for r in rows:
    by.setdefault(r["section"], []).append(r)
m = by["machine"][0]
print(f"### {m['mode']} run, git {m['git']}: {m['cores']} cores, {m['mem_gib']} GiB, kernel {m['kernel']}\n")
base = by.get("baseline", [{}])[0].get("result", {})
print("| measurement | figure | reference | ratio |")
print("| --- | --- | --- | --- |")
for p in by.get("provision", []):
    r = p["result"]
    sps = r.get("stores_per_second") or 0
    ratio = f"{sps / base['stores_per_second']:.1f}x" if base.get("stores_per_second") else "n/a"
    print(f"| provision {r['stores']} stores, in-flight {p['in_flight']}, replicas {p.get('replicas', 1)} | {r['ready']} ready in "
          f"{r['event_span_seconds']} s = {sps} stores/s; POST-to-Ready p50 {r['post_to_ready_p50']:.1f} s, "
          f"p95 {r['post_to_ready_p95']:.1f} s, p99 {r['post_to_ready_p99']:.1f} s | baseline (one at a time, "
          f"helm --wait): {base.get('stores_per_second')} stores/s | {ratio} |")
# The ceiling after each provisioning run: the same objects and readiness rule, no storefleet.
provisions = {(p["in_flight"], p.get("replicas", 1), p["result"]["stores"]): p["result"] for p in by.get("provision", [])}
for c in by.get("ceiling", []):
    r = c.get("result")
    if not r:
        print(f"| ceiling, in-flight {c['in_flight']}, replicas {c.get('replicas', 1)} | DID NOT RUN (see the run's log) | | |")
        continue
    mine = provisions.get((c["in_flight"], c.get("replicas", 1), r["stores"]), {})
    ours, ceil = mine.get("stores_per_second") or 0, r.get("stores_per_second") or 0
    ratio = f"{ours / ceil:.2f}x" if ceil else "n/a"
    print(f"| ceiling: {r['stores']} stores' objects ({r['objects_per_store']} each) applied straight to the API server, "
          f"in flight {r['in_flight']} | {r['ready']} ready in {r['seconds']} s = {ceil:.2f} stores/s; apply-to-Ready "
          f"p50 {r['apply_to_ready_p50']:.1f} s, p99 {r['apply_to_ready_p99']:.1f} s; the tool {r['tool_cpu_seconds']:.2f} CPU-s"
          f"{'; ' + str(r['failed']) + ' FAILED: ' + r.get('first_error', '') if r['failed'] else ''} | "
          f"storefleet, same size and limit: {ours} stores/s | {ratio} of the ceiling |")
for s in by.get("steady", []):
    r = s["result"]
    def at(key):
        return f"{r[key]:.1f} s" if r.get(key) is not None else "n/a"
    print(f"| steady arrivals: {s['rate']} stores/s for {s['duration']} s (achieved {r.get('achieved_rate')}/s) | "
          f"{r['ready']} of {r['stores']} ready; POST-to-Ready p50 {at('post_to_ready_p50')}, p90 {at('post_to_ready_p90')}, "
          f"p99 {at('post_to_ready_p99')} | | |")
for s in by.get("steps", []):
    steps = ", ".join(f"{k} {v:.2f} s" for k, v in sorted(s["mean_seconds"].items()))
    print(f"| mean time per step, in-flight {s['in_flight']} | {steps} | | |")
for p in by.get("provision", []):
    usage = ", ".join(f"{n} {u['cpu_cores_avg']} cores / {u['rss_peak_mib']} MiB"
                      for n, u in sorted(p["result"]["processes"].items()))
    print(f"| CPU (avg cores) / peak RSS, {p['result']['stores']} stores | {usage} | | |")
if "intake" in by:
    i = by["intake"][0]
    r = i["result"]
    pg = by.get("pgbench_insert_reference", [{}])[0].get("tps")
    ratio = f"{r['rps'] / pg:.2f}x" if pg else "n/a"
    queued = f", {i['outbox_rows']} in the outbox" if "outbox_rows" in i else ""
    print(f"| intake POST, 64 connections | {r['rps']} req/s, p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms; "
          f"{r['accepted']} accepted{queued}, {i['reached_kafka']} reached Kafka, {i['unsent_after_drain']} unsent | "
          f"pgbench single-row insert, 64 clients: {pg} tps | {ratio} |")
ref = by.get("nginx_static_reference", [{}])[0].get("result", {})
if ref.get("non2xx"):
    # A reference that answered errors measures nothing: say so instead of a ratio.
    print(f"| nginx static reference | INVALID: {ref['non2xx']} of {ref.get('requests')} answers were not 2xx | | |")
    ref = {}
pg_select = by.get("pgbench_select_reference", [{}])[0].get("tps")
if pg_select:
    print(f"| pgbench -S (select-only, prepared), 64 clients | {pg_select:.0f} tps | | |")
for key, label in (("query_list", "query GET /stores?limit=50 (10,000 stores)"), ("query_get", "query GET /stores/{id}")):
    if key in by:
        r = by[key][0]["result"]
        load = f" (load {by[key][0]['load']})" if by[key][0].get("load") else ""
        if key == "query_get" and pg_select:
            reference, ratio = f"pgbench -S: {pg_select:.0f} tps", f"{r['rps'] / pg_select:.2f}x"
        else:
            reference = f"nginx static file of the list's size: {ref.get('rps')} req/s"
            ratio = f"{r['rps'] / ref['rps']:.2f}x" if ref.get("rps") else "n/a"
        print(f"| {label} | {r['rps']} req/s, p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms, non-2xx {r['non2xx']}{load} | "
              f"{reference} | {ratio} |")
if "projection_lag" in by:
    r = by["projection_lag"][0]["result"]
    print(f"| projection lag at {r['rate']} events/s | p50 {r['lag_p50_ms']:.1f} ms, p99 {r['lag_p99_ms']:.1f} ms, "
          f"max {r['lag_max_ms']:.1f} ms; {r['projected']} of {r['sent']} projected | | |")
if "idle_rss_mib" in by:
    idle = ", ".join(f"{k} {v} MiB" for k, v in by["idle_rss_mib"][0]["result"].items())
    print(f"| idle RSS | {idle} | | |")

# Per-store costs from the servers themselves (bench/costs.py): the API server's own request
# counts and each process's CPU time, storefleet beside the ceiling for the same run.
costs = {}
ceilings = {(c["in_flight"], c.get("replicas", 1), c["result"]["stores"]): c["result"] for c in by.get("ceiling", []) if c.get("result")}
for c in by.get("costs", []):
    costs.setdefault((c["in_flight"], c.get("replicas", 1), c["result"]["stores"]), {})[c["run"]] = c["result"]


def cost_tables(title, ours, ceil, tool, keys=("api_requests_per_store", "cpu_seconds_per_store")):
    """Per-store API requests and CPU-seconds, storefleet beside the ceiling (either may be {})."""
    for key, label, fmt in (("api_requests_per_store", "API requests per store (kube-apiserver's apiserver_request_total)", "{:.1f}"),
                            ("cpu_seconds_per_store", "CPU-seconds per store (/proc utime+stime)", "{:.3f}")):
        if key not in keys:
            continue
        a, b = ours.get(key, {}), dict(ceil.get(key, {}))
        if key == "cpu_seconds_per_store" and tool and b:
            # The load tool's own process (and its one helm template), like storefleet's services.
            b["ceiling tool"] = (tool["tool_cpu_seconds"] + tool["helm_template_cpu_seconds"]) / tool["stores"]
            ceil = dict(ceil, cpu_seconds_per_store_total=ceil.get("cpu_seconds_per_store_total", 0) + b["ceiling tool"])
        print(f"\n#### {label}, {title}\n")
        print("| | storefleet | ceiling |")
        print("| --- | --- | --- |")
        for k in sorted(set(a) | set(b), key=lambda k: -(a.get(k, 0) + b.get(k, 0))):
            print(f"| {k} | {fmt.format(a[k]) if k in a else '-'} | {fmt.format(b[k]) if k in b else '-'} |")
        ta, tb = ours.get(key + "_total"), ceil.get(key + "_total")
        print(f"| **total** | {fmt.format(ta) if ta is not None else '-'} | {fmt.format(tb) if tb is not None else '-'} |")


for (limit, replicas, stores), runs in costs.items():
    cost_tables(f"{stores} stores, in-flight {limit}, replicas {replicas}", runs.get("storefleet", {}),
                runs.get("ceiling", {}), ceilings.get((limit, replicas, stores)))


def secs(value):
    return f"{value:.1f} s" if value is not None else "n/a"


def cpu_of(costs, prefix):
    """CPU-seconds per store of the processes whose name starts with prefix (with their helm children)."""
    per = costs.get("cpu_seconds_per_store", {})
    return sum(v for k, v in per.items() if k.startswith(prefix) or k.startswith(f"helm (children of {prefix}"))


def rss(stage, name):
    """RSS of a control-plane process at a fill stage's end, and its growth per added store."""
    before = stage.get("control_plane_rss_mib_before", {}).get(name)
    after = stage.get("control_plane_rss_mib_after", {}).get(name)
    if after is None:
        after = stage["result"].get("processes", {}).get(name, {}).get("rss_end_mib")
    if after is None:
        return "?"
    growth = f" (+{(after - before) / stage['added']:.2f} MiB)" if before is not None else ""
    return f"{after} MiB{growth}"


# The scale curve (full mode): one cluster filled stage by stage, then 1, 2 and 4 replicas.
fill = by.get("fill", [])
if fill:
    fill_ceilings = {c["stage"]: c for c in by.get("fill_ceiling", [])}
    print(f"\n#### Fill curve: one cluster, one platform, in-flight {fill[0]['in_flight']}, "
          f"{m.get('k8s_nodes', '?')} simulated nodes\n")
    print("| stores in the cluster | added | stores/s | POST-to-Ready p50 / p99 | ceiling, same stores and in-flight | "
          "kube-apiserver RSS at the end (growth per added store) | etcd RSS at the end (growth per added store) | "
          "CPU-s per store: all / kube-apiserver / etcd / provisioner+helm | API requests per store |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for f in fill:
        r, c = f["result"], f["costs"]
        procs = r.get("processes", {})
        ceil = fill_ceilings.get(f["stage"], {}).get("result")
        sps = r.get("stores_per_second") or 0
        if ceil and ceil.get("stores_per_second"):
            ceiling_text = (f"{ceil['stores_per_second']:.2f} stores/s, p99 {secs(ceil.get('apply_to_ready_p99'))}: "
                            f"**{sps / ceil['stores_per_second']:.2f}x**"
                            + (f" ({ceil['failed']} FAILED)" if ceil.get("failed") else ""))
        elif f["stage"] in fill_ceilings:
            ceiling_text = "DID NOT RUN (see the run's log)"
        else:
            ceiling_text = "-"
        print(f"| {f['total']} (before: {f['cluster_stores_before']}) | {f['added']} | "
              f"{r['ready']} ready{', ' + str(r['failed']) + ' FAILED' if r.get('failed') else ''} in "
              f"{r['event_span_seconds']} s = {sps} | {secs(r['post_to_ready_p50'])} / {secs(r['post_to_ready_p99'])} | "
              f"{ceiling_text} | {rss(f, 'kube-apiserver')} | {rss(f, 'etcd')} | {c['cpu_seconds_per_store_total']:.3f} / "
              f"{cpu_of(c, 'kube-apiserver'):.3f} / {cpu_of(c, 'etcd'):.3f} / {cpu_of(c, 'provisioner'):.3f} | "
              f"{c['api_requests_per_store_total']} |")
    for x in by.get("fill_skipped", []):
        print(f"\nThe fill stopped before {x['total']} stores (+{x['added']}): the memory guard expected it to need about "
              f"{x['mem_needed_mib']} MiB ({x['mib_per_store']} MiB per store to come, and 1 GiB spare); "
              f"{x['mem_available_mib']} MiB were available.")
    for f in fill:
        steps = ", ".join(f"{k} {v:.2f} s" for k, v in sorted(f.get("steps_mean_seconds", {}).items()))
        print(f"\nStage to {f['total']} stores, mean time per provisioner step: {steps or 'n/a'}")
    # Where the CPU goes per store as the cluster fills: one column per stage (and its ceiling).
    columns = []
    for f in fill:
        columns.append((f"to {f['total']}", f["costs"].get("cpu_seconds_per_store", {})))
        ceil = fill_ceilings.get(f["stage"], {})
        if ceil.get("costs"):
            per = dict(ceil["costs"].get("cpu_seconds_per_store", {}))
            tool = ceil.get("result")
            if tool:
                per["ceiling tool"] = (tool["tool_cpu_seconds"] + tool["helm_template_cpu_seconds"]) / tool["stores"]
            columns.append((f"ceiling at {f['total']}", per))
    names = sorted({k for _, per in columns for k in per}, key=lambda k: -sum(per.get(k, 0) for _, per in columns))
    print("\n#### CPU-seconds per store by process, each fill stage (and its ceiling)\n")
    print("| process | " + " | ".join(t for t, _ in columns) + " |")
    print("| --- |" + " --- |" * len(columns))
    for k in names:
        print(f"| {k} | " + " | ".join(f"{per[k]:.3f}" if k in per else "-" for _, per in columns) + " |")
    print("| **total** | " + " | ".join(f"{sum(per.values()):.3f}" for _, per in columns) + " |")
    # The API requests in detail for the biggest stage that has a ceiling beside it.
    compared = [f for f in fill if fill_ceilings.get(f["stage"], {}).get("costs")]
    if compared:
        f = compared[-1]
        ceil = fill_ceilings[f["stage"]]
        cost_tables(f"fill stage to {f['total']} stores (+{f['added']}), in-flight {f['in_flight']}",
                    f["costs"], ceil["costs"], None, keys=("api_requests_per_store",))
    for c in fill_ceilings.values():
        print(f"\nThe ceiling's {c['added']} namespaces at {c['total']} stores were deleted in {c['delete_seconds']} s.")
replica_runs = by.get("replicas", [])
if replica_runs:
    print(f"\n#### Replicas curve: {replica_runs[0]['result']['stores']} stores each, {replica_runs[0]['in_flight']} in flight "
          f"in total, a fresh platform each\n")
    print("| replicas (in flight each) | stores in the cluster before | stores/s | POST-to-Ready p50 / p99 | "
          "CPU-s per store: all / kube-apiserver / provisioners+helm | API requests per store |")
    print("| --- | --- | --- | --- | --- | --- |")
    for x in replica_runs:
        r, c = x["result"], x["costs"]
        print(f"| {x['replicas']} ({x['in_flight_per_replica']}) | {x['cluster_stores_before']} | {r['ready']} of {r['stores']} "
              f"ready in {r['event_span_seconds']} s = {r.get('stores_per_second')} | {secs(r['post_to_ready_p50'])} / "
              f"{secs(r['post_to_ready_p99'])} | {c['cpu_seconds_per_store_total']:.3f} / {cpu_of(c, 'kube-apiserver'):.3f} / "
              f"{cpu_of(c, 'provisioner'):.3f} | {c['api_requests_per_store_total']} |")
phases = by.get("phase", [])
if phases:
    print("\n#### Where the run's time went\n")
    print("| part | seconds |")
    print("| --- | --- |")
    for p in phases:
        print(f"| {p['name']} | {p['seconds']} |")
    print(f"| **total** | {sum(p['seconds'] for p in phases)} |")
