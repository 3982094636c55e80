#include "storefleet/kafka/publisher.hpp"

#include <librdkafka/rdkafkacpp.h>

#include <atomic>
#include <mutex>
#include <stdexcept>

#include "event_logger.hpp"

namespace storefleet::kafka {
namespace {

// One PublishAndWait call's progress; the delivery callback finds it via msg_opaque.
struct Batch {
    std::atomic<int> pending{0};
    std::atomic<int> failed{0};
    std::mutex mutex;
    std::string first_error;
};

void SetOrThrow(RdKafka::Conf& conf, const std::string& name, const std::string& value) {
    std::string error;
    if (conf.set(name, value, error) != RdKafka::Conf::CONF_OK) {
        throw std::runtime_error("kafka setting " + name + ": " + error);
    }
}

}  // namespace

class KafkaPublisher::DeliveryReports : public RdKafka::DeliveryReportCb {
public:
    void dr_cb(RdKafka::Message& message) override {
        auto* batch = static_cast<Batch*>(message.msg_opaque());
        if (batch == nullptr) return;
        if (message.err() != RdKafka::ERR_NO_ERROR) {
            std::lock_guard lock(batch->mutex);
            if (batch->first_error.empty()) batch->first_error = message.errstr();
            batch->failed.fetch_add(1);
        }
        batch->pending.fetch_sub(1);
    }
};

KafkaPublisher::KafkaPublisher(const std::string& brokers, const std::string& client_id,
                               const KafkaSettings& overrides)
    : reports_(std::make_unique<DeliveryReports>()) {
    std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
    std::string error;
    SetOrThrow(*conf, "bootstrap.servers", brokers);
    SetOrThrow(*conf, "client.id", client_id);
    // Idempotence gives acks=all, in-order, no duplicates from internal retries.
    SetOrThrow(*conf, "enable.idempotence", "true");
    SetOrThrow(*conf, "linger.ms", "2");
    SetOrThrow(*conf, "compression.type", "lz4");
    // librdkafka's default (300 s) would let a caller wait five minutes on a broker that is
    // gone; PublishAndWait waits for every delivery report, so this bounds its wait.
    SetOrThrow(*conf, "message.timeout.ms", "30000");
    for (const auto& [name, value] : overrides) SetOrThrow(*conf, name, value);
    if (conf->set("event_cb", static_cast<RdKafka::EventCb*>(&SharedEventLogger()), error) !=
        RdKafka::Conf::CONF_OK) {
        throw std::runtime_error("kafka event_cb: " + error);
    }
    if (conf->set("dr_cb", reports_.get(), error) != RdKafka::Conf::CONF_OK) {
        throw std::runtime_error("kafka dr_cb: " + error);
    }
    producer_.reset(RdKafka::Producer::create(conf.get(), error));
    if (!producer_) throw std::runtime_error("cannot create Kafka producer: " + error);
}

KafkaPublisher::~KafkaPublisher() {
    if (producer_) producer_->flush(5000);
}

Status KafkaPublisher::PublishAndWait(const std::vector<OutgoingMessage>& messages,
                                      std::chrono::milliseconds timeout) {
    if (messages.empty()) return Status::Ok();
    auto batch = std::make_shared<Batch>();
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::size_t produced = 0;
    for (const auto& message : messages) {
        for (;;) {
            batch->pending.fetch_add(1);
            RdKafka::Headers* headers = nullptr;
            if (!message.headers.empty()) {
                headers = RdKafka::Headers::create();
                for (const auto& [name, value] : message.headers) headers->add(name, value);
            }
            auto err = producer_->produce(
                message.topic, RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY,
                const_cast<char*>(message.payload.data()), message.payload.size(),  // NOLINT
                message.key.data(), message.key.size(), 0, headers, batch.get());
            if (err == RdKafka::ERR_NO_ERROR) break;
            delete headers;  // NOLINT(cppcoreguidelines-owning-memory): kept by us when produce
                             // fails
            batch->pending.fetch_sub(1);
            if (err != RdKafka::ERR__QUEUE_FULL || std::chrono::steady_clock::now() > deadline) {
                // Wait for what was produced so the batch outlives its callbacks.
                while (batch->pending.load() > 0) producer_->poll(10);
                return Error::Retryable("kafka_produce", "cannot produce to " + message.topic +
                                                             ": " + RdKafka::err2str(err));
            }
            producer_->poll(10);
        }
        ++produced;
    }
    while (batch->pending.load() > 0) {
        if (std::chrono::steady_clock::now() > deadline) {
            // The messages stay queued in librdkafka; their callbacks still need the batch,
            // so keep it alive until they have all reported.
            producer_->flush(5000);
            while (batch->pending.load() > 0) producer_->poll(100);
            return Error::Retryable(
                "kafka_timeout",
                "Kafka did not acknowledge " + std::to_string(produced) + " messages in time");
        }
        producer_->poll(5);
    }
    if (batch->failed.load() > 0) {
        std::lock_guard lock(batch->mutex);
        return Error::Retryable("kafka_delivery", "Kafka refused " +
                                                      std::to_string(batch->failed.load()) +
                                                      " messages: " + batch->first_error);
    }
    return Status::Ok();
}

}  // namespace storefleet::kafka
