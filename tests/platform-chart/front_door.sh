#!/usr/bin/env bash
# The chart's front door (the dashboard pod's nginx, templates/dashboard-configmap.yaml) runs
# here as rendered, in front of three stub upstreams that answer with their own name. Every
# operation of docs/openapi.yaml must reach the service its `x-storefleet-service` names:
# admin calls and writes to intake, reads to query, the live stream to query's stream port.
# Needs helm, nginx and python3 (no cluster).
source "$(dirname "$0")/lib.sh"
SPEC="$(cd "$(dirname "$0")/../.." && pwd)/docs/openapi.yaml"
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || fail "nginx is not installed (make deps)"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

helm template sf "$CHART" --show-only templates/dashboard-configmap.yaml >"$WORK/cm.yaml" \
    || fail "helm template of the dashboard ConfigMap"
# Four distinct ports: all four sockets are held open until every port is known.
read -r front intake query stream < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(4)]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))')

# The rendered config with the cluster's names and paths swapped for this machine's.
python3 - "$WORK" "$front" "$intake" "$query" "$stream" <<'PY' || fail "rewriting the rendered nginx.conf"
import re, sys, yaml
work, front, intake, query, stream = sys.argv[1:]
conf = yaml.safe_load(open(f"{work}/cm.yaml"))["data"]["nginx.conf"]
def upstream(name, port):
    global conf
    conf, n = re.subn(r"upstream %s \{ server [^;]+;" % name, "upstream %s { server 127.0.0.1:%s;" % (name, port), conf)
    assert n == 1, f"upstream {name} not found exactly once"
upstream("intake", intake); upstream("query", query); upstream("query_stream", stream)
conf = conf.replace("listen 8080;", f"listen 127.0.0.1:{front};").replace("/tmp/", f"{work}/")
conf = conf.replace("/usr/share/nginx/html", f"{work}/html")
open(f"{work}/nginx.conf", "w").write(conf)
PY
# nginx started as root serves files as its worker user: the folders must be readable.
chmod 755 "$WORK"
mkdir -p "$WORK/html" && echo '<!doctype html><title>dashboard</title>' >"$WORK/html/index.html"

# A stub upstream: any method, any path, answers {"service": NAME, "method": ..., "path": ...}.
cat >"$WORK/stub.py" <<'PY'
import json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
name, port = sys.argv[1], int(sys.argv[2])
class Stub(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length: self.rfile.read(length)
        body = json.dumps({"service": name, "method": self.command, "path": self.path,
                           "xff": self.headers.get("X-Forwarded-For", "")}).encode()
        self.send_response(200); self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = answer
    def log_message(self, *args): pass
ThreadingHTTPServer(("127.0.0.1", port), Stub).serve_forever()
PY
pids=()
for stub in intake:$intake query:$query stream:$stream; do
    python3 "$WORK/stub.py" "${stub%%:*}" "${stub##*:}" & pids+=($!)
done
"$NGINX" -p "$WORK" -c "$WORK/nginx.conf" -g 'daemon off;' 2>"$WORK/nginx.err" & pids+=($!)
trap 'kill "${pids[@]}" 2>/dev/null || true; [[ -n ${KEEP:-} ]] || _cleanup' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$front/healthz" >/dev/null && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$front/healthz" >/dev/null || { cat "$WORK/nginx.err" >&2; fail "the chart's nginx did not start"; }
# nginx answers /healthz itself; the stubs behind it are waited for too.
for port in "$intake" "$query" "$stream"; do
    for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/" >/dev/null && break; sleep 0.1; done
    curl -sf "http://127.0.0.1:$port/" >/dev/null || fail "a stub upstream on port $port did not start"
done

python3 - "$SPEC" "$front" <<'PY'
import json, re, sys, urllib.request, yaml
spec, front = yaml.safe_load(open(sys.argv[1])), sys.argv[2]
checked = wrong = 0
for path, item in spec["paths"].items():
    concrete = re.sub(r"\{[^}]+\}", "0b7c6f0e-1d2a-4c3b-9e8f-7a6b5c4d3e2f", path)
    for method in ("get", "post", "put", "patch", "delete"):
        if method not in item: continue
        want = item[method]["x-storefleet-service"]
        request = urllib.request.Request(f"http://127.0.0.1:{front}{concrete}", method=method.upper(),
                                         data=b"{}" if method in ("post", "patch", "put") else None,
                                         headers={"Content-Type": "application/json"})
        try:
            got = json.load(urllib.request.urlopen(request, timeout=5))["service"]
        except Exception as error:
            got = f"error {error}"
        checked += 1
        if got != want:
            wrong += 1
            print(f"FAIL: {method.upper()} {path} reached {got}, not {want}", file=sys.stderr)
if checked < 15: sys.exit(f"FAIL: only {checked} operations in the document")
if wrong: sys.exit(1)
print(f"ok: all {checked} operations of docs/openapi.yaml reach their service through the chart's front door")
PY
# The dashboard itself, and a path no service knows still goes to query (its 404 problem).
grep -q dashboard <<<"$(curl -sf "http://127.0.0.1:$front/stores/x")" || fail "the dashboard's routes are not served index.html"
[[ $(curl -s "http://127.0.0.1:$front/api/v1/nothing" | python3 -c 'import json,sys; print(json.load(sys.stdin)["service"])') == query ]] \
    || fail "an unknown GET under /api/ did not reach query"
ok "front door: SPA fallback and unknown paths"
# Two proxies, as deployed: the Ingress controller set X-Forwarded-For to the client it saw
# (203.0.113.7); the front door must append its own peer, never replace the header, so the
# services find the client as the rightmost hop outside trustedProxies (ClientAddressTest).
for path in /api/v1/stores /api/v1/stores/x /api/v1/stores/events /api/v1/admin/tenants; do
    xff=$(curl -s -H "X-Forwarded-For: 203.0.113.7" "http://127.0.0.1:$front$path" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["xff"])')
    [[ $xff == "203.0.113.7, 127.0.0.1" ]] || fail "the front door sent X-Forwarded-For '$xff' for $path, not '203.0.113.7, 127.0.0.1'"
done
ok "front door: X-Forwarded-For keeps the Ingress's client and appends the front door's peer"
