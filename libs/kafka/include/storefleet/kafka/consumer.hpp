#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "storefleet/kafka/publisher.hpp"

namespace RdKafka {
class KafkaConsumer;
}

namespace storefleet::kafka {

struct ConsumedMessage {
    std::string topic;
    int32_t partition = 0;
    int64_t offset = 0;
    std::string key;
    std::string payload;
    std::vector<std::pair<std::string, std::string>> headers;
};

struct PartitionOffset {
    std::string topic;
    int32_t partition = 0;
    int64_t offset = -1001;  // RdKafka::Topic::OFFSET_INVALID: use the committed offset
};

// A consumer-group member with manual offset management. Used only from the thread that
// calls Poll(); the rebalance hooks run inside Poll() on that thread.
class KafkaConsumer {
public:
    struct Options {
        std::string brokers;
        std::string group_id;
        std::string client_id;
        std::vector<std::string> topics;
        // Called with the newly assigned partitions before consuming them; may set each
        // one's starting offset (the projector reads them from Postgres).
        std::function<void(std::vector<PartitionOffset>&)> on_assign;
        // Called with partitions about to be taken away (with cooperative rebalancing, only
        // those that move). The partitions are still ours until the hook returns, so it may
        // finish their work and commit (CommitNow). RevokeIsLoss() tells whether they were
        // lost instead (session timed out): then another member may already own them, and
        // nothing must be committed.
        std::function<void(const std::vector<PartitionOffset>&)> on_revoke;
        KafkaSettings overrides;
        // Static membership (group.instance.id): a member that restarts with the same id
        // within the session timeout gets its partitions back at once, without a rebalance.
        // Empty: a dynamic member.
        std::string instance_id;
        // Cooperative incremental rebalancing (cooperative-sticky): a rebalance moves only
        // the partitions that must move; the others keep being consumed.
        bool cooperative = true;
        // How long a silent member keeps its partitions (a killed process that does not
        // come back). The broker accepts 6 s to 300 s by default.
        std::chrono::milliseconds session_timeout{10'000};
    };

    explicit KafkaConsumer(Options options);
    ~KafkaConsumer();
    KafkaConsumer(const KafkaConsumer&) = delete;
    KafkaConsumer& operator=(const KafkaConsumer&) = delete;

    // Up to `max` messages, waiting at most `timeout` for the first.
    std::vector<ConsumedMessage> Poll(std::chrono::milliseconds timeout, std::size_t max = 500);
    // Commits "everything before next_offset is done" for the partition, asynchronously.
    void Commit(const std::string& topic, int32_t partition, int64_t next_offset);
    // The same, synchronously (for a revoke hook, before the partition moves): true when
    // the broker accepted it.
    bool CommitNow(const std::string& topic, int32_t partition, int64_t next_offset);
    // Inside on_revoke: whether the partitions were lost rather than handed over.
    [[nodiscard]] bool RevokeIsLoss() const;
    // librdkafka raised a fatal error (e.g. a static member fenced after a broker
    // restart): this consumer will never consume again; the owner must replace it.
    [[nodiscard]] bool Fatal() const { return fatal_; }
    void Pause(const std::string& topic, int32_t partition);
    void Resume(const std::string& topic, int32_t partition);
    // Leaves the group cleanly (revoking partitions first).
    void Close();

private:
    class Rebalancer;
    Options options_;
    std::unique_ptr<Rebalancer> rebalancer_;
    std::unique_ptr<RdKafka::KafkaConsumer> consumer_;
    bool closed_ = false;
    bool fatal_ = false;
};

}  // namespace storefleet::kafka
