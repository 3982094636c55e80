#!/usr/bin/env python3
"""pack.py ROOTFS_TAR OUT_TAR REF CONFIG_JSON: wraps one root file system tarball into a
docker-archive image (one layer, an image config and a manifest) that
`ctr -n k8s.io images import` loads, so the real node runs it with imagePullPolicy Never or
IfNotPresent, without a registry. CONFIG_JSON is the image's runtime config (Env, Cmd,
Entrypoint, User, WorkingDir)."""
import hashlib, io, json, sys, tarfile, time

rootfs, out, ref, runtime = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
h = hashlib.sha256()
with open(rootfs, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
        h.update(chunk)
diff_id = "sha256:" + h.hexdigest()
config = json.dumps({
    "architecture": "amd64", "os": "linux",
    "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    "config": runtime,
    "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    "history": [{"created_by": "storefleet infra/images/build.sh"}],
}, sort_keys=True).encode()
config_name = hashlib.sha256(config).hexdigest() + ".json"
layer_name = h.hexdigest() + "/layer.tar"
manifest = json.dumps([{"Config": config_name, "RepoTags": [ref], "Layers": [layer_name]}]).encode()

def add_bytes(t, name, data):
    info = tarfile.TarInfo(name)
    info.size, info.mtime = len(data), int(time.time())
    t.addfile(info, io.BytesIO(data))

with tarfile.open(out, "w") as t:
    add_bytes(t, "manifest.json", manifest)
    add_bytes(t, config_name, config)
    t.add(rootfs, arcname=layer_name)
print(diff_id)
