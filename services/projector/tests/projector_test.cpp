#include "projector.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "test_events.hpp"

namespace storefleet::projector {
namespace {

using namespace fixtures;  // NOLINT(google-build-using-namespace)
using ::testing::_;
using ::testing::Invoke;
using ::testing::Return;
using ::testing::Throw;

class MockReadModel : public ReadModel {
public:
    MOCK_METHOD(BatchResult, Apply, (const BatchPlan& plan), (override));
    MOCK_METHOD(void, LoadOffsets, (std::vector<kafka::PartitionOffset> & partitions), (override));
};

double Applied(metrics::Registry& registry, const std::string& type) {
    return registry
        .GetCounter("storefleet_projector_events_applied_total",
                    "Events recorded in the read model, by type.", {{"type", type}})
        .Value();
}

std::vector<kafka::ConsumedMessage> Batch() {
    return {
        {"store-commands", 1, 40, kStoreId, events::Encode(Requested(EventId(1), kT0))},
        {"store-commands", 1, 41, kStoreId, "\xff not protobuf"},
        {"store-status", 1, 9, kStoreId,
         events::Encode(StatusChanged(EventId(2), kT0 + 1, v1::STORE_STATUS_PROVISIONING))},
    };
}

TEST(ProjectorTest, AppliesABatchAndReturnsTheOffsetsAfterIt) {
    metrics::Registry registry;
    MockReadModel read_model;
    Projector projector(read_model, registry);
    const BatchPlan plan = projector.Plan(Batch());
    EXPECT_EQ(registry.GetCounter("storefleet_projector_events_skipped_total", "").Value(), 1);

    // The status event was projected before (a replay): only the request is recorded.
    EXPECT_CALL(read_model, Apply(_)).WillOnce(Invoke([](const BatchPlan& applied) {
        EXPECT_EQ(applied.events.size(), 2U);
        return BatchResult{{0}, 1};
    }));
    auto offsets = projector.Apply(plan);
    ASSERT_EQ(offsets.size(), 2U);
    EXPECT_EQ(offsets[0].topic, "store-commands");
    EXPECT_EQ(offsets[0].offset, 42);
    EXPECT_EQ(offsets[1].topic, "store-status");
    EXPECT_EQ(offsets[1].offset, 10);
    EXPECT_EQ(Applied(registry, "StoreRequested"), 1);
    EXPECT_EQ(Applied(registry, "StoreStatusChanged"), 0);
    EXPECT_EQ(registry.GetCounter("storefleet_projector_events_duplicate_total", "").Value(), 1);
    EXPECT_EQ(registry.GetHistogram("storefleet_projector_lag_seconds", "").Count(), 1U);
    EXPECT_EQ(registry.GetHistogram("storefleet_projector_batch_duration_seconds", "").Count(), 1U);
}

TEST(ProjectorTest, EveryEventTypeHasItsSeriesBeforeItsFirstEvent) {
    metrics::Registry registry;
    MockReadModel read_model;
    Projector projector(read_model, registry);
    const std::string text = registry.Render();
    for (const char* type : {"StoreRequested", "StoreChangeRequested", "StoreDeletionRequested",
                             "StoreStatusChanged"}) {
        EXPECT_NE(text.find(std::string("storefleet_projector_events_applied_total{type=\"") +
                            type + "\"} 0"),
                  std::string::npos)
            << type << "\n"
            << text;
    }
}

TEST(ProjectorTest, AFailedApplyCommitsNothingAndCountsNothing) {
    metrics::Registry registry;
    MockReadModel read_model;
    Projector projector(read_model, registry);
    const BatchPlan plan = projector.Plan(Batch());
    EXPECT_CALL(read_model, Apply(_)).WillOnce(Throw(std::runtime_error("connection lost")));
    EXPECT_THROW(projector.Apply(plan), std::runtime_error);
    EXPECT_EQ(Applied(registry, "StoreRequested"), 0);
}

TEST(ProjectorTest, AssignedPartitionsStartFromTheStoredOffsets) {
    metrics::Registry registry;
    MockReadModel read_model;
    Projector projector(read_model, registry);
    EXPECT_CALL(read_model, LoadOffsets(_))
        .WillOnce(Invoke(
            [](std::vector<kafka::PartitionOffset>& partitions) { partitions[0].offset = 17; }));
    std::vector<kafka::PartitionOffset> partitions = {{"store-status", 0}, {"store-status", 1}};
    projector.OnAssign(partitions);
    EXPECT_EQ(partitions[0].offset, 17);
    EXPECT_EQ(partitions[1].offset, -1001);
}

TEST(ProjectorTest, WithoutPostgresAssignedPartitionsFallBackToKafkaOffsets) {
    metrics::Registry registry;
    MockReadModel read_model;
    Projector projector(read_model, registry);
    EXPECT_CALL(read_model, LoadOffsets(_)).WillOnce(Throw(std::runtime_error("no route to host")));
    std::vector<kafka::PartitionOffset> partitions = {{"store-commands", 3}};
    EXPECT_NO_THROW(projector.OnAssign(partitions)) << "it runs inside librdkafka's callback";
    EXPECT_EQ(partitions[0].offset, -1001);
    EXPECT_EQ(registry.GetCounter("storefleet_projector_offset_load_failures_total", "").Value(),
              1);
}

}  // namespace
}  // namespace storefleet::projector
