#!/usr/bin/env python3
"""bench/summarize.py on made-up result lines: the scale curve's tables (fill stages with and
without a ceiling, a stage the memory guard skipped, the replicas curve, the timeline) and the
quick mode's provisioning row. No stack needed; ctest label unit."""
import json, os, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SUMMARIZE = os.path.join(HERE, "..", "summarize.py")


def provision(stores, sps, p50, p99, apiserver_rss=None):
    procs = {"kube-apiserver": {"cpu_seconds": 1.0, "cpu_cores_avg": 0.5, "rss_peak_mib": 900, "rss_end_mib": apiserver_rss or 800}}
    return {"stores": stores, "ready": stores, "failed": 0, "post_seconds": 0.1, "wall_seconds": stores / sps,
            "event_span_seconds": round(stores / sps, 2), "stores_per_second": sps, "post_to_ready_p50": p50,
            "post_to_ready_p90": p99, "post_to_ready_p95": p99, "post_to_ready_p99": p99, "post_to_ready_max": p99,
            "processes": procs}


def costs(stores, apiserver, helm, requests):
    return {"stores": stores, "seconds": 10.0, "api_requests_per_store": {"POST pods": requests},
            "api_requests_per_store_total": requests,
            "cpu_seconds_per_store": {"kube-apiserver": apiserver, "helm (children of provisioner)": helm, "etcd": 0.1},
            "cpu_seconds_per_store_total": round(apiserver + helm + 0.1, 4)}


def run(lines):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        f.write("\n".join(json.dumps(l) for l in lines) + "\n")
    try:
        return subprocess.run([sys.executable, SUMMARIZE, f.name], check=True, capture_output=True, text=True).stdout
    finally:
        os.unlink(f.name)


def expect(text, needle):
    if needle not in text:
        sys.exit(f"FAIL: expected {needle!r} in the summary:\n{text}")


machine = {"section": "machine", "cores": 2, "mem_gib": 23, "kernel": "k", "git": "abc", "mode": "full", "k8s_nodes": 9}
full = [
    machine,
    {"section": "phase", "name": "stack", "seconds": 30},
    {"section": "fill", "stage": 1, "added": 100, "total": 100, "cluster_stores_before": 0, "in_flight": 64, "replicas": 1,
     "result": provision(100, 2.0, 30.0, 49.5), "costs": costs(100, 0.4, 0.14, 130.0),
     "steps_mean_seconds": {"helm": 4.25}, "control_plane_rss_mib_before": {"kube-apiserver": 300, "etcd": 50, "total": 350},
     "control_plane_rss_mib_after": {"kube-apiserver": 550, "etcd": 100, "total": 650}},
    {"section": "fill_ceiling", "stage": 1, "added": 100, "total": 100, "in_flight": 64, "delete_seconds": 42,
     "result": {"stores": 100, "ready": 100, "failed": 0, "stores_per_second": 4.0, "apply_to_ready_p99": 12.0,
                "tool_cpu_seconds": 2.0, "helm_template_cpu_seconds": 0.5},
     "costs": costs(100, 0.3, 0.0, 100.0)},
    {"section": "fill", "stage": 2, "added": 900, "total": 1000, "cluster_stores_before": 100, "in_flight": 64, "replicas": 1,
     "result": provision(900, 1.5, 250.0, 590.0), "costs": costs(900, 0.5, 0.15, 140.0), "steps_mean_seconds": {}},
    {"section": "fill_skipped", "stage": 3, "added": 4000, "total": 5000, "mem_available_mib": 9000,
     "mem_needed_mib": 17674, "mib_per_store": 3},
    {"section": "replicas", "replicas": 1, "in_flight_per_replica": 64, "in_flight": 64, "cluster_stores_before": 1000,
     "result": provision(300, 1.4, 100.0, 210.0), "costs": costs(300, 0.5, 0.15, 140.0)},
    {"section": "replicas", "replicas": 4, "in_flight_per_replica": 16, "in_flight": 64, "cluster_stores_before": 1300,
     "result": provision(300, 1.2, 120.0, 250.0), "costs": costs(300, 0.55, 0.16, 150.0)},
    {"section": "phase", "name": "fill to 100", "seconds": 60},
]
out = run(full)
expect(out, "#### Fill curve: one cluster, one platform, in-flight 64, 9 simulated nodes")
# Stage 1 beside its ceiling: 2.0 / 4.0 stores/s; apiserver grew 250 MiB over 100 stores.
expect(out, "| 100 (before: 0) | 100 | 100 ready in 50.0 s = 2.0 | 30.0 s / 49.5 s | 4.00 stores/s, p99 12.0 s: **0.50x** |")
expect(out, "550 MiB (+2.50 MiB) | 100 MiB (+0.50 MiB) | 0.640 / 0.400 / 0.100 / 0.140 | 130.0 |")
# Stage 2 has no ceiling and no RSS snapshots: the provision result's end RSS stands in.
expect(out, "| 1000 (before: 100) | 900 | 900 ready in 600.0 s = 1.5 | 250.0 s / 590.0 s | - | 800 MiB | ? |")
expect(out, "The fill stopped before 5000 stores (+4000): the memory guard expected it to need about 17674 MiB")
expect(out, "| process | to 100 | ceiling at 100 | to 1000 |")
# The ceiling's own tool: (2.0 + 0.5) CPU-s over 100 stores.
expect(out, "| ceiling tool | - | 0.025 | - |")
expect(out, "The ceiling's 100 namespaces at 100 stores were deleted in 42 s.")
expect(out, "| 4 (16) | 1300 | 300 of 300 ready in 250.0 s = 1.2 | 120.0 s / 250.0 s | 0.810 / 0.550 / 0.160 | 150.0 |")
expect(out, "| **total** | 90 |")

quick = [
    dict(machine, mode="quick"),
    {"section": "provision", "in_flight": 32, "replicas": 1, "result": provision(100, 2.0, 30.0, 49.5)},
    {"section": "baseline", "result": {"stores": 10, "stores_per_second": 0.4}},
]
out = run(quick)
expect(out, "| provision 100 stores, in-flight 32, replicas 1 | 100 ready in 50.0 s = 2.0 stores/s")
expect(out, "| 5.0x |")
if "Fill curve" in out or "Replicas curve" in out:
    sys.exit(f"FAIL: a quick run's summary has scale-curve tables:\n{out}")
print("ok")
