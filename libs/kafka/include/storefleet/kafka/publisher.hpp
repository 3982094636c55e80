#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "storefleet/common/result.hpp"

namespace RdKafka {
class Producer;
}

namespace storefleet::kafka {

struct OutgoingMessage {
    std::string topic;
    std::string key;
    std::string payload;
    // Kafka record headers (the dead-letter topic says why and where from).
    std::vector<std::pair<std::string, std::string>> headers;
};

// The process edge for publishing; services depend on this, tests substitute it.
class EventPublisher {
public:
    virtual ~EventPublisher() = default;
    // Returns OK only when the broker acknowledged every message (acks=all). On error
    // some messages may have been written; callers rely on idempotent consumers. Waits
    // `timeout`, and past it at most the producer's message.timeout.ms (30 s unless
    // overridden) for the messages already handed to librdkafka to report.
    virtual Status PublishAndWait(const std::vector<OutgoingMessage>& messages,
                                  std::chrono::milliseconds timeout) = 0;
};

// librdkafka settings a caller may add or override ("linger.ms", ...).
using KafkaSettings = std::map<std::string, std::string>;

class KafkaPublisher final : public EventPublisher {
public:
    KafkaPublisher(const std::string& brokers, const std::string& client_id,
                   const KafkaSettings& overrides = {});
    ~KafkaPublisher() override;
    KafkaPublisher(const KafkaPublisher&) = delete;
    KafkaPublisher& operator=(const KafkaPublisher&) = delete;

    Status PublishAndWait(const std::vector<OutgoingMessage>& messages,
                          std::chrono::milliseconds timeout) override;

private:
    class DeliveryReports;
    std::unique_ptr<DeliveryReports> reports_;
    std::unique_ptr<RdKafka::Producer> producer_;
};

}  // namespace storefleet::kafka
