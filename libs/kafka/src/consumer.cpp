#include "storefleet/kafka/consumer.hpp"

#include <librdkafka/rdkafkacpp.h>

#include <algorithm>
#include <stdexcept>

#include "event_logger.hpp"
#include "storefleet/common/log.hpp"

namespace storefleet::kafka {
namespace {

void SetOrThrow(RdKafka::Conf& conf, const std::string& name, const std::string& value) {
    std::string error;
    if (conf.set(name, value, error) != RdKafka::Conf::CONF_OK) {
        throw std::runtime_error("kafka setting " + name + ": " + error);
    }
}

std::vector<PartitionOffset> ToOffsets(const std::vector<RdKafka::TopicPartition*>& partitions) {
    std::vector<PartitionOffset> out;
    out.reserve(partitions.size());
    for (const auto* tp : partitions) out.push_back({tp->topic(), tp->partition(), tp->offset()});
    return out;
}

struct PartitionList {
    std::vector<RdKafka::TopicPartition*> items;
    ~PartitionList() { RdKafka::TopicPartition::destroy(items); }
};

std::string Describe(const std::vector<RdKafka::TopicPartition*>& partitions) {
    std::string out;
    for (const auto* tp : partitions) {
        if (!out.empty()) out += ",";
        out += tp->topic() + "/" + std::to_string(tp->partition());
    }
    return out;
}

void LogIfError(RdKafka::Error* error, const char* what) {
    if (error == nullptr) return;
    log::Error(std::string("kafka ") + what + " failed", {{"error", error->str()}});
    delete error;  // NOLINT(cppcoreguidelines-owning-memory): librdkafka hands it over
}

}  // namespace

// Runs inside Poll()/Close() on the polling thread. With the cooperative protocol the
// lists hold only the partitions that move; with the eager one, all of them.
class KafkaConsumer::Rebalancer : public RdKafka::RebalanceCb {
public:
    explicit Rebalancer(const Options& options) : options_(options) {}

    void rebalance_cb(RdKafka::KafkaConsumer* consumer, RdKafka::ErrorCode err,
                      std::vector<RdKafka::TopicPartition*>& partitions) override {
        const bool cooperative = consumer->rebalance_protocol() == "COOPERATIVE";
        if (err == RdKafka::ERR__ASSIGN_PARTITIONS) {
            auto offsets = ToOffsets(partitions);
            if (options_.on_assign) options_.on_assign(offsets);
            for (std::size_t i = 0; i < partitions.size(); ++i) {
                partitions[i]->set_offset(offsets[i].offset);
            }
            log::Info("partitions assigned",
                      {{"partitions", Describe(partitions)}, {"group", options_.group_id}});
            if (cooperative) {
                LogIfError(consumer->incremental_assign(partitions), "incremental_assign");
            } else {
                consumer->assign(partitions);
            }
        } else {
            lost_ = consumer->assignment_lost();
            if (options_.on_revoke) options_.on_revoke(ToOffsets(partitions));
            log::Info(lost_ ? "partitions lost" : "partitions revoked",
                      {{"partitions", Describe(partitions)}, {"group", options_.group_id}});
            lost_ = false;
            if (cooperative) {
                LogIfError(consumer->incremental_unassign(partitions), "incremental_unassign");
            } else {
                consumer->unassign();
            }
        }
    }
    [[nodiscard]] bool lost() const { return lost_; }

private:
    const Options& options_;
    bool lost_ = false;
};

KafkaConsumer::KafkaConsumer(Options options)
    : options_(std::move(options)), rebalancer_(std::make_unique<Rebalancer>(options_)) {
    std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
    SetOrThrow(*conf, "bootstrap.servers", options_.brokers);
    SetOrThrow(*conf, "group.id", options_.group_id);
    SetOrThrow(*conf, "client.id", options_.client_id);
    SetOrThrow(*conf, "enable.auto.commit", "false");
    SetOrThrow(*conf, "enable.auto.offset.store", "false");
    SetOrThrow(*conf, "auto.offset.reset", "earliest");
    SetOrThrow(*conf, "enable.partition.eof", "false");
    SetOrThrow(*conf, "partition.assignment.strategy",
               options_.cooperative ? "cooperative-sticky" : "range,roundrobin");
    SetOrThrow(*conf, "session.timeout.ms", std::to_string(options_.session_timeout.count()));
    SetOrThrow(*conf, "heartbeat.interval.ms",
               std::to_string(std::max<int64_t>(500, options_.session_timeout.count() / 5)));
    if (!options_.instance_id.empty()) SetOrThrow(*conf, "group.instance.id", options_.instance_id);
    for (const auto& [name, value] : options_.overrides) SetOrThrow(*conf, name, value);
    std::string error;
    if (conf->set("event_cb", static_cast<RdKafka::EventCb*>(&SharedEventLogger()), error) !=
        RdKafka::Conf::CONF_OK) {
        throw std::runtime_error("kafka event_cb: " + error);
    }
    if (conf->set("rebalance_cb", rebalancer_.get(), error) != RdKafka::Conf::CONF_OK) {
        throw std::runtime_error("kafka rebalance_cb: " + error);
    }
    consumer_.reset(RdKafka::KafkaConsumer::create(conf.get(), error));
    if (!consumer_) throw std::runtime_error("cannot create Kafka consumer: " + error);
    auto err = consumer_->subscribe(options_.topics);
    if (err != RdKafka::ERR_NO_ERROR) {
        throw std::runtime_error("cannot subscribe: " + RdKafka::err2str(err));
    }
}

KafkaConsumer::~KafkaConsumer() { Close(); }

std::vector<ConsumedMessage> KafkaConsumer::Poll(std::chrono::milliseconds timeout,
                                                 std::size_t max) {
    std::vector<ConsumedMessage> out;
    auto wait = static_cast<int>(timeout.count());
    while (out.size() < max) {
        std::unique_ptr<RdKafka::Message> message(consumer_->consume(wait));
        wait = 0;  // after the first, take only what is already here
        if (!message) break;
        if (message->err() == RdKafka::ERR__TIMED_OUT) break;
        if (message->err() == RdKafka::ERR__FATAL) {
            std::string reason;
            const auto fatal = consumer_->fatal_error(reason);
            log::Error("kafka consumer failed for good; it must be replaced",
                       {{"error", RdKafka::err2str(fatal)},
                        {"detail", reason},
                        {"group", options_.group_id}});
            fatal_ = true;
            break;
        }
        if (message->err() != RdKafka::ERR_NO_ERROR) {
            log::Warn("kafka consumer error",
                      {{"error", message->errstr()}, {"topic", message->topic_name()}});
            break;
        }
        ConsumedMessage consumed;
        consumed.topic = message->topic_name();
        consumed.partition = message->partition();
        consumed.offset = message->offset();
        if (message->key() != nullptr) consumed.key = *message->key();
        consumed.payload.assign(static_cast<const char*>(message->payload()), message->len());
        if (const RdKafka::Headers* headers = message->headers(); headers != nullptr) {
            for (const auto& header : headers->get_all()) {
                consumed.headers.emplace_back(
                    header.key(),
                    header.value() != nullptr
                        ? std::string(static_cast<const char*>(header.value()), header.value_size())
                        : std::string());
            }
        }
        out.push_back(std::move(consumed));
    }
    return out;
}

void KafkaConsumer::Commit(const std::string& topic, int32_t partition, int64_t next_offset) {
    PartitionList list;
    list.items.push_back(RdKafka::TopicPartition::create(topic, partition, next_offset));
    auto err = consumer_->commitAsync(list.items);
    if (err != RdKafka::ERR_NO_ERROR) {
        log::Warn("kafka commit failed", {{"topic", topic},
                                          {"partition", partition},
                                          {"offset", next_offset},
                                          {"error", RdKafka::err2str(err)}});
    }
}

bool KafkaConsumer::CommitNow(const std::string& topic, int32_t partition, int64_t next_offset) {
    PartitionList list;
    list.items.push_back(RdKafka::TopicPartition::create(topic, partition, next_offset));
    auto err = consumer_->commitSync(list.items);
    if (err == RdKafka::ERR_NO_ERROR && list.items[0]->err() != RdKafka::ERR_NO_ERROR)
        err = list.items[0]->err();
    if (err != RdKafka::ERR_NO_ERROR) {
        log::Warn("kafka commit failed", {{"topic", topic},
                                          {"partition", partition},
                                          {"offset", next_offset},
                                          {"error", RdKafka::err2str(err)}});
        return false;
    }
    return true;
}

bool KafkaConsumer::RevokeIsLoss() const { return rebalancer_->lost(); }

void KafkaConsumer::Pause(const std::string& topic, int32_t partition) {
    PartitionList list;
    list.items.push_back(RdKafka::TopicPartition::create(topic, partition));
    consumer_->pause(list.items);
}

void KafkaConsumer::Resume(const std::string& topic, int32_t partition) {
    PartitionList list;
    list.items.push_back(RdKafka::TopicPartition::create(topic, partition));
    consumer_->resume(list.items);
}

void KafkaConsumer::Close() {
    if (closed_ || !consumer_) return;
    closed_ = true;
    consumer_->close();
}

}  // namespace storefleet::kafka
