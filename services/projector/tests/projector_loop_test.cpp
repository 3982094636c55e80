// The projector's consumer loop against librdkafka's built-in mock cluster (no real
// broker) and an in-memory read model.
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <mutex>
#include <set>

#include "projector.hpp"
#include "storefleet/kafka/publisher.hpp"
#include "storefleet/test_support/wait.hpp"
#include "test_events.hpp"

namespace storefleet::projector {
namespace {

using namespace fixtures;  // NOLINT(google-build-using-namespace)

class MockCluster {
public:
    MockCluster() {
        char error[256];
        handle_ = rd_kafka_new(RD_KAFKA_PRODUCER, rd_kafka_conf_new(), error, sizeof(error));
        cluster_ = rd_kafka_mock_cluster_new(handle_, 1);
        rd_kafka_mock_topic_create(cluster_, events::kCommandsTopic, 2, 1);
        rd_kafka_mock_topic_create(cluster_, events::kStatusTopic, 2, 1);
    }
    ~MockCluster() {
        rd_kafka_mock_cluster_destroy(cluster_);
        rd_kafka_destroy(handle_);
    }
    MockCluster(const MockCluster&) = delete;
    MockCluster& operator=(const MockCluster&) = delete;
    [[nodiscard]] std::string Brokers() const { return rd_kafka_mock_cluster_bootstraps(cluster_); }

private:
    rd_kafka_t* handle_ = nullptr;
    rd_kafka_mock_cluster_t* cluster_ = nullptr;
};

// Remembers what was applied; fails the first batch like a lost Postgres connection;
// starts store-commands after its first message, as if that one had been applied before.
class MemoryReadModel : public ReadModel {
public:
    BatchResult Apply(const BatchPlan& plan) override {
        std::lock_guard lock(mutex_);
        if (++calls_ == 1) throw std::runtime_error("connection to Postgres lost");
        BatchResult result;
        for (std::size_t i = 0; i < plan.events.size(); ++i) {
            if (applied_.insert(plan.events[i].entry.event_id).second) result.recorded.push_back(i);
        }
        return result;
    }
    void LoadOffsets(std::vector<kafka::PartitionOffset>& partitions) override {
        for (auto& partition : partitions) {
            if (partition.topic == events::kCommandsTopic) partition.offset = 1;
        }
    }
    std::set<std::string> Applied() {
        std::lock_guard lock(mutex_);
        return applied_;
    }
    int Calls() {
        std::lock_guard lock(mutex_);
        return calls_;
    }

private:
    std::mutex mutex_;
    int calls_ = 0;
    std::set<std::string> applied_;
};

TEST(ProjectorLoopTest, ConsumesBothTopicsFromTheStoredOffsetsAndRetriesAFailedBatch) {
    MockCluster cluster;
    kafka::KafkaPublisher publisher(cluster.Brokers(), "test-publisher");
    // One key, so each topic's messages share a partition and keep their order.
    ASSERT_TRUE(
        publisher
            .PublishAndWait(
                {
                    {events::kCommandsTopic, kStoreId, events::Encode(Requested(EventId(1), kT0))},
                    {events::kCommandsTopic, kStoreId, "not an envelope"},
                    {events::kCommandsTopic, kStoreId,
                     events::Encode(DeletionRequested(EventId(2), kT0 + 9))},
                    {events::kStatusTopic, kStoreId,
                     events::Encode(
                         StatusChanged(EventId(3), kT0 + 1, v1::STORE_STATUS_PROVISIONING))},
                    {events::kStatusTopic, kStoreId,
                     events::Encode(StatusChanged(EventId(4), kT0 + 2, v1::STORE_STATUS_READY))},
                },
                std::chrono::seconds(10))
            .ok());

    metrics::Registry registry;
    MemoryReadModel read_model;
    Projector projector(read_model, registry);
    kafka::KafkaConsumer consumer(
        {.brokers = cluster.Brokers(),
         .group_id = "projector-test",
         .client_id = "test-projector",
         .topics = {events::kCommandsTopic, events::kStatusTopic},
         .on_assign = [&](auto& partitions) { projector.OnAssign(partitions); },
         .on_revoke = nullptr,
         .overrides = {}});
    projector.Start(consumer);
    const std::set<std::string> expected = {EventId(2), EventId(3), EventId(4)};
    test_support::WaitUntil([&] { return read_model.Applied() == expected; },
                            std::chrono::seconds(20));
    projector.Stop();
    consumer.Close();

    EXPECT_EQ(read_model.Applied(), expected) << "event 1 lies before the stored offset";
    EXPECT_GE(read_model.Calls(), 2);
    EXPECT_GE(registry.GetCounter("storefleet_projector_batch_failures_total", "").Value(), 1);
    EXPECT_EQ(registry.GetCounter("storefleet_projector_events_skipped_total", "").Value(), 1)
        << "counted once, although its batch was retried";
}

}  // namespace
}  // namespace storefleet::projector
