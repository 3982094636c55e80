#!/usr/bin/env python3
"""Helpers of the chart tests for rendered manifests (JSON from `kubectl create
--dry-run=client -o json`) and for objects the API server returned. Standard library only.

  manifests.py workload-pods  < list.json   Pods and PVCs a real install would create from the
                                             Deployments, StatefulSets and Jobs (a server-side dry
                                             run of a workload does not create its pods, so quota,
                                             LimitRange and Pod Security on pods are exercised by
                                             dry-running these instead)
  manifests.py check-labels STORE_ID < list.json
                                             every object carries the app.kubernetes.io labels,
                                             helm.sh/chart and storefleet.io/store-id; every pod
                                             template and claim template carries the store id
  manifests.py check-resources < list.json  every container and init container of every pod sets
                                             cpu and memory requests and limits
  manifests.py check-not-defaulted < list.json
                                             no admitted Pod had requests/limits filled in by the
                                             LimitRange (the API server's limit-ranger annotation)
Exit status 1 with one line per problem on stderr.
"""
import json
import sys

REQUIRED_LABELS = [
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/component",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/managed-by",
    "helm.sh/chart",
    "storefleet.io/store-id",
]
WORKLOADS = ("Deployment", "StatefulSet", "Job")


def read_objects(text):
    """Objects from one JSON document, a List, or several documents one after the other (what
    kubectl prints for a multi-document file)."""
    decoder = json.JSONDecoder()
    objs, pos = [], 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos == len(text):
            return objs
        doc, pos = decoder.raw_decode(text, pos)
        objs.extend(doc.get("items", []) if doc.get("kind") == "List" else [doc])


def name_of(obj):
    return f'{obj.get("kind")}/{obj.get("metadata", {}).get("name")}'


def pod_specs(objs):
    """(description, pod metadata, pod spec) of every pod the objects run."""
    for obj in objs:
        if obj.get("kind") == "Pod":
            yield name_of(obj), obj.get("metadata", {}), obj.get("spec", {})
        elif obj.get("kind") in WORKLOADS:
            template = obj["spec"]["template"]
            yield name_of(obj), template.get("metadata", {}), template.get("spec", {})


def workload_pods(objs):
    out = []
    for obj in objs:
        kind = obj.get("kind")
        if kind not in WORKLOADS:
            continue
        name = obj["metadata"]["name"]
        template = obj["spec"]["template"]
        metadata = {
            "name": f"{name}-dry-run",
            "labels": template.get("metadata", {}).get("labels", {}),
            "annotations": template.get("metadata", {}).get("annotations", {}),
        }
        spec = json.loads(json.dumps(template["spec"]))
        # A StatefulSet's pod gets one claim per volumeClaimTemplate, named <claim>-<set>-<ordinal>.
        for claim in obj["spec"].get("volumeClaimTemplates", []) if kind == "StatefulSet" else []:
            claim_meta = dict(claim.get("metadata", {}))
            claim_name = f'{claim_meta["name"]}-{name}-0'
            spec.setdefault("volumes", []).append(
                {"name": claim_meta["name"], "persistentVolumeClaim": {"claimName": claim_name}})
            claim_meta["name"] = claim_name
            out.append({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                        "metadata": claim_meta, "spec": claim["spec"]})
        out.append({"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec})
    return {"apiVersion": "v1", "kind": "List", "items": out}


def check_labels(objs, store_id):
    problems = []
    for obj in objs:
        labels = obj.get("metadata", {}).get("labels", {})
        missing = [key for key in REQUIRED_LABELS if key not in labels]
        if missing:
            problems.append(f"{name_of(obj)} lacks labels {', '.join(missing)}")
        elif labels["storefleet.io/store-id"] != store_id:
            problems.append(f'{name_of(obj)} has store id {labels["storefleet.io/store-id"]}')
        if obj.get("kind") in WORKLOADS:
            pod_labels = obj["spec"]["template"].get("metadata", {}).get("labels", {})
            if pod_labels.get("storefleet.io/store-id") != store_id:
                problems.append(f"{name_of(obj)}: its pods lack storefleet.io/store-id")
            for claim in obj["spec"].get("volumeClaimTemplates", []):
                if claim.get("metadata", {}).get("labels", {}).get("storefleet.io/store-id") != store_id:
                    problems.append(f"{name_of(obj)}: its volume claims lack storefleet.io/store-id")
    return problems


def check_resources(objs):
    problems = []
    for what, _, spec in pod_specs(objs):
        for container in spec.get("initContainers", []) + spec.get("containers", []):
            resources = container.get("resources", {})
            for section in ("requests", "limits"):
                for resource in ("cpu", "memory"):
                    if resource not in resources.get(section, {}):
                        problems.append(f'{what}: container {container["name"]} sets no {section}.{resource}')
    return problems


def check_not_defaulted(objs):
    problems = []
    for obj in objs:
        if obj.get("kind") != "Pod":
            continue
        note = obj.get("metadata", {}).get("annotations", {}).get("kubernetes.io/limit-ranger")
        if note:
            problems.append(f"{name_of(obj)}: the LimitRange filled in resources ({note})")
    return problems


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    objs = read_objects(sys.stdin.read())
    command = argv[1]
    if command == "workload-pods":
        json.dump(workload_pods(objs), sys.stdout)
        return 0
    if command == "check-labels" and len(argv) == 3:
        problems = check_labels(objs, argv[2])
    elif command == "check-resources":
        problems = check_resources(objs)
    elif command == "check-not-defaulted":
        problems = check_not_defaulted(objs)
    else:
        sys.exit(__doc__)
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
