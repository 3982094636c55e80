#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "intake_store.hpp"
#include "storefleet/common/shutdown.hpp"
#include "storefleet/kafka/consumer.hpp"
#include "storefleet/metrics/registry.hpp"

namespace storefleet::intake {

// Where a status that matters to the ledger goes (IntakeStore::ApplyStoreStatus in
// production). Must be idempotent; throws (or returns an error) when the ledger cannot
// take it now.
using StoreStatusSink = std::function<Status(const StatusReport& report)>;

// Per (topic, partition): the offset to commit, one past the last message taken.
using NextOffsets = std::map<std::pair<std::string, int32_t>, int64_t>;

// The consumer's logic, callable without a broker: hands each status the ledger keeps
// something of to `sink`, in order: `deleted`, `failed` (of a deletion, or of a
// convergence), `degraded`, `ready` and `suspended` (they end a failure), and every backup's or
// restore's progress (StoreBackupStatusChanged, as StatusReport::data); skips everything
// else (other statuses, other events, undecodable bytes). Returns what may be committed once
// every call succeeded; throws on the first failure (nothing of the batch may be
// committed then; it is applied again, harmlessly). `applied` counts the sink calls.
NextOffsets ApplyLifecycleBatch(const std::vector<kafka::ConsumedMessage>& messages,
                                const StoreStatusSink& sink, int* applied = nullptr);

// Follows store-status so the intake ledger learns how deletions and convergences end:
// "deleted" frees the store's name and its unit of the tenant's quota; a failed deletion lets
// DELETE send it again; a failed convergence of the current generation may be retried
// (POST .../retry) until the store converges. Its own consumer group (intake replicas share it);
// offsets are committed by hand, only after the ledger's SQL committed, and every update is
// idempotent, so a replay changes nothing. Runs on its own thread between Start() and Stop();
// Stop() leaves the group cleanly.
class LifecycleConsumer {
public:
    LifecycleConsumer(StoreStatusSink sink, std::string brokers, std::string group_id,
                      metrics::Registry& registry);
    LifecycleConsumer(IntakeStore& store, std::string brokers, std::string group_id,
                      metrics::Registry& registry);
    ~LifecycleConsumer();
    LifecycleConsumer(const LifecycleConsumer&) = delete;
    LifecycleConsumer& operator=(const LifecycleConsumer&) = delete;

    void Start();
    void Stop();
    // Status events handed to the ledger so far (for tests and the metric).
    [[nodiscard]] double Applied() const { return applied_.Value(); }

private:
    void Run();
    void Consume(kafka::KafkaConsumer& consumer);

    StoreStatusSink sink_;
    std::string brokers_;
    std::string group_id_;
    metrics::Counter& applied_;
    metrics::Counter& failures_;
    ShutdownFlag stop_;
    std::thread thread_;
};

}  // namespace storefleet::intake
