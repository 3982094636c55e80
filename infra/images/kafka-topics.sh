#!/bin/bash
# kafka-topics.sh of the storefleet kafka-tools image: Apache Kafka's TopicCommand on the jars of
# /opt/kafka/libs, as the distribution's script runs it (heap small: it creates three topics).
read -r -a log4j <<<"${KAFKA_LOG4J_OPTS:-}"
exec java -Xmx256m -XX:+UseSerialGC -Djava.awt.headless=true "${log4j[@]}" \
    -cp '/opt/kafka/libs/*' org.apache.kafka.tools.TopicCommand "$@"
