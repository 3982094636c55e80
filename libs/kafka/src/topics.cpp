#include "storefleet/kafka/topics.hpp"

#include <librdkafka/rdkafkacpp.h>

#include <algorithm>
#include <memory>
#include <thread>

#include "storefleet/common/log.hpp"

namespace storefleet::kafka {

Result<int> CountPartitions(const std::string& brokers, const std::string& topic,
                            std::chrono::milliseconds timeout) {
    std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
    std::string error;
    if (conf->set("bootstrap.servers", brokers, error) != RdKafka::Conf::CONF_OK ||
        conf->set("client.id", "storefleet-topic-check", error) != RdKafka::Conf::CONF_OK) {
        return Error::Permanent("kafka_config", error);
    }
    std::unique_ptr<RdKafka::Producer> producer(RdKafka::Producer::create(conf.get(), error));
    if (!producer) return Error::Permanent("kafka_config", error);
    std::unique_ptr<RdKafka::Topic> handle(
        RdKafka::Topic::create(producer.get(), topic, nullptr, error));
    if (!handle) return Error::Permanent("kafka_config", error);
    RdKafka::Metadata* raw = nullptr;
    const auto code =
        producer->metadata(false, handle.get(), &raw, static_cast<int>(timeout.count()));
    std::unique_ptr<RdKafka::Metadata> metadata(raw);
    if (code != RdKafka::ERR_NO_ERROR) {
        return Error::Retryable("kafka_unavailable", "cannot read the metadata of topic " + topic +
                                                         ": " + RdKafka::err2str(code));
    }
    for (const auto* found : *metadata->topics()) {
        if (found->topic() != topic) continue;
        if (found->err() == RdKafka::ERR_UNKNOWN_TOPIC_OR_PART) {
            return Error::Permanent("topic_missing", "topic " + topic + " does not exist");
        }
        if (found->err() != RdKafka::ERR_NO_ERROR) {
            return Error::Retryable("kafka_unavailable",
                                    "topic " + topic + ": " + RdKafka::err2str(found->err()));
        }
        return static_cast<int>(found->partitions()->size());
    }
    return Error::Permanent("topic_missing", "topic " + topic + " does not exist");
}

Result<std::map<std::string, int>> WaitForPartitionCounts(const std::string& brokers,
                                                          const std::vector<std::string>& topics,
                                                          std::chrono::seconds patience) {
    const auto deadline = std::chrono::steady_clock::now() + patience;
    std::map<std::string, int> counts;
    auto backoff = std::chrono::milliseconds(500);
    for (const auto& topic : topics) {
        for (;;) {
            auto count = CountPartitions(brokers, topic);
            if (count.ok()) {
                counts[topic] = *count;
                break;
            }
            if (!count.error().retryable()) return count.error();
            log::Warn("cannot count the partitions of a topic yet; retrying",
                      {{"topic", topic}, {"error", count.error().message}});
            if (std::chrono::steady_clock::now() + backoff > deadline) return count.error();
            std::this_thread::sleep_for(backoff);
            backoff = std::min(backoff * 2, std::chrono::milliseconds(10'000));
        }
    }
    return counts;
}

}  // namespace storefleet::kafka
