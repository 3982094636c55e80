#include "projector.hpp"

#include <array>
#include <random>

#include "storefleet/common/backoff.hpp"
#include "storefleet/common/ids.hpp"
#include "storefleet/common/log.hpp"
#include "storefleet/events/envelope.hpp"
#include "storefleet/events/status.hpp"

namespace storefleet::projector {
namespace {

constexpr std::size_t kMaxBatch = 500;
constexpr auto kPollTimeout = std::chrono::milliseconds(500);
constexpr auto kFirstBackoff = std::chrono::milliseconds(100);
constexpr auto kMaxBackoff = std::chrono::milliseconds(5000);

// Lag from a few milliseconds up to a projector that was down for hours.
std::vector<double> LagBuckets() {
    return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400};
}

constexpr std::array<const char*, 4> kEventTypes = {"StoreRequested", "StoreChangeRequested",
                                                    "StoreDeletionRequested", "StoreStatusChanged"};

}  // namespace

Projector::Projector(ReadModel& read_model, metrics::Registry& registry)
    : read_model_(read_model),
      registry_(registry),
      skipped_(registry.GetCounter("storefleet_projector_events_skipped_total",
                                   "Messages skipped as undecodable or invalid (logged).")),
      duplicates_(registry.GetCounter("storefleet_projector_events_duplicate_total",
                                      "Events already in the read model (replays); no effect.")),
      failures_(registry.GetCounter("storefleet_projector_batch_failures_total",
                                    "Batches that failed to commit to Postgres (retried).")),
      offset_load_failures_(registry.GetCounter(
          "storefleet_projector_offset_load_failures_total",
          "Partition assignments that could not read their offsets from Postgres.")),
      batch_seconds_(registry.GetHistogram("storefleet_projector_batch_duration_seconds",
                                           "Time to apply one batch in Postgres.")),
      lag_seconds_(registry.GetHistogram(
          "storefleet_projector_lag_seconds",
          "From an event's occurred_at to its commit in the read model.", {}, LagBuckets())) {
    // Registered up front so every series shows 0 before the first event.
    for (const char* type : kEventTypes) {
        registry_.GetCounter("storefleet_projector_events_applied_total",
                             "Events recorded in the read model, by type.", {{"type", type}});
    }
}

Projector::~Projector() { Stop(); }

void Projector::OnAssign(std::vector<kafka::PartitionOffset>& partitions) {
    // Runs inside librdkafka's rebalance callback: nothing may escape it.
    try {
        read_model_.LoadOffsets(partitions);
        nlohmann::json resumed = nlohmann::json::array();
        for (const auto& partition : partitions) {
            if (partition.offset >= 0) {
                resumed.push_back(partition.topic + "/" + std::to_string(partition.partition) +
                                  "@" + std::to_string(partition.offset));
            }
        }
        log::Info("resuming from the offsets stored with the read model",
                  {{"partitions", partitions.size()}, {"resumed", resumed}});
    } catch (const std::exception& error) {
        offset_load_failures_.Inc();
        log::Warn("cannot read stored offsets; starting from Kafka's committed offsets",
                  {{"error", error.what()}, {"partitions", partitions.size()}});
    }
}

BatchPlan Projector::Plan(const std::vector<kafka::ConsumedMessage>& messages) {
    BatchPlan plan = PlanBatch(messages);
    for (const auto& skipped : plan.skipped) {
        skipped_.Inc();
        log::Warn("skipping a message the read model cannot use",
                  {{"topic", skipped.topic},
                   {"partition", skipped.partition},
                   {"offset", skipped.offset},
                   {"error", skipped.error.code},
                   {"detail", skipped.error.message}});
    }
    return plan;
}

std::vector<kafka::PartitionOffset> Projector::Apply(const BatchPlan& plan) {
    const auto start = std::chrono::steady_clock::now();
    const BatchResult result = read_model_.Apply(plan);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    batch_seconds_.Observe(seconds);

    const int64_t now_us = NowMicros();
    for (const std::size_t index : result.recorded) {
        const TimelineEntry& entry = plan.events.at(index).entry;
        registry_
            .GetCounter("storefleet_projector_events_applied_total",
                        "Events recorded in the read model, by type.", {{"type", entry.type}})
            .Inc();
        lag_seconds_.Observe(
            static_cast<double>(std::max<int64_t>(0, now_us - entry.occurred_at_us)) / 1e6);
        log::Debug("event projected", {{"event_id", entry.event_id},
                                       {"store_id", entry.store_id},
                                       {"type", entry.type},
                                       {"status", entry.status},
                                       {"correlation_id", entry.correlation_id}});
    }
    duplicates_.Inc(static_cast<double>(plan.events.size() - result.recorded.size()));
    if (!plan.events.empty()) {
        log::Debug("batch applied", {{"events", plan.events.size()},
                                     {"recorded", result.recorded.size()},
                                     {"stores_changed", result.stores_changed},
                                     {"duration_ms", seconds * 1000}});
    }
    return plan.next_offsets;
}

void Projector::Start(kafka::KafkaConsumer& consumer) {
    thread_ = std::thread([this, &consumer] { Run(consumer); });
}

void Projector::Stop() {
    stop_.Trigger();
    if (thread_.joinable()) thread_.join();
}

void Projector::Run(kafka::KafkaConsumer& consumer) {
    std::mt19937 jitter(std::random_device{}());
    while (!stop_.Triggered()) {
        const auto messages = consumer.Poll(kPollTimeout, kMaxBatch);
        if (messages.empty()) continue;
        const BatchPlan plan = Plan(messages);
        Backoff backoff(kFirstBackoff, kMaxBackoff);
        for (;;) {
            try {
                const auto offsets = Apply(plan);
                // For lag monitoring only; a lost commit costs nothing (see OnAssign).
                for (const auto& next : offsets) {
                    consumer.Commit(next.topic, next.partition, next.offset);
                }
                break;
            } catch (const std::exception& error) {
                failures_.Inc();
                log::Warn("cannot apply batch; retrying it",
                          {{"error", error.what()},
                           {"messages", messages.size()},
                           {"backoff_ms", backoff.Peek().count()}});
                const auto wait = backoff.NextWithJitter(jitter);
                // Stopping abandons the batch: it was not committed, so it is consumed again.
                if (stop_.WaitFor(wait)) return;
            }
        }
    }
}

}  // namespace storefleet::projector
