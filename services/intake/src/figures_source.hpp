#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "figures.hpp"
#include "storefleet/pg/pool.hpp"

namespace RdKafka {
class KafkaConsumer;
class EventCb;
}  // namespace RdKafka

namespace storefleet::intake {

// A consumer group whose lag the figures show, on one topic. The provisioner commits its
// offsets to Kafka; the projector keeps them in Postgres with the rows they produced
// (the read model's consumer_offsets, which intake reads through read.consumer_positions), so
// Kafka's copy of its group says nothing.
struct LagTarget {
    std::string group;
    std::string topic;
    bool offsets_in_postgres = false;
};

// (group, topic, partition) -> the next offset the group will read, as stored in Postgres.
using StoredOffsets = std::map<std::tuple<std::string, std::string, int32_t>, int64_t>;

// Asks Kafka for each target's partitions, their watermarks and (for groups that commit to
// Kafka) their committed offsets. It never joins a group: a consumer handle with the
// group's group.id that never subscribes may ask for the group's committed offsets
// (OffsetFetch) without taking part in its rebalances. Every call waits at most `timeout`;
// the first one that fails makes the whole answer unavailable (with the reason) rather
// than half of it. Not thread-safe: FiguresService calls it under its lock.
class KafkaLagReader {
public:
    KafkaLagReader(std::string brokers, std::chrono::milliseconds timeout);
    ~KafkaLagReader();
    KafkaLagReader(const KafkaLagReader&) = delete;
    KafkaLagReader& operator=(const KafkaLagReader&) = delete;

    ConsumerLag Read(const std::vector<LagTarget>& targets, const StoredOffsets& stored);

private:
    // The handle whose group.id is `group`, created on first use.
    RdKafka::KafkaConsumer* Handle(const std::string& group);

    std::string brokers_;
    std::chrono::milliseconds timeout_;
    std::unique_ptr<RdKafka::EventCb> events_;
    std::map<std::string, std::unique_ptr<RdKafka::KafkaConsumer>> handles_;
};

// GET /api/v1/admin/figures's answer: two statements on the read model (status counts;
// Ready and Failed per bucket with POST-to-Ready percentiles), one on its stored offsets,
// and the lag from Kafka. Each window's answer is kept `cache_ttl`, and one computation
// runs at a time, so a dashboard's refresh loop (or many of them) cannot load Postgres or
// Kafka. Thread-safe. Throws what Postgres throws (the API answers 503).
class FiguresService {
public:
    struct Options {
        std::string read_schema = "read";
        std::vector<LagTarget> lag_targets;
        std::chrono::milliseconds cache_ttl{2000};
    };

    // `lag` may be null: the lag is then unavailable ("no Kafka configured").
    FiguresService(pg::Pool& pool, KafkaLagReader* lag, Options options);

    Figures Get(std::chrono::seconds window);

    // The platform's consumer groups: the provisioner's on store-commands (Kafka), the
    // projector's on both topics (Postgres) and intake's lifecycle consumer on store-status.
    static std::vector<LagTarget> PlatformTargets(const std::string& lifecycle_group);

private:
    Figures Compute(std::chrono::seconds window);

    pg::Pool& pool_;
    KafkaLagReader* lag_;
    Options options_;
    std::mutex mutex_;
    struct Cached {
        std::chrono::steady_clock::time_point at;
        Figures figures;
    };
    std::map<int64_t, Cached> cache_;  // by window in seconds
};

}  // namespace storefleet::intake
