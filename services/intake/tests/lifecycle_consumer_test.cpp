// The lifecycle consumer's logic without a broker (ApplyLifecycleBatch), and the consumer
// against librdkafka's mock cluster: it retries a batch the ledger refused and commits
// offsets only after the ledger took them.
#include "lifecycle_consumer.hpp"

#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>

#include <mutex>

#include "storefleet/events/envelope.hpp"
#include "storefleet/events/status.hpp"
#include "storefleet/kafka/testing/mock_cluster.hpp"
#include "storefleet/test_support/wait.hpp"

namespace storefleet::intake {
namespace {

using kafka::testing::MockCluster;

using namespace std::chrono_literals;

std::string StatusEvent(const std::string& store_id, v1::StoreStatus status,
                        const std::string& step, uint64_t generation = 0,
                        uint64_t observed_generation = 0, uint64_t sequence = 0) {
    auto envelope = events::NewEnvelope("acme", store_id, "corr");
    auto* changed = envelope.mutable_store_status_changed();
    changed->set_status(status);
    changed->set_step(step);
    changed->set_generation(generation);
    changed->set_observed_generation(observed_generation);
    changed->set_sequence(sequence);
    events::SetTypeFromPayload(envelope);
    return events::Encode(envelope);
}

struct Applied {
    std::string store_id;
    v1::StoreStatus status;
    std::string step;
    uint64_t generation = 0;
    uint64_t observed_generation = 0;
    uint64_t sequence = 0;
    bool operator==(const Applied&) const = default;
};

class RecordingSink {
public:
    StoreStatusSink Sink() {
        return [this](const StatusReport& report) -> Status {
            std::lock_guard lock(mutex_);
            if (fail_next_ > 0) {
                --fail_next_;
                throw pqxx::broken_connection("server closed the connection unexpectedly");
            }
            applied_.push_back({report.store_id, report.status, report.step, report.generation,
                                report.observed_generation, report.sequence});
            return Status::Ok();
        };
    }
    std::vector<Applied> Seen() {
        std::lock_guard lock(mutex_);
        return applied_;
    }
    void FailNext(int calls) {
        std::lock_guard lock(mutex_);
        fail_next_ = calls;
    }

private:
    std::mutex mutex_;
    std::vector<Applied> applied_;
    int fail_next_ = 0;
};

kafka::ConsumedMessage Message(int32_t partition, int64_t offset, std::string payload) {
    return {events::kStatusTopic, partition, offset, "key", std::move(payload), {}};
}

TEST(LifecycleBatchTest, ABackupsProgressReachesTheLedgerAsDataReport) {
    auto envelope = events::NewEnvelope("acme", "6f1c2b9e-3d4a-4b5c-8d7e-9f0a1b2c3d4e", "corr");
    auto* data = envelope.mutable_store_backup_status_changed();
    data->set_operation("backup");
    data->set_operation_id("0b5e8a4c-0a6f-4d0e-9f43-5a1c2f0d6e01");
    data->set_state("completed");
    data->set_size_bytes(48213);
    data->set_simulated(true);
    data->set_sequence(77);
    events::SetTypeFromPayload(envelope);
    std::vector<StatusReport> seen;
    int applied = 0;
    auto next = ApplyLifecycleBatch(
        {{events::kStatusTopic, 2, 9, "k", events::Encode(envelope), {}}},
        [&](const StatusReport& report) {
            seen.push_back(report);
            return Status::Ok();
        },
        &applied);
    ASSERT_EQ(seen.size(), 1U);
    ASSERT_TRUE(seen[0].data.has_value());
    EXPECT_EQ(seen[0].data->operation, "backup");
    EXPECT_EQ(seen[0].data->state, "completed");
    EXPECT_EQ(seen[0].data->size_bytes, 48213U);
    EXPECT_TRUE(seen[0].data->simulated);
    EXPECT_EQ(seen[0].sequence, 77U);
    EXPECT_EQ(applied, 1);
    EXPECT_EQ((next[{events::kStatusTopic, 2}]), 10);
}

TEST(ApplyLifecycleBatchTest,
     OnlyStatusesTheLedgerKeepsReachItWithTheirGenerationsAndEveryOffsetIsCommitted) {
    RecordingSink sink;
    int applied = 0;
    auto next = ApplyLifecycleBatch(
        {
            Message(0, 9, StatusEvent("s1", v1::STORE_STATUS_PROVISIONING, "helm", 1)),
            Message(0, 10, StatusEvent("s1", v1::STORE_STATUS_READY, "readiness", 1, 1, 77)),
            Message(0, 11, StatusEvent("s1", v1::STORE_STATUS_DELETED, "deleted")),
            Message(1, 7, StatusEvent("s2", v1::STORE_STATUS_FAILED, "deletion")),
            Message(1, 8, StatusEvent("s3", v1::STORE_STATUS_FAILED, "helm", 2, 0, 90)),
            Message(1, 9, "not protobuf at all"),
            Message(1, 10, StatusEvent("s3", v1::STORE_STATUS_DEGRADED, "helm", 3)),
            Message(1, 11, StatusEvent("s3", v1::STORE_STATUS_SUSPENDED, "readiness", 4, 4)),
            Message(0, 12, StatusEvent("s4", v1::STORE_STATUS_DELETING, "deletion")),
        },
        sink.Sink(), &applied);
    EXPECT_EQ(applied, 6);
    EXPECT_EQ(sink.Seen(),
              (std::vector<Applied>{{"s1", v1::STORE_STATUS_READY, "readiness", 1, 1, 77},
                                    {"s1", v1::STORE_STATUS_DELETED, "deleted"},
                                    {"s2", v1::STORE_STATUS_FAILED, "deletion"},
                                    {"s3", v1::STORE_STATUS_FAILED, "helm", 2, 0, 90},
                                    {"s3", v1::STORE_STATUS_DEGRADED, "helm", 3},
                                    {"s3", v1::STORE_STATUS_SUSPENDED, "readiness", 4, 4}}));
    EXPECT_EQ(next,
              (NextOffsets{{{events::kStatusTopic, 0}, 13}, {{events::kStatusTopic, 1}, 12}}));
}

TEST(ApplyLifecycleBatchTest, ALedgerFailureCommitsNothing) {
    RecordingSink sink;
    sink.FailNext(1);
    EXPECT_THROW(
        ApplyLifecycleBatch({Message(0, 1, StatusEvent("s1", v1::STORE_STATUS_DELETED, "deleted"))},
                            sink.Sink()),
        pqxx::broken_connection);
    auto refusing = [](const StatusReport&) -> Status { return Error::Retryable("pg", "not now"); };
    EXPECT_ANY_THROW(ApplyLifecycleBatch(
        {Message(0, 1, StatusEvent("s1", v1::STORE_STATUS_DELETED, "deleted"))}, refusing));
}

using test_support::WaitUntil;

TEST(LifecycleConsumerMockClusterTest, RetriesUntilTheLedgerTakesABatchAndCommitsOnlyThen) {
    MockCluster cluster(events::kStatusTopic, 1);
    kafka::KafkaPublisher publisher(cluster.Brokers(), "status-test");
    auto publish = [&](const std::string& store_id, v1::StoreStatus status,
                       const std::string& step) {
        ASSERT_TRUE(
            publisher
                .PublishAndWait(
                    {{events::kStatusTopic, store_id, StatusEvent(store_id, status, step), {}}},
                    10s)
                .ok());
    };
    publish("s1", v1::STORE_STATUS_DELETED, "deleted");
    publish("s2", v1::STORE_STATUS_PROVISIONING, "helm");  // nothing the ledger keeps
    publish("s3", v1::STORE_STATUS_FAILED, "deletion");

    RecordingSink sink;
    sink.FailNext(2);  // Postgres is away for the first two tries
    metrics::Registry registry;
    {
        LifecycleConsumer consumer(sink.Sink(), cluster.Brokers(), "intake-lifecycle", registry);
        consumer.Start();
        ASSERT_TRUE(WaitUntil([&] { return sink.Seen().size() >= 2; }, 20s));
        EXPECT_GE(registry.GetCounter("storefleet_intake_lifecycle_failures_total", "").Value(), 2);
        EXPECT_TRUE(WaitUntil([&] { return consumer.Applied() >= 2; }, 20s));
        consumer.Stop();
    }
    EXPECT_EQ(sink.Seen(), (std::vector<Applied>{{"s1", v1::STORE_STATUS_DELETED, "deleted"},
                                                 {"s3", v1::STORE_STATUS_FAILED, "deletion"}}));

    // A new member of the same group starts after the committed offsets: only what is new.
    publish("s4", v1::STORE_STATUS_DELETED, "deleted");
    metrics::Registry registry2;
    LifecycleConsumer again(sink.Sink(), cluster.Brokers(), "intake-lifecycle", registry2);
    again.Start();
    ASSERT_TRUE(WaitUntil([&] { return sink.Seen().size() >= 3; }, 20s));
    again.Stop();
    const auto seen = sink.Seen();
    ASSERT_EQ(seen.size(), 3U) << "a committed event was applied again";
    EXPECT_EQ(seen[2].store_id, "s4");
}

}  // namespace
}  // namespace storefleet::intake
