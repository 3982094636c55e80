#pragma once

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <cstdint>
#include <string>

namespace storefleet::kafka::testing {

// librdkafka's built-in mock cluster (one broker, no network beyond loopback) with one
// topic, for unit tests of producers and consumer groups. Header-only; tests only.
class MockCluster {
public:
    MockCluster(const std::string& topic, int partitions) : topic_(topic) {
        char error[256];
        handle_ = rd_kafka_new(RD_KAFKA_PRODUCER, rd_kafka_conf_new(), error, sizeof(error));
        cluster_ = rd_kafka_mock_cluster_new(handle_, 1);
        rd_kafka_mock_topic_create(cluster_, topic.c_str(), partitions, 1);
    }
    ~MockCluster() {
        rd_kafka_mock_cluster_destroy(cluster_);
        rd_kafka_destroy(handle_);
    }
    MockCluster(const MockCluster&) = delete;
    MockCluster& operator=(const MockCluster&) = delete;

    [[nodiscard]] std::string Brokers() const { return rd_kafka_mock_cluster_bootstraps(cluster_); }
    void SetBrokerDown(bool down) {
        if (down) {
            rd_kafka_mock_broker_set_down(cluster_, 1);
        } else {
            rd_kafka_mock_broker_set_up(cluster_, 1);
        }
    }
    // The group's committed offset of a partition of the topic (-1001: none), read with a
    // plain consumer.
    [[nodiscard]] int64_t Committed(const std::string& group, int32_t partition) const {
        char error[256];
        rd_kafka_conf_t* conf = rd_kafka_conf_new();
        rd_kafka_conf_set(conf, "bootstrap.servers", Brokers().c_str(), error, sizeof(error));
        rd_kafka_conf_set(conf, "group.id", group.c_str(), error, sizeof(error));
        rd_kafka_t* consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, error, sizeof(error));
        rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(list, topic_.c_str(), partition);
        rd_kafka_committed(consumer, list, 5000);
        const int64_t offset = list->elems[0].offset;
        rd_kafka_topic_partition_list_destroy(list);
        rd_kafka_destroy(consumer);
        return offset;
    }

private:
    std::string topic_;
    rd_kafka_t* handle_ = nullptr;
    rd_kafka_mock_cluster_t* cluster_ = nullptr;
};

}  // namespace storefleet::kafka::testing
