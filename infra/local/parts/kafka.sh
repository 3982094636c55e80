# shellcheck shell=bash
# Kafka part of the local real stack: one KRaft node (broker + controller) on
# loopback. Sourced after lib/common.sh by the dispatcher; defines kafka_fetch,
# kafka_start, kafka_stop, kafka_status, kafka_create_topics and kafka_tool.
#
# Jars: $STOREFLEET_CACHE/kafka/libs, from Maven Central through
# infra/local/kafka/pom.xml (Kafka 3.9.1 + reload4j, like the binary tarball).
# State, all under $STOREFLEET_STATE/kafka:
#   ports             "<broker port> <controller port>", chosen once, reused
#   server.properties rewritten on every start
#   data/             log.dirs (formatted once by StorageTool)
#   kafka.log         the broker's stdout/stderr (its log4j output goes there)
#   kafka.pid         the broker's pid
# It writes STOREFLEET_KAFKA_BROKERS to $STOREFLEET_STATE/env.d/kafka.

KAFKA_POM="$STOREFLEET_ROOT/infra/local/kafka/pom.xml"
KAFKA_LIBS="$STOREFLEET_CACHE/kafka/libs"
# broker heap flags, word-split into an array in kafka_start
KAFKA_HEAP=${STOREFLEET_KAFKA_HEAP:--Xmx512m -Xms512m}
KAFKA_START_DEADLINE=${STOREFLEET_KAFKA_START_DEADLINE:-60}
# topic:partitions, created by kafka_start
KAFKA_TOPICS=(store-commands:12 store-status:12 store-dead-letter:1)

_kafka_dir() { realpath -m "$STOREFLEET_STATE/kafka"; }

# kafka_fetch: lays the jars out in $KAFKA_LIBS; a no-op while the stamp (a hash
# of the pom) matches. Copies to a fresh directory and swaps it in, so jars of an
# older version never linger beside the new ones and an interrupted fetch leaves
# the old set intact.
kafka_fetch() {
    local stamp_file="$STOREFLEET_CACHE/kafka/.libs-stamp" stamp start=$SECONDS
    stamp=$(sha256sum "$KAFKA_POM" | cut -c1-16)
    if [[ -f $stamp_file && $(<"$stamp_file") == "$stamp" && -d $KAFKA_LIBS ]]; then
        log "kafka: jars are up to date in $KAFKA_LIBS"
        return 0
    fi
    command -v mvn >/dev/null || die "kafka: mvn is not installed"
    mkdir -p "$STOREFLEET_CACHE/kafka"
    local tmp="$KAFKA_LIBS.tmp"
    rm -rf "$tmp"
    log "kafka: fetching jars with maven"
    mvn -q -B -Dstyle.color=never -f "$KAFKA_POM" dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$tmp" >&2 ||
        die "kafka: maven could not fetch the jars"
    ls "$tmp"/kafka_2.13-*.jar >/dev/null 2>&1 || die "kafka: no kafka_2.13 jar in $tmp"
    rm -rf "$KAFKA_LIBS"
    mv "$tmp" "$KAFKA_LIBS"
    echo "$stamp" >"$stamp_file"
    log "kafka: $(find "$KAFKA_LIBS" -name '*.jar' | wc -l) jars in $KAFKA_LIBS in $((SECONDS - start))s"
}

# _kafka_tools_log4j: a quiet log4j config for the command-line tools (warnings
# to stderr), so their output is only what they print themselves.
_kafka_tools_log4j() {
    local f="$STOREFLEET_CACHE/kafka/tools-log4j.properties"
    if [[ ! -f $f ]]; then
        mkdir -p "${f%/*}"
        cat >"$f.tmp" <<'EOF'
log4j.rootLogger=WARN, stderr
log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.Target=System.err
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n
EOF
        mv "$f.tmp" "$f"
    fi
    printf '%s\n' "$f"
}

# kafka_tool CLASS ARGS...: runs a Kafka command-line class on our jars, e.g.
#   kafka_tool org.apache.kafka.tools.TopicCommand --bootstrap-server ... --list
# JVM flags for a short-lived client: C1 only and a small serial heap start much
# faster, which matters on two busy cores.
kafka_tool() {
    local cls=$1
    shift
    java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true \
        -Dlog4j.configuration="file:$(_kafka_tools_log4j)" \
        -cp "$KAFKA_LIBS/*" "$cls" "$@"
}

# _kafka_pid: prints the pid of OUR broker and succeeds, or fails. A pid from
# the file counts only if that process is still a kafka.Kafka started on our
# server.properties, so a reused pid is never taken for ours.
_kafka_pid() {
    local dir
    dir=$(_kafka_dir)
    proc_pid "$dir" kafka "kafka.Kafka $dir/server.properties"
}

# _kafka_serving PORT: true once the broker answers a Metadata request (v4)
# listing at least one live broker. A broker only shows up there after it has
# registered with the controller and been unfenced, so this proves it is really
# serving, not merely listening. Plain python: no JVM per poll.
_kafka_serving() {
    python3 - "$1" <<'PY'
import socket, struct, sys
port = int(sys.argv[1])
client = b"storefleet-probe"
# header v1: api_key=3 (Metadata), api_version=4, correlation_id, client_id;
# body: topics=[] (none), allow_auto_topic_creation=false
req = struct.pack(">hhih", 3, 4, 42, len(client)) + client + struct.pack(">ib", 0, 0)
try:
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.settimeout(2)
        s.sendall(struct.pack(">i", len(req)) + req)
        def read(n):
            buf = b""
            while len(buf) < n:
                chunk = s.recv(n - len(buf))
                if not chunk:
                    raise EOFError
                buf += chunk
            return buf
        size = struct.unpack(">i", read(4))[0]
        resp = read(size)
except (OSError, EOFError):
    sys.exit(1)
corr, _throttle, brokers = struct.unpack(">iii", resp[:12])
sys.exit(0 if corr == 42 and brokers >= 1 else 1)
PY
}

_kafka_write_env() {
    local port=$1
    mkdir -p "$STOREFLEET_STATE/env.d"
    (umask 077 && printf 'STOREFLEET_KAFKA_BROKERS=127.0.0.1:%s\n' "$port" \
        >"$STOREFLEET_STATE/env.d/kafka.tmp")
    chmod 0600 "$STOREFLEET_STATE/env.d/kafka.tmp"
    mv -f "$STOREFLEET_STATE/env.d/kafka.tmp" "$STOREFLEET_STATE/env.d/kafka"
}

# _kafka_cluster_id: a random Kafka Uuid (16 bytes, unpadded url-safe base64),
# as StorageTool random-uuid makes, without paying for a JVM. Like Kafka, avoid
# one starting with '-', which a command line would take for an option.
_kafka_cluster_id() {
    python3 -c '
import base64, os
while True:
    u = base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode()
    if not u.startswith("-"):
        print(u)
        break'
}

kafka_start() {
    local dir pid bport cport start=$SECONDS
    dir=$(_kafka_dir)
    if pid=$(_kafka_pid); then
        read -r bport cport <"$dir/ports"
        log "kafka: already running (pid $pid) on 127.0.0.1:$bport"
        _kafka_write_env "$bport"
        return 0
    fi
    kafka_fetch
    mkdir -p "$dir/data"
    rm -f "$dir/kafka.pid"

    # The ports are chosen once and kept for good (the controller's is part of the
    # quorum config, the broker's is what every running client dials). A port someone
    # else holds is an error naming that process, never a reason to move.
    bport="" cport=""
    [[ -s $dir/ports ]] && read -r bport cport <"$dir/ports"
    if [[ -z $bport || -z $cport ]]; then
        bport=$(free_port)
        cport=$(free_port)
        while [[ $cport == "$bport" ]]; do cport=$(free_port); done
        echo "$bport $cport" >"$dir/ports"
    fi
    require_port kafka "$bport" "broker"
    require_port kafka "$cport" "controller"

    cat >"$dir/server.properties" <<EOF
# written by infra/local/parts/kafka.sh on every start; edits are lost
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$bport,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$bport
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
log.dirs=$dir/data
num.partitions=12
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=12
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=12
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
# a test broker: keep data for a day and in small segments
log.retention.hours=24
log.segment.bytes=67108864
EOF

    # broker log4j: everything to stdout, which goes to kafka.log
    cat >"$dir/log4j.properties" <<'EOF'
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka=INFO
log4j.logger.org.apache.kafka=INFO
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.kafka.log.LogCleaner=WARN
EOF

    # format once: an existing meta.properties means the storage holds a cluster
    if [[ ! -f $dir/data/meta.properties ]]; then
        log "kafka: formatting $dir/data"
        kafka_tool kafka.tools.StorageTool format -t "$(_kafka_cluster_id)" \
            -c "$dir/server.properties" >>"$dir/kafka.log" 2>&1 ||
            { tail -n 20 "$dir/kafka.log" >&2; die "kafka: storage format failed"; }
    fi

    log "kafka: starting on 127.0.0.1:$bport (controller $cport)"
    # In its own session, so a ^C or hangup of the caller does not reach it (proc_spawn).
    local heap
    read -r -a heap <<<"$KAFKA_HEAP"
    proc_spawn "$dir" kafka \
        java "${heap[@]}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
        -Dlog4j.configuration="file:$dir/log4j.properties" -Dkafka.logs.dir="$dir" \
        -cp "$KAFKA_LIBS/*" kafka.Kafka "$dir/server.properties"

    # wait until the broker serves metadata; give up early if it died
    local deadline=$((SECONDS + KAFKA_START_DEADLINE))
    until _kafka_serving "$bport"; do
        if ! proc_running "$(<"$dir/kafka.pid")"; then
            tail -n 30 "$dir/kafka.log" >&2
            die "kafka: broker exited while starting (log: $dir/kafka.log)"
        fi
        if (( SECONDS >= deadline )); then
            tail -n 30 "$dir/kafka.log" >&2
            kafka_stop
            die "kafka: not serving after ${KAFKA_START_DEADLINE}s (log: $dir/kafka.log)"
        fi
        sleep 0.3
    done
    _kafka_write_env "$bport"
    log "kafka: serving on 127.0.0.1:$bport in $((SECONDS - start))s"
    kafka_create_topics
}

# kafka_create_topics: the topics the services expect; idempotent. Each
# TopicCommand is a JVM (~1s here), so list once and create only what is missing:
# a restart costs one JVM instead of three. --if-not-exists still covers a race.
kafka_create_topics() {
    local dir bport cport t existing start=$SECONDS
    dir=$(_kafka_dir)
    read -r bport cport <"$dir/ports"
    existing=$(kafka_tool org.apache.kafka.tools.TopicCommand \
        --bootstrap-server "127.0.0.1:$bport" --list) ||
        die "kafka: listing topics failed"
    for t in "${KAFKA_TOPICS[@]}"; do
        grep -qxF -- "${t%%:*}" <<<"$existing" && continue
        kafka_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "127.0.0.1:$bport" \
            --create --if-not-exists --topic "${t%%:*}" --partitions "${t##*:}" \
            --replication-factor 1 >/dev/null ||
            die "kafka: creating topic ${t%%:*} failed"
    done
    log "kafka: topics ${KAFKA_TOPICS[*]} ready in $((SECONDS - start))s"
}

kafka_stop() {
    local dir
    dir=$(_kafka_dir)
    rm -f "$STOREFLEET_STATE/env.d/kafka"
    # TERM lets the broker close its logs cleanly (no recovery on next start); KILL after 30 s
    if ! proc_stop "$dir" kafka 30 "kafka.Kafka $dir/server.properties"; then
        log "kafka: not running"
        return 0
    fi
    log "kafka: stopped"
}

# kafka_status: prints one line; returns 0 when running, 1 when not.
kafka_status() {
    local dir pid bport cport
    dir=$(_kafka_dir)
    if pid=$(_kafka_pid); then
        read -r bport cport <"$dir/ports"
        if _kafka_serving "$bport"; then
            echo "kafka: running (pid $pid, 127.0.0.1:$bport)"
        else
            echo "kafka: running (pid $pid, 127.0.0.1:$bport) but not serving"
        fi
        return 0
    fi
    echo "kafka: stopped"
    return 1
}
