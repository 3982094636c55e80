#include "lifecycle_consumer.hpp"

#include <map>

#include "storefleet/common/log.hpp"
#include "storefleet/kafka/events.hpp"

namespace storefleet::intake {

LifecycleConsumer::LifecycleConsumer(IntakeStore& store, std::string brokers, std::string group_id,
                                     metrics::Registry& registry)
    : store_(store),
      brokers_(std::move(brokers)),
      group_id_(std::move(group_id)),
      applied_(registry.GetCounter("storefleet_intake_lifecycle_events_total",
                                   "Store status events the intake ledger has taken (deleted, failed deletions).")),
      failures_(registry.GetCounter("storefleet_intake_lifecycle_failures_total",
                                    "Status batches the ledger could not take yet (retried).")) {}

LifecycleConsumer::~LifecycleConsumer() { Stop(); }

void LifecycleConsumer::Start() { thread_ = std::thread([this] { Run(); }); }

void LifecycleConsumer::Stop() {
    stop_.Trigger();
    if (thread_.joinable()) thread_.join();
}

void LifecycleConsumer::Run() {
    kafka::KafkaConsumer consumer({.brokers = brokers_,
                                   .group_id = group_id_,
                                   .client_id = "storefleet-intake-lifecycle",
                                   .topics = {kafka::kStatusTopic}});
    auto backoff = std::chrono::milliseconds(200);
    while (!stop_.Triggered()) {
        auto messages = consumer.Poll(std::chrono::milliseconds(500));
        if (messages.empty()) continue;
        std::map<std::pair<std::string, int32_t>, int64_t> next_offsets;
        // Retried until the ledger takes the whole batch; updates are idempotent.
        for (;;) {
            try {
                for (const auto& message : messages) {
                    auto event = kafka::Decode(message.payload);
                    if (event.ok() && event->has_store_status_changed()) {
                        const auto& changed = event->store_status_changed();
                        const bool relevant = changed.status() == v1::STORE_STATUS_DELETED ||
                                              (changed.status() == v1::STORE_STATUS_FAILED && changed.step() == "deletion");
                        if (relevant) {
                            (void)store_.ApplyStoreStatus(event->store_id(), changed.status(), changed.step());
                            applied_.Inc();
                        }
                    }
                    auto& next = next_offsets[{message.topic, message.partition}];
                    next = std::max(next, message.offset + 1);
                }
                backoff = std::chrono::milliseconds(200);
                break;
            } catch (const std::exception& error) {
                failures_.Inc();
                log::Warn("cannot apply store status to the intake ledger; retrying",
                          {{"error", error.what()}, {"backoff_ms", backoff.count()}});
                if (stop_.WaitFor(backoff)) return;  // uncommitted: replayed next time
                backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
            }
        }
        for (const auto& [partition, next] : next_offsets) consumer.Commit(partition.first, partition.second, next);
    }
    consumer.Close();
}

}  // namespace storefleet::intake
