#!/usr/bin/env bash
# A real Kafka broker: the platform's topics exist with 12 partitions, and a message
# produced with a key is consumed back.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../../../infra/local/lib/common.sh"
source "$(dirname "$0")/../../../infra/local/parts/kafka.sh"
: "${STOREFLEET_KAFKA_BROKERS:?}"
describe=$(kafka_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$STOREFLEET_KAFKA_BROKERS" --describe --topic store-commands)
partitions=$(grep -o 'PartitionCount: *[0-9]*' <<<"$describe" | grep -o '[0-9]*$')
[[ $partitions == 12 ]] || fail "store-commands has '$partitions' partitions, want 12"
topic="smoke-$RANDOM"
kafka_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$STOREFLEET_KAFKA_BROKERS" --create --topic "$topic" --partitions 1 >/dev/null
marker="hello-$RANDOM"
echo "k1:$marker" | kafka_tool kafka.tools.ConsoleProducer --bootstrap-server "$STOREFLEET_KAFKA_BROKERS" \
    --topic "$topic" --property parse.key=true --property key.separator=: >/dev/null
got=$(kafka_tool org.apache.kafka.tools.consumer.ConsoleConsumer --bootstrap-server "$STOREFLEET_KAFKA_BROKERS" \
    --topic "$topic" --from-beginning --max-messages 1 --timeout-ms 60000 --property print.key=true 2>/dev/null)
kafka_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$STOREFLEET_KAFKA_BROKERS" --delete --topic "$topic" >/dev/null || true
[[ $got == "k1	$marker" ]] || fail "consumed '$got'"
echo "ok: kafka round trip"
