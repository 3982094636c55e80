#pragma once

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "projection.hpp"
#include "read_model.hpp"
#include "storefleet/common/shutdown.hpp"
#include "storefleet/kafka/consumer.hpp"
#include "storefleet/metrics/registry.hpp"

namespace storefleet::projector {

// Consumes store-commands and store-status into the read model. Per polled batch:
// PlanBatch (pure), then ReadModel::Apply commits the rows, the timeline and the offsets
// in one Postgres transaction; only then are the offsets also committed to Kafka, which
// serves lag monitoring only: the offsets stored in Postgres are the ones the consumer
// restarts from (OnAssign). A batch that fails to apply is retried as it is, with
// backoff, until it succeeds or the projector stops; nothing is polled meanwhile.
//
// Threads: Start() runs the loop on a thread of its own, the only one that touches the
// consumer (OnAssign runs on it too, inside Poll). Stop() joins it.
class Projector {
public:
    Projector(ReadModel& read_model, metrics::Registry& registry);
    ~Projector();
    Projector(const Projector&) = delete;
    Projector& operator=(const Projector&) = delete;

    // The consumer's on_assign hook: start each partition after the last batch applied.
    // If Postgres cannot say, the partition starts from Kafka's committed offset, which
    // is never ahead of Postgres; any replay that causes is absorbed by event ids.
    void OnAssign(std::vector<kafka::PartitionOffset>& partitions);

    // Plans a batch and counts and logs the messages it skips.
    BatchPlan Plan(const std::vector<kafka::ConsumedMessage>& messages);
    // Applies a plan; throws if the read model did not commit it. Returns the offsets to
    // commit to Kafka.
    std::vector<kafka::PartitionOffset> Apply(const BatchPlan& plan);

    void Start(kafka::KafkaConsumer& consumer);
    void Stop();

private:
    void Run(kafka::KafkaConsumer& consumer);

    ReadModel& read_model_;
    metrics::Registry& registry_;
    metrics::Counter& skipped_;
    metrics::Counter& duplicates_;
    metrics::Counter& failures_;
    metrics::Counter& offset_load_failures_;
    metrics::Histogram& batch_seconds_;
    metrics::Histogram& lag_seconds_;
    ShutdownFlag stop_;
    std::thread thread_;
};

}  // namespace storefleet::projector
