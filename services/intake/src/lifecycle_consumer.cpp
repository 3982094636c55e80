#include "lifecycle_consumer.hpp"

#include <stdexcept>

#include "storefleet/common/backoff.hpp"
#include "storefleet/common/log.hpp"
#include "storefleet/events/envelope.hpp"
#include "storefleet/events/status.hpp"

namespace storefleet::intake {

namespace {

bool MattersToTheLedger(v1::StoreStatus status) {
    switch (status) {
        case v1::STORE_STATUS_DELETED:
        case v1::STORE_STATUS_FAILED:
        case v1::STORE_STATUS_DEGRADED:
        case v1::STORE_STATUS_READY:
        case v1::STORE_STATUS_SUSPENDED:
            return true;
        default:
            return false;
    }
}

}  // namespace

NextOffsets ApplyLifecycleBatch(const std::vector<kafka::ConsumedMessage>& messages,
                                const StoreStatusSink& sink, int* applied) {
    NextOffsets next_offsets;
    for (const auto& message : messages) {
        auto event = events::Decode(message.payload);
        if (event.ok() && event->has_store_backup_status_changed()) {
            const auto& data = event->store_backup_status_changed();
            StatusReport report;
            report.store_id = event->store_id();
            report.sequence = data.sequence();
            report.data =
                DataReport{data.operation(),  data.operation_id(), data.state(),    data.reason(),
                           data.size_bytes(), data.duration_ms(),  data.simulated()};
            auto status = sink(report);
            if (!status.ok()) throw std::runtime_error(status.error().message);
            if (applied != nullptr) ++*applied;
        } else if (event.ok() && event->has_store_status_changed()) {
            const auto& changed = event->store_status_changed();
            if (MattersToTheLedger(changed.status())) {
                auto status =
                    sink({event->store_id(), changed.status(), changed.step(), changed.generation(),
                          changed.observed_generation(), changed.sequence()});
                if (!status.ok()) throw std::runtime_error(status.error().message);
                if (applied != nullptr) ++*applied;
            }
        }
        auto& next = next_offsets[{message.topic, message.partition}];
        next = std::max(next, message.offset + 1);
    }
    return next_offsets;
}

LifecycleConsumer::LifecycleConsumer(StoreStatusSink sink, std::string brokers,
                                     std::string group_id, metrics::Registry& registry)
    : sink_(std::move(sink)),
      brokers_(std::move(brokers)),
      group_id_(std::move(group_id)),
      applied_(registry.GetCounter(
          "storefleet_intake_lifecycle_events_total",
          "Store status events the intake ledger has taken (deleted, failed, degraded, ready, "
          "suspended).")),
      failures_(registry.GetCounter("storefleet_intake_lifecycle_failures_total",
                                    "Status batches the ledger could not take yet (retried).")) {}

LifecycleConsumer::LifecycleConsumer(IntakeStore& store, std::string brokers, std::string group_id,
                                     metrics::Registry& registry)
    : LifecycleConsumer(
          [&store](const StatusReport& report) { return store.ApplyStoreStatus(report); },
          std::move(brokers), std::move(group_id), registry) {}

LifecycleConsumer::~LifecycleConsumer() { Stop(); }

void LifecycleConsumer::Start() {
    thread_ = std::thread([this] { Run(); });
}

void LifecycleConsumer::Stop() {
    stop_.Trigger();
    if (thread_.joinable()) thread_.join();
}

void LifecycleConsumer::Run() {
    Backoff backoff(std::chrono::milliseconds(500), std::chrono::milliseconds(10'000));
    while (!stop_.Triggered()) {
        try {
            kafka::KafkaConsumer consumer({.brokers = brokers_,
                                           .group_id = group_id_,
                                           .client_id = "storefleet-intake-lifecycle",
                                           .topics = {events::kStatusTopic}});
            Consume(consumer);
            consumer.Close();
            return;
        } catch (const std::exception& error) {
            // Only the consumer's set-up throws here; it is tried again.
            failures_.Inc();
            log::Error("lifecycle consumer failed; restarting it",
                       {{"error", error.what()}, {"group", group_id_}});
            stop_.WaitFor(backoff.Next());
        }
    }
}

void LifecycleConsumer::Consume(kafka::KafkaConsumer& consumer) {
    Backoff backoff(std::chrono::milliseconds(200), std::chrono::milliseconds(5000));
    while (!stop_.Triggered()) {
        auto messages = consumer.Poll(std::chrono::milliseconds(500));
        if (messages.empty()) continue;
        // Retried until the ledger takes the whole batch; its updates are idempotent.
        for (;;) {
            try {
                int applied = 0;
                const auto next_offsets = ApplyLifecycleBatch(messages, sink_, &applied);
                applied_.Inc(applied);
                // Only now that the SQL committed.
                for (const auto& [partition, next] : next_offsets) {
                    consumer.Commit(partition.first, partition.second, next);
                }
                backoff.Reset();
                break;
            } catch (const std::exception& error) {
                failures_.Inc();
                log::Warn("cannot apply store status to the intake ledger; retrying",
                          {{"error", error.what()},
                           {"topic", messages.front().topic},
                           {"partition", messages.front().partition},
                           {"offset", messages.front().offset},
                           {"backoff_ms", backoff.Peek().count()}});
                // Stopping now leaves the batch uncommitted: it is applied again next time.
                if (stop_.WaitFor(backoff.Next())) return;
            }
        }
    }
}

}  // namespace storefleet::intake
