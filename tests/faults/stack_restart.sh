#!/usr/bin/env bash
# Regression: every part of the local real stack comes back on the same port and with
# its data after `infra/local/down PART` and `infra/local/up PART` (a Postgres row, a
# Kafka topic's messages, a Kubernetes object), and kube-apiserver alone does too.
# Each part is used right before its stop, so the stop leaves TIME_WAIT sockets on its
# port: a port probe that counted those used to move Kafka (and Postgres) to a new port
# while the services kept dialling the old one.
# Runs on the stack of tests/with-stack (its env loaded); restarts its parts in place.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
source "$root/infra/local/lib/common.sh"
source "$root/infra/local/parts/kafka.sh"
: "${STOREFLEET_PG_URL:?run under tests/with-stack}" "${STOREFLEET_KAFKA_BROKERS:?}" "${KUBECONFIG:?}"

fail() { echo "FAIL: $*" >&2; exit 1; }
now_ms() { date +%s%3N; }
since() { awk -v a="$1" -v b="$(now_ms)" 'BEGIN { printf "%.1f", (b - a) / 1000 }'; }
# tcp_sockets PORT STATE: how many sockets on PORT (either end) are in STATE (hex, as in
# /proc/net/tcp: 0A listen, 06 time-wait); no ss needed.
tcp_sockets() {
    python3 - "$1" "$2" <<'PY'
import sys
port, state, n = int(sys.argv[1]), sys.argv[2], 0
for table in ("/proc/net/tcp", "/proc/net/tcp6"):
    with open(table) as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            ends = [int(fields[i].rsplit(":", 1)[1], 16) for i in (1, 2)]
            n += port in ends and fields[3] == state
print(n)
PY
}
env_value() { grep "^export $1=" "$STOREFLEET_STATE/env" | cut -d= -f2-; }
api_server() { grep -o 'server: .*' "$STOREFLEET_STATE/kubeconfig" | cut -d' ' -f2; }
kc() { kubectl --kubeconfig "$KUBECONFIG" --request-timeout=10s "$@"; }
marker="restart-$$-$RANDOM"

# --- Postgres: a row survives, the URL (port) is unchanged -----------------------------
pg_url=$STOREFLEET_PG_URL
PGOPTIONS="-c client_min_messages=warning" psql -q -v ON_ERROR_STOP=1 "$pg_url" -c "create table if not exists faults_restart (v text)" \
    -c "insert into faults_restart values ('$marker')"
start=$(now_ms)
"$root/infra/local/down" postgres
"$root/infra/local/up" postgres
[[ $(env_value STOREFLEET_PG_URL) == "$pg_url" ]] || fail "postgres moved: $pg_url -> $(env_value STOREFLEET_PG_URL)"
got=$(psql -tA "$pg_url" -c "select count(*) from faults_restart where v = '$marker'")
[[ $got == 1 ]] || fail "postgres lost the row (count $got)"
psql -q "$pg_url" -c "delete from faults_restart where v = '$marker'"
echo "ok: postgres back on ${pg_url##*@} with its row after $(since "$start") s"

# --- Kafka: a topic's messages survive, the broker port is unchanged --------------------
brokers=$STOREFLEET_KAFKA_BROKERS
topic="faults-restart-$RANDOM"
kafka_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$brokers" --create --topic "$topic" \
    --partitions 2 >/dev/null
printf 'k1:%s-1\nk2:%s-2\nk3:%s-3\n' "$marker" "$marker" "$marker" |
    kafka_tool kafka.tools.ConsoleProducer --bootstrap-server "$brokers" --topic "$topic" \
        --property parse.key=true --property key.separator=: --producer-property acks=all >/dev/null
consume() {
    kafka_tool org.apache.kafka.tools.consumer.ConsoleConsumer --bootstrap-server "$brokers" \
        --topic "$topic" --from-beginning --max-messages 3 --timeout-ms 60000 2>/dev/null | sort
}
before=$(consume)
[[ $(wc -l <<<"$before") == 3 ]] || fail "kafka: read back '$before' before the restart"
# a client that stays connected through the stop, as the services do: the broker closes
# its connection, which leaves a TIME_WAIT socket on the broker's port
connected=$(mktemp)
rm -f "$connected"
python3 -c 'import socket,sys,time
s=socket.create_connection(("127.0.0.1",int(sys.argv[1]))); open(sys.argv[2],"w").close(); time.sleep(30)' \
    "${brokers##*:}" "$connected" &
holder=$!
wait_for "a client connected to kafka" 10 test -f "$connected" || fail "could not connect to kafka"
rm -f "$connected"
start=$(now_ms)
"$root/infra/local/down" kafka
kill "$holder" 2>/dev/null || true
wait "$holder" 2>/dev/null || true
tw=$(tcp_sockets "${brokers##*:}" 06)
(( tw > 0 )) || echo "note: no TIME_WAIT socket on the broker port; this run does not retrace the old bug"
"$root/infra/local/up" kafka
[[ $(env_value STOREFLEET_KAFKA_BROKERS) == "$brokers" ]] ||
    fail "kafka moved: $brokers -> $(env_value STOREFLEET_KAFKA_BROKERS)"
after=$(consume)
[[ $after == "$before" ]] || fail "kafka: messages before '$before', after '$after'"
kafka_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$brokers" --delete --topic "$topic" >/dev/null || true
echo "ok: kafka back on $brokers with 3 messages of $topic after $(since "$start") s ($tw TIME_WAIT sockets on its port at the restart)"

# --- Kubernetes: an object survives, the API server's port is unchanged -----------------
server=$(api_server)
kc create configmap "$marker" -n default --from-literal=v="$marker" >/dev/null
ports_before=$(<"$STOREFLEET_STATE/k8s/ports")
start=$(now_ms)
"$root/infra/local/down" k8s
"$root/infra/local/up" k8s
[[ $(api_server) == "$server" ]] || fail "kube-apiserver moved: $server -> $(api_server)"
[[ $(<"$STOREFLEET_STATE/k8s/ports") == "$ports_before" ]] || fail "k8s ports changed"
[[ $(kc get configmap "$marker" -n default -o jsonpath='{.data.v}') == "$marker" ]] ||
    fail "k8s lost the ConfigMap"
echo "ok: k8s back on $server with its ConfigMap after $(since "$start") s"
# The restarted KWOK manages its nodes at once: a pod bound right after the restart runs. (A new
# KWOK used to wait up to 40 s for its predecessor's node leases to expire, and a pod bound in
# that window could stay Pending for good.)
probe=restart-probe-$RANDOM
kc -n default run "$probe" --image=storefleet.local/none --restart=Never \
    --overrides='{"spec":{"nodeSelector":{"type":"kwok"},"tolerations":[{"operator":"Exists"}]}}' >/dev/null
probe_start=$SECONDS
until [[ $(kc -n default get pod "$probe" -o jsonpath='{.status.phase}' 2>/dev/null) == Running ]]; do
    (( SECONDS - probe_start < 20 )) || fail "a pod bound after the k8s restart is not Running after 20 s (KWOK not managing its nodes)"
    sleep 0.2
done
kc -n default delete pod "$probe" --wait=false >/dev/null
echo "ok: a pod bound right after the restart ran after $((SECONDS - probe_start)) s"

# --- kube-apiserver alone: stopped and started while etcd and the rest keep running ------
start=$(now_ms)
"$root/infra/local/down" k8s-apiserver
kc get configmap "$marker" -n default >/dev/null 2>&1 && fail "kube-apiserver still answers after down"
status=$("$root/infra/local/status" || true)
grep -q '^etcd: running' <<<"$status" || fail "etcd stopped with the API server: $status"
"$root/infra/local/up" k8s-apiserver
[[ $(api_server) == "$server" ]] || fail "kube-apiserver moved: $server -> $(api_server)"
[[ $(kc get configmap "$marker" -n default -o jsonpath='{.data.v}') == "$marker" ]] ||
    fail "the ConfigMap is gone after the API server restart"
kc delete configmap "$marker" -n default >/dev/null
# The environment a platform started now reads still names the provisioner's identity (the
# restart of one component rewrote env.d/k8s and used to drop its service account).
for var in STOREFLEET_PROVISIONER_KUBECONFIG STOREFLEET_PROVISIONER_SERVICE_ACCOUNT; do
    grep -q "^export $var=" "$STOREFLEET_STATE/env" || fail "$var is gone from the stack's environment after the API server restart"
done
echo "ok: kube-apiserver alone back on $server after $(since "$start") s, with the provisioner's identity in the environment"

# --- a port another process holds is an error naming it, never a move --------------------
"$root/infra/local/down" kafka
python3 -c 'import socket,sys,time
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1",int(sys.argv[1]))); s.listen(); time.sleep(60)' "${brokers##*:}" &
squatter=$!
deadline=$((SECONDS + 10))
until (( $(tcp_sockets "${brokers##*:}" 0A) > 0 )); do
    (( SECONDS < deadline )) || fail "the squatter did not listen"
    sleep 0.1
done
if out=$("$root/infra/local/up" kafka 2>&1); then
    kill "$squatter"
    fail "kafka started although its port was taken: $out"
fi
kill "$squatter"
wait "$squatter" 2>/dev/null || true
grep -q "port ${brokers##*:}.*taken by pid $squatter (python3)" <<<"$out" || fail "unclear error: $out"
echo "ok: a taken port fails with: $(grep -o 'kafka: port.*' <<<"$out" | head -n1)"
"$root/infra/local/up" kafka
[[ $(env_value STOREFLEET_KAFKA_BROKERS) == "$brokers" ]] || fail "kafka moved after the squatter left"
echo "ok: kafka back on $brokers once the port was free"
