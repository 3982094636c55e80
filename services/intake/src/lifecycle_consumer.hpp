#pragma once

#include <memory>
#include <thread>

#include "intake_store.hpp"
#include "storefleet/common/shutdown.hpp"
#include "storefleet/kafka/consumer.hpp"
#include "storefleet/metrics/registry.hpp"

namespace storefleet::intake {

// Follows store-status so the intake ledger learns how deletions end: "deleted" frees the
// store's name and its unit of the tenant's quota; a failed deletion lets DELETE send it
// again. Its own consumer group (intake replicas share it); an offset is committed only
// after the ledger took the batch, and every update is idempotent, so a replay is harmless.
// Runs on its own thread between Start() and Stop().
class LifecycleConsumer {
public:
    LifecycleConsumer(IntakeStore& store, std::string brokers, std::string group_id, metrics::Registry& registry);
    ~LifecycleConsumer();
    LifecycleConsumer(const LifecycleConsumer&) = delete;
    LifecycleConsumer& operator=(const LifecycleConsumer&) = delete;

    void Start();
    void Stop();

private:
    void Run();

    IntakeStore& store_;
    std::string brokers_;
    std::string group_id_;
    metrics::Counter& applied_;
    metrics::Counter& failures_;
    ShutdownFlag stop_;
    std::thread thread_;
};

}  // namespace storefleet::intake
