#pragma once

#include <string>
#include <vector>

#include "projection.hpp"
#include "storefleet/kafka/consumer.hpp"
#include "storefleet/pg/pool.hpp"

namespace storefleet::projector {

struct BatchResult {
    // Indexes into BatchPlan::events of the events recorded now; the others were already
    // recorded (a replay) and changed nothing.
    std::vector<std::size_t> recorded;
    std::size_t stores_changed = 0;
};

// The process edge to Postgres, so the projector's loop can be tested with a fake.
class ReadModel {
public:
    virtual ~ReadModel() = default;
    // Applies a batch and its consumer offsets in ONE transaction; throws if nothing was
    // committed (the caller retries the same plan).
    virtual BatchResult Apply(const BatchPlan& plan) = 0;
    // Sets each partition's starting offset to the one stored with the read model; leaves
    // the others alone (Kafka's committed offset, else the earliest, applies).
    virtual void LoadOffsets(std::vector<kafka::PartitionOffset>& partitions) = 0;
};

// The read model in a Postgres schema ("read" in production; the replay check builds a
// second one) holding stores, store_events and consumer_offsets.
// Thread-safe, but the projector uses it from its one consumer thread (and Migrate from
// main before that starts). Applying a batch takes each touched store's row lock, so two
// replicas consuming the two topics serialize per store; a deadlock between them aborts
// one batch, which is retried.
class PgReadModel final : public ReadModel {
public:
    // Registers its prepared statements with the pool (Pool::OnConnect), so construct it
    // before anything takes a connection from `pool`. Throws std::invalid_argument unless
    // `schema` IsPlainIdentifier.
    PgReadModel(pg::Pool& pool, std::string group_id, std::string schema = "read");

    void Migrate();
    // Each batch that changes store rows also logs their new state in store_changes (the
    // live stream's source, in commit order). Apply is the only writer.
    BatchResult Apply(const BatchPlan& plan) override;
    // Drops changes older than 24 h (the stream's replay window). Returns how many went.
    int64_t PruneChangeLog();
    void LoadOffsets(std::vector<kafka::PartitionOffset>& partitions) override;

private:
    // Returns true if the store's row changed.
    static bool ApplyChange(pqxx::work& txn, const PlannedEvent& event);

    pg::Pool& pool_;
    std::string group_id_;
    std::string schema_;
};

}  // namespace storefleet::projector
