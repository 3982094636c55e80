#!/usr/bin/env python3
"""Drift repair end to end (docs/decisions/0012-drift-repair.md), on the real platform.

Creates two stores through the front door and waits until they are ready. Then, as an operator
with the admin kubeconfig would:

- repair (the default): deletes the first store's NetworkPolicy default-deny and scales one of
  its Deployments to 0. The provisioner must notice both from its watches and repair them: the
  policy re-created, the Deployment back at its replicas, the store's timeline naming both, the
  store in sync again, storefleet_provisioner_drift_total counting them. Then deletes that
  Deployment and the provisioner's RoleBinding in the store: both re-created;
- warn: annotates the second store storefleet.io/drift-mode=warn and makes the same drift. It
  must be reported (out_of_sync, the text in the condition and the timeline) and nothing
  repaired (no object back, no Helm revision); once the annotation is removed it is repaired;
- image and quota: `kubectl set image` on the first store's Deployment and its ResourceQuota
  edited: the image put back by one Helm repair (one revision), the quota re-applied (none),
  each timed; a `kubectl rollout restart` of it is no drift (no revision, no event);
- while stopped: every provisioner stopped, the second store's Service and the provisioner's
  RoleBinding in it deleted, the provisioners started: both found missing from the release's
  record and the expected binding, and re-created;
- an ignore rule: the provisioners restarted with STOREFLEET_DRIFT_IGNORE=Deployment/spec.replicas;
  the first store's Deployment scaled to 0 and its LimitRange deleted: the LimitRange is
  re-created, the Deployment left at 0 and not named. The provisioners are then started again
  as they ran.

Prints the time from each change to its repair or report. Starts the platform with
infra/local/platform unless it runs. Needs the stack's environment (tests/with-stack). Every
wait has a deadline.
"""
import json
import os
import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import secrets

from e2e_support import PLATFORM, STATE, check, env_file, failures, request, wait


def kubectl(*args, check_rc=True):
    out = subprocess.run(["kubectl", "--request-timeout=20s", *args], capture_output=True, text=True)
    if check_rc and out.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)}: {out.stderr.strip()}")
    return out


def drift_metric(url, prefix="storefleet_provisioner_drift_total{"):
    total = {}
    with urllib.request.urlopen(url + "/metrics", timeout=10) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(prefix):
                labels, value = line.rsplit(" ", 1)
                total[labels] = float(value)
    return total


def helm_revisions(ns):
    out = kubectl("-n", ns, "get", "secrets", "-l", "owner=helm,name=store", "-o", "name")
    return len([line for line in out.stdout.splitlines() if line.strip()])


def first_deployment(ns):
    deployments = json.loads(kubectl("-n", ns, "get", "deployments", "-o", "json").stdout)["items"]
    if not deployments:
        return None, None
    return deployments[0]["metadata"]["name"], deployments[0]["spec"].get("replicas", 1)


def replicas_of(ns, deployment):
    got = kubectl("-n", ns, "get", "deployment", deployment, "-o", "jsonpath={.spec.replicas}", check_rc=False)
    return got.stdout.strip() if got.returncode == 0 else None


def exists(ns, kind, name):
    return kubectl("-n", ns, "get", kind, name, check_rc=False).returncode == 0


def create_store(base, token):
    name = "drift-" + secrets.token_hex(3)
    status, created = request(base, "POST", "/api/v1/stores", token, {"name": name, "engine": "woocommerce"})
    check(status == 202, f"store {name} created (got {status})")
    return created["id"] if status == 202 else None


def wait_ready(base, token, store_id):
    return wait(f"store {store_id} is ready", 300, lambda: (
        lambda s: s if s[0] == 200 and s[1]["status"] == "ready" else None)(
            request(base, "GET", "/api/v1/stores/" + store_id, token)))


def running_provisioners():
    out = subprocess.run(["bash", PLATFORM, "ps"], capture_output=True, text=True, check=True).stdout
    return [fields[0] for fields in (line.split() for line in out.splitlines()[1:])
            if len(fields) == 4 and fields[0].startswith("provisioner") and fields[3] == "running"]


def restart_provisioners(names, env, while_stopped=None):
    for name in names:
        subprocess.run(["bash", PLATFORM, "kill", name], check=True, stdout=subprocess.DEVNULL)
    if while_stopped:
        while_stopped()
    for name in names:
        subprocess.run(["bash", PLATFORM, "start", name], check=True, stdout=subprocess.DEVNULL, env=env)


def main():
    started = False
    if subprocess.run(["bash", PLATFORM, "status"], capture_output=True).returncode != 0:
        subprocess.run(["bash", PLATFORM, "up"], check=True, stdout=subprocess.DEVNULL)
        started = True
    try:
        platform = env_file(os.path.join(STATE, "env.d/platform"))
        with open(platform["STOREFLEET_TOKEN_FILE"], encoding="utf-8") as f:
            token = f.read().strip()
        base, provisioner_url = platform["STOREFLEET_URL"], platform["STOREFLEET_PROVISIONER_URL"]
        ids = [create_store(base, token), create_store(base, token)]
        try:
            if all(ids) and all(wait_ready(base, token, store_id) for store_id in ids):
                repair_case(base, token, provisioner_url, ids[0])
                image_and_quota_case(base, token, provisioner_url, ids[0])
                warn_case(base, token, provisioner_url, ids[1])
                stopped_case(base, token, ids[1])
                ignore_case(base, token, ids[0])
        finally:
            for store_id in filter(None, ids):
                request(base, "DELETE", "/api/v1/stores/" + store_id, token)
    finally:
        if started:
            subprocess.run(["bash", PLATFORM, "down"], stdout=subprocess.DEVNULL)
    print(f"drift repair e2e: {len(failures)} failed")
    return 1 if failures else 0


def repair_case(base, token, provisioner_url, store_id):
    ns = "store-" + store_id
    annotations = json.loads(kubectl("get", "namespace", ns, "-o", "json").stdout)["metadata"]["annotations"]
    check(annotations.get("storefleet.io/suspended") == "false" and
          "storefleet.io/observed-command-offset" in annotations,
          f"the namespace records suspended and the converged command's offset ({annotations})")
    deployments = json.loads(kubectl("-n", ns, "get", "deployments", "-o", "json").stdout)["items"]
    if not check(deployments, "the store has a Deployment"):
        return
    deployment = deployments[0]["metadata"]["name"]
    want = deployments[0]["spec"].get("replicas", 1)
    before = drift_metric(provisioner_url)
    # No wait for the watches: an object deleted before the namespace watch saw the store
    # converged is kept as deleted and judged once it has (drift_watcher.cpp).

    changed = time.monotonic()
    kubectl("-n", ns, "delete", "networkpolicy", "default-deny")
    kubectl("-n", ns, "scale", "deployment", deployment, "--replicas=0")
    print(f"deleted NetworkPolicy default-deny and scaled Deployment {deployment} to 0", flush=True)

    times = {}
    def repaired():
        if "policy" not in times and kubectl("-n", ns, "get", "networkpolicy", "default-deny",
                                             check_rc=False).returncode == 0:
            times["policy"] = time.monotonic() - changed
        if "deployment" not in times:
            got = kubectl("-n", ns, "get", "deployment", deployment, "-o",
                          "jsonpath={.spec.replicas}", check_rc=False)
            if got.returncode == 0 and got.stdout.strip() == str(want):
                times["deployment"] = time.monotonic() - changed
        return len(times) == 2
    wait("both repaired", 120, repaired)
    for what, seconds in times.items():
        print(f"repaired {what} {seconds:.2f}s after the change", flush=True)
    check("policy" in times, "NetworkPolicy default-deny re-created")
    check("deployment" in times, f"Deployment {deployment} back at {want} replicas")

    def timeline():
        status, shown = request(base, "GET", "/api/v1/stores/" + store_id, token)
        if status == 200 and "NetworkPolicy default-deny was deleted" in (shown.get("reason") or "") \
                and (shown.get("condition") or {}).get("state") == "in_sync":
            return shown
        return None
    shown = wait("the store says what was repaired and is in sync", 60, timeline)
    if shown:
        print(f"store reason: {shown.get('reason')!r}; condition {shown.get('condition')}", flush=True)
        check("re-created" in shown["reason"], "the reason says the policy was re-created")
    after = drift_metric(provisioner_url)
    grown = {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}
    print(f"storefleet_provisioner_drift_total grew by {grown}", flush=True)
    check(any('kind="NetworkPolicy"' in k and 'action="repaired"' in k for k in grown),
          "drift_total counts the policy repaired")

    # The Deployment itself and the provisioner's own RoleBinding deleted: the binding is put
    # back first (nothing else could be written without it), the Deployment by the Helm repair.
    bindings = kubectl("-n", ns, "get", "rolebindings", "-l", "storefleet.io/store-id", "-o",
                       "jsonpath={.items[*].metadata.name}").stdout.split()
    if check(len(bindings) == 1, f"the store has the provisioner's RoleBinding ({bindings})"):
        changed = time.monotonic()
        kubectl("-n", ns, "delete", "deployment", deployment, "--wait=false")
        kubectl("-n", ns, "delete", "rolebinding", bindings[0])
        print(f"deleted Deployment {deployment} and RoleBinding {bindings[0]}", flush=True)

        def both_back():
            if replicas_of(ns, deployment) != str(want) or not exists(ns, "rolebinding", bindings[0]):
                return None
            status, shown = request(base, "GET", "/api/v1/stores/" + store_id, token)
            reason = (shown.get("reason") or "") if status == 200 else ""
            if f"Deployment {deployment} was deleted; re-created" in reason and \
                    f"RoleBinding {bindings[0]} was deleted; re-created" in reason and \
                    (shown.get("condition") or {}).get("state") == "in_sync":
                return shown
            return None
        shown = wait("the Deployment and the RoleBinding are re-created", 60, both_back)
        if shown:
            print(f"Deployment and RoleBinding re-created {time.monotonic() - changed:.2f}s after the "
                  f"change: {shown['reason']!r}", flush=True)
    # The credentials Secret is never watched (decision 0009): only the safety net finds it
    # gone, and never re-creates it. Checked when the platform runs it often enough.
    resync_s = int(os.environ.get("STOREFLEET_DRIFT_RESYNC_SECONDS", "3600"))
    if 0 < resync_s <= 60:
        deleted = time.monotonic()
        kubectl("-n", ns, "delete", "secret", "store-credentials")

        def out_of_sync():
            status, shown = request(base, "GET", "/api/v1/stores/" + store_id, token)
            condition = (shown or {}).get("condition") or {}
            if status == 200 and condition.get("state") == "out_of_sync" and \
                    "Secret store-credentials was deleted" in (condition.get("message") or ""):
                return condition
            return None
        condition = wait("the safety net reports the deleted Secret", 3 * resync_s + 30, out_of_sync)
        if condition:
            print(f"safety net found the Secret gone {time.monotonic() - deleted:.1f}s after: "
                  f"{condition['message']!r}", flush=True)
        check(kubectl("-n", ns, "get", "secret", "store-credentials", check_rc=False).returncode != 0,
              "the credentials Secret is not re-created with new values")
    # The safety net's cost so far: API requests per store compared.
    resync = drift_metric(provisioner_url, "storefleet_provisioner_drift_resync_")
    print("safety net so far: " + ", ".join(
        f"{k} {v:g}" for k, v in resync.items() if "_bucket" not in k), flush=True)


def drift_timeline(base, token, store_id, *texts):
    """The reasons of the store's drift events since `since` once they have every text and the
    store is in sync (one event or several: two drifts made a moment apart may be two repairs),
    else None."""
    status, shown = request(base, "GET", "/api/v1/stores/" + store_id, token)
    if status != 200 or (shown.get("condition") or {}).get("state") != "in_sync":
        return None
    status, timeline = request(base, "GET", f"/api/v1/stores/{store_id}/events", token)
    reasons = [e.get("reason") or "" for e in (timeline or []) if e.get("step") == "drift"]
    if status == 200 and all(any(text in reason for reason in reasons) for text in texts):
        return reasons
    return None


def image_and_quota_case(base, token, provisioner_url, store_id):
    ns = "store-" + store_id
    deployments = json.loads(kubectl("-n", ns, "get", "deployments", "-o", "json").stdout)["items"]
    if not check(deployments, "the store has a Deployment"):
        return
    deployment = deployments[0]["metadata"]["name"]
    container = deployments[0]["spec"]["template"]["spec"]["containers"][0]
    image = container["image"]
    quota = json.loads(kubectl("-n", ns, "get", "resourcequota", "store-quota", "-o", "json").stdout)
    pods = quota["spec"]["hard"].get("pods")
    revisions = helm_revisions(ns)

    # kubectl rollout restart first: a template annotation, asked on purpose. No drift: no
    # repair, no event (checked below with the image's: one revision for both).
    kubectl("-n", ns, "rollout", "restart", "deployment", deployment)
    changed = time.monotonic()
    kubectl("-n", ns, "set", "image", f"deployment/{deployment}", f"{container['name']}=registry.invalid/drift:1")
    quota_changed = time.monotonic()
    kubectl("-n", ns, "patch", "resourcequota", "store-quota", "--type=merge",
            "-p", json.dumps({"spec": {"hard": {"pods": "999"}}}))
    print(f"set image of Deployment {deployment} container {container['name']} and edited "
          "ResourceQuota store-quota (pods 999)", flush=True)
    times = {}

    def repaired():
        if "image" not in times:
            got = kubectl("-n", ns, "get", "deployment", deployment, "-o",
                          "jsonpath={.spec.template.spec.containers[0].image}", check_rc=False)
            if got.returncode == 0 and got.stdout.strip() == image:
                times["image"] = time.monotonic() - changed
        if "quota" not in times:
            got = kubectl("-n", ns, "get", "resourcequota", "store-quota", "-o",
                          "jsonpath={.spec.hard.pods}", check_rc=False)
            if got.returncode == 0 and got.stdout.strip() == str(pods):
                times["quota"] = time.monotonic() - quota_changed
        return len(times) == 2
    wait("the image and the quota are repaired", 60, repaired)
    for what, seconds in times.items():
        print(f"repaired {what} {seconds:.2f}s after the change", flush=True)
    check("image" in times, f"Deployment {deployment} image back at {image}")
    check("quota" in times, f"ResourceQuota store-quota back at pods {pods}")
    image_text = f"Deployment {deployment} container {container['name']} image was changed to " \
                 "\"registry.invalid/drift:1\""
    quota_text = "ResourceQuota store-quota was changed (its spec is not the"
    reasons = wait("the timeline names the image and the quota put back, the store in sync", 60,
                   lambda: drift_timeline(base, token, store_id, image_text, quota_text))
    if reasons:
        print(f"image and quota: in sync {time.monotonic() - changed:.2f}s after the change; "
              f"drift events {[r for r in reasons if 'image' in r or 'ResourceQuota' in r]!r}", flush=True)
        check(any(image_text in r and "restored" in r for r in reasons), "the image is said restored")
        check(not any("restartedAt" in r or "annotation" in r for r in reasons),
              "kubectl rollout restart is not drift")
    check(helm_revisions(ns) == revisions + 1,
          f"one Helm revision for the image (the quota is applied, the restart no drift): "
          f"{revisions} -> {helm_revisions(ns)}")


def stopped_case(base, token, store_id):
    ns = "store-" + store_id
    replicas = running_provisioners()
    services = kubectl("-n", ns, "get", "services", "-l", "app.kubernetes.io/instance=store", "-o",
                       "jsonpath={.items[*].metadata.name}").stdout.split()
    bindings = kubectl("-n", ns, "get", "rolebindings", "-l", "storefleet.io/store-id", "-o",
                       "jsonpath={.items[*].metadata.name}").stdout.split()
    if not check(replicas and services and len(bindings) == 1,
                 f"provisioners run, the store has a Service and one RoleBinding ({services}, {bindings})"):
        return
    service, binding = services[0], bindings[0]
    started = {}

    def delete_both():
        kubectl("-n", ns, "delete", "service", service)
        kubectl("-n", ns, "delete", "rolebinding", binding)
        print(f"stopped: deleted Service {service} and RoleBinding {binding} with no provisioner "
              "running", flush=True)
        started["at"] = time.monotonic()
    restart_provisioners(replicas, os.environ, delete_both)
    reasons = wait("the Service and the RoleBinding deleted while stopped are re-created", 90,
                   lambda: exists(ns, "service", service) and exists(ns, "rolebinding", binding) and
                   drift_timeline(base, token, store_id, f"Service {service} is missing; re-created",
                                  f"RoleBinding {binding} is missing; re-created"))
    if reasons:
        print(f"stopped: re-created and in sync {time.monotonic() - started['at']:.2f}s after the "
              f"provisioners were started; drift events {[r for r in reasons if 'missing' in r]!r}",
              flush=True)


def warn_case(base, token, provisioner_url, store_id):
    ns = "store-" + store_id
    kubectl("annotate", "namespace", ns, "storefleet.io/drift-mode=warn")
    deployment, want = first_deployment(ns)
    if not check(deployment is not None, "the warn store has a Deployment"):
        return
    revisions = helm_revisions(ns)
    before = drift_metric(provisioner_url)
    changed = time.monotonic()
    kubectl("-n", ns, "delete", "networkpolicy", "default-deny")
    kubectl("-n", ns, "scale", "deployment", deployment, "--replicas=0")
    print(f"warn: deleted NetworkPolicy default-deny and scaled Deployment {deployment} to 0", flush=True)
    policy_text = "NetworkPolicy default-deny was deleted; not repaired (drift mode warn)"
    scaled_text = f"Deployment {deployment} was scaled to 0 while the store is not suspended; " \
                  "not repaired (drift mode warn)"

    def reported():
        status, shown = request(base, "GET", "/api/v1/stores/" + store_id, token)
        condition = (shown or {}).get("condition") or {}
        message = condition.get("message") or ""
        if status == 200 and condition.get("state") == "out_of_sync" and policy_text in message \
                and scaled_text in message:
            return shown
        return None
    shown = wait("the warn store is reported out of sync", 60, reported)
    if not shown:
        return
    print(f"warn: reported {time.monotonic() - changed:.2f}s after the change: "
          f"{shown['condition']['message']!r}", flush=True)
    status, timeline = request(base, "GET", f"/api/v1/stores/{store_id}/events", token)
    check(status == 200 and any(event.get("step") == "drift" and policy_text in (event.get("reason") or "")
                                for event in timeline or []),
          "the store's timeline has the drift report")
    # The report is made instead of a repair: by now a repair would have been done.
    check(not exists(ns, "networkpolicy", "default-deny"), "warn: NetworkPolicy default-deny not re-created")
    check(replicas_of(ns, deployment) == "0", f"warn: Deployment {deployment} left at 0")
    check(helm_revisions(ns) == revisions, f"warn: no Helm revision added (still {revisions})")
    after = drift_metric(provisioner_url)
    check(any('kind="NetworkPolicy"' in k and 'action="reported"' in k and after[k] > before.get(k, 0)
              for k in after), "drift_total counts the policy reported")

    # The operator lets the platform's mode apply again: the same drift is now repaired.
    switched = time.monotonic()
    kubectl("annotate", "namespace", ns, "storefleet.io/drift-mode-")

    def repaired():
        if not exists(ns, "networkpolicy", "default-deny") or replicas_of(ns, deployment) != str(want):
            return None
        status, shown = request(base, "GET", "/api/v1/stores/" + store_id, token)
        if status == 200 and (shown.get("condition") or {}).get("state") == "in_sync" \
                and "re-created" in (shown.get("reason") or ""):
            return shown
        return None
    if wait("the warned drift is repaired once the store is back in repair mode", 60, repaired):
        print(f"warn -> repair: repaired and in sync {time.monotonic() - switched:.2f}s after the "
              "annotation was removed", flush=True)
        check(helm_revisions(ns) == revisions + 1, "one Helm revision for the repair")


def ignore_case(base, token, store_id):
    ns = "store-" + store_id
    deployment, want = first_deployment(ns)
    replicas = running_provisioners()
    if not check(deployment is not None and replicas, "the store has a Deployment and provisioners run"):
        return
    ignoring = dict(os.environ, STOREFLEET_DRIFT_IGNORE="Deployment/spec.replicas")
    restart_provisioners(replicas, ignoring)
    try:
        # Made before or after the restarted replicas' watches have listed: either way the
        # LimitRange is found gone ("was deleted" from a watch, "is missing" from a list).
        changed = time.monotonic()
        kubectl("-n", ns, "scale", "deployment", deployment, "--replicas=0")
        kubectl("-n", ns, "delete", "limitrange", "store-limits")
        print(f"ignore: scaled Deployment {deployment} to 0 and deleted LimitRange store-limits "
              "with STOREFLEET_DRIFT_IGNORE=Deployment/spec.replicas", flush=True)

        def repaired():
            if not exists(ns, "limitrange", "store-limits"):
                return None
            status, shown = request(base, "GET", "/api/v1/stores/" + store_id, token)
            reason = (shown.get("reason") or "") if status == 200 else ""
            condition = shown.get("condition") or {} if status == 200 else {}
            # With a short safety-net period the Secret deleted above is reported again (it is
            # never re-created): out of sync for that reason only is fine here.
            secret_only = condition.get("state") == "out_of_sync" and \
                (condition.get("message") or "").startswith("Secret store-credentials was deleted")
            if re.search(r"LimitRange store-limits (was deleted|is missing); re-created", reason) \
                    and (condition.get("state") == "in_sync" or secret_only):
                return shown
            return None
        shown = wait("the LimitRange is re-created", 60, repaired)
        if shown:
            print(f"ignore: LimitRange re-created {time.monotonic() - changed:.2f}s after the change; "
                  f"reason {shown['reason']!r}", flush=True)
            check("scaled" not in shown["reason"], "the ignored replicas are not named")
            check(replicas_of(ns, deployment) == "0", f"the ignored Deployment {deployment} is left at 0")
    finally:
        restart_provisioners(replicas, os.environ)


if __name__ == "__main__":
    sys.exit(main())
