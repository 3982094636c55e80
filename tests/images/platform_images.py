#!/usr/bin/env python3
"""The platform's registry-less images (infra/images/build.sh) against services/Dockerfile:

- each service image holds the executables the Dockerfile installs for that service, and the
  chart catalogue, at the same paths;
- its shared libraries are exactly those its executables load (ldd, with the loader): nothing
  missing, nothing extra; their Debian packages are the Dockerfile's (what its ldd step copies
  plus what distroless/cc-debian12 has: the libraries its ldd step leaves out);
- it runs as a non-root user, with no shell and no package manager;
- each executable starts in its image's root (chroot: a missing library fails with 127);
- the dashboard's nginx and the kafka-tools' kafka-topics.sh run in theirs.

Usage: tests/images/platform_images.py [IMAGES_DIR] (default ~/.cache/storefleet/images). Run by
`make test-real` after `make images`; needs root (chroot)."""
import json, os, re, shutil, subprocess, sys, tarfile, tempfile

root_dir = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
images_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.expanduser("~/.cache/storefleet/images")
dockerfile = open(os.path.join(root_dir, "services/Dockerfile")).read()
problems = []
CHROOT = shutil.which("chroot") or "/usr/sbin/chroot"


def problem(text):
    problems.append(text)
    print("FAIL:", text, file=sys.stderr)


def dockerfile_executables(service):
    """The files the Dockerfile puts in /usr/local/bin for `service`."""
    found = set(re.findall(r"/out/usr/local/bin/(storefleet-service)\b", dockerfile))
    for name, block in re.findall(r'if \[ "\$SERVICE" = (\w+) \]; then(.*?)fi', dockerfile, re.S):
        if name == service:
            found |= set(re.findall(r"/out/usr/local/bin/([\w.-]+)", block))
    if service == "provisioner":
        stage = dockerfile.split("AS provisioner", 1)[1]
        found |= set(re.findall(r"COPY --from=\S+ \S+ /usr/local/bin/([\w.-]+)", stage))
    return found


# The libraries distroless/cc-debian12 brings, which the Dockerfile's ldd step leaves out.
left_out = re.search(r"grep -vE '([^']+)'", dockerfile)
if not left_out:
    problem("services/Dockerfile no longer copies the ldd libraries minus distroless's: update this test")
    sys.exit(1)
left_out = re.compile(left_out.group(1).replace("\\\\", "\\"))


def unpack(name, into):
    path = os.path.join(images_dir, name + ".tar")
    with tarfile.open(path) as image:
        manifest = json.load(image.extractfile("manifest.json"))[0]
        config = json.load(image.extractfile(manifest["Config"]))["config"]
        (layer,) = manifest["Layers"]
        with tarfile.open(fileobj=image.extractfile(layer)) as rootfs:
            rootfs.extractall(into, filter="tar") if hasattr(tarfile, "data_filter") else rootfs.extractall(into)
    return config


def ldd(path):
    out = subprocess.run(["ldd", path], capture_output=True, text=True).stdout
    libs = set()
    for line in out.splitlines():
        m = re.search(r"=> (/\S+)", line) or re.match(r"\s*(/\S+)", line)
        if m:
            libs.add(os.path.normpath(m.group(1)))
    return libs


_packages = {}


def package_of(path):
    """The Debian package that ships `path` (usrmerge: /lib and /usr/lib are one), cached."""
    if path not in _packages:
        for candidate in (path, os.path.realpath(path), path.replace("/lib/", "/usr/lib/", 1)):
            out = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
            if out.returncode == 0:
                _packages[path] = out.stdout.split(":", 1)[0]
                break
        else:
            _packages[path] = "?" + path
    return _packages[path]


def is_elf(path):
    with open(path, "rb") as f:
        return f.read(4) == b"\x7fELF"


def starts(root, argv):
    """Runs argv in root's chroot, as a container would (its own /proc, where the loader finds
    $ORIGIN, an empty environment): (exit code, output)."""
    proc = os.path.join(root, "proc")
    os.makedirs(proc, exist_ok=True)
    subprocess.run(["mount", "-t", "proc", "proc", proc], check=True)
    try:
        run = subprocess.run([CHROOT, "--userspec=65532:65532", root] + argv, env={}, capture_output=True,
                             stdin=subprocess.DEVNULL, text=True, timeout=60)
    finally:
        subprocess.run(["umount", "-l", proc])
    return run.returncode, run.stdout + run.stderr


for service in ("intake", "query", "projector", "provisioner"):
    with tempfile.TemporaryDirectory() as work:
        config = unpack(service, work)
        bin_dir = os.path.join(work, "usr/local/bin")
        have = set(os.listdir(bin_dir)) if os.path.isdir(bin_dir) else set()
        want = dockerfile_executables(service)
        if have != want:
            problem(f"{service}: /usr/local/bin has {sorted(have)}, the Dockerfile ships {sorted(want)}")
        if not os.path.isfile(os.path.join(work, "opt/storefleet/chart-catalogue/index.json")):
            problem(f"{service}: no chart catalogue at /opt/storefleet/chart-catalogue")
        needed, executables = set(), []
        for name in sorted(have):
            path = os.path.join(bin_dir, name)
            if is_elf(path):
                executables.append(name)
                needed |= ldd(path)  # resolved on this machine, as at build time (Debian 12)
        shipped = set()
        for dirpath, _, files in os.walk(work):
            for f in files:
                rel = "/" + os.path.relpath(os.path.join(dirpath, f), work)
                if re.search(r"\.so(\.\d+)*$", f) or "/ld-linux" in rel:
                    shipped.add(os.path.normpath(rel))
        if shipped != needed:
            if needed - shipped:
                problem(f"{service}: missing libraries {sorted(needed - shipped)}")
            if shipped - needed:
                problem(f"{service}: libraries nothing loads {sorted(shipped - needed)}")
        ours = {package_of(lib) for lib in shipped}
        dockerfile_copies = {package_of(lib) for lib in needed if not left_out.search(lib)}
        distroless = {package_of(lib) for lib in needed if left_out.search(lib)}
        if ours != dockerfile_copies | distroless or not distroless <= {"libc6", "libgcc-s1", "libstdc++6"}:
            problem(f"{service}: packages {sorted(ours)} differ from the Dockerfile's "
                    f"{sorted(dockerfile_copies)} + distroless {sorted(distroless)}")
        user = config.get("User", "")
        if not user or user.split(":")[0] in ("0", "root"):
            problem(f"{service}: runs as {user!r}, not a non-root user")
        for forbidden in ("bin/sh", "bin/bash", "usr/bin/apt-get", "usr/bin/dpkg"):
            if os.path.lexists(os.path.join(work, forbidden)):
                problem(f"{service}: has /{forbidden}")
        for name in executables:
            argv = ["/usr/local/bin/" + name] + (["--version"] if name in ("storefleet",) else [])
            code, out = starts(work, argv)
            if code == 127 or "error while loading shared libraries" in out:
                problem(f"{service}: {name} does not start in its image: {out.strip()[:300]}")
        print(f"ok: {service}: {sorted(have)}, {len(shipped)} libraries ({', '.join(sorted(ours))}), user {user}")

with tempfile.TemporaryDirectory() as work:
    config = unpack("dashboard", work)
    code, out = starts(work, ["/usr/sbin/nginx", "-v"])
    if code != 0 or "nginx version" not in out:
        problem(f"dashboard: nginx does not run: {out.strip()[:300]}")
    if not os.path.isfile(os.path.join(work, "usr/share/nginx/html/index.html")):
        problem("dashboard: no index.html in /usr/share/nginx/html")
    if config.get("User", "").split(":")[0] in ("", "0", "root"):
        problem("dashboard: runs as root")
    print(f"ok: dashboard: {out.strip()}, user {config.get('User')}")

with tempfile.TemporaryDirectory() as work:
    config = unpack("kafka-tools", work)
    version = re.search(r"<kafka.version>(.*)</kafka.version>",
                        open(os.path.join(root_dir, "infra/local/kafka/pom.xml")).read()).group(1)
    code, out = starts(work, ["/opt/kafka/bin/kafka-topics.sh", "--version"])
    if code != 0 or version not in out:
        problem(f"kafka-tools: kafka-topics.sh --version did not say {version}: {out.strip()[:300]}")
    print(f"ok: kafka-tools: kafka-topics.sh --version: {out.strip().splitlines()[-1] if out.strip() else ''}")

sys.exit(1 if problems else 0)
