// Publisher and consumer against librdkafka's built-in mock cluster (no real broker).
#include "storefleet/kafka/testing/mock_cluster.hpp"

#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>

#include <chrono>
#include <set>

#include "storefleet/kafka/consumer.hpp"
#include "storefleet/kafka/publisher.hpp"

namespace storefleet::kafka {
namespace {

using testing::MockCluster;

TEST(KafkaMockClusterTest, PublishedMessagesAreConsumedWithKeys) {
    MockCluster cluster("t", 3);
    KafkaPublisher publisher(cluster.Brokers(), "test-publisher");
    std::vector<OutgoingMessage> batch;
    for (int i = 0; i < 20; ++i) {
        batch.push_back({"t", "store-" + std::to_string(i % 4), "payload-" + std::to_string(i)});
    }
    ASSERT_TRUE(publisher.PublishAndWait(batch, std::chrono::seconds(10)).ok());

    std::vector<PartitionOffset> assigned;
    KafkaConsumer consumer({.brokers = cluster.Brokers(),
                            .group_id = "g",
                            .client_id = "test-consumer",
                            .topics = {"t"},
                            .on_assign = [&](auto& partitions) { assigned = partitions; },
                            .on_revoke = nullptr,
                            .overrides = {}});
    std::set<std::string> payloads;
    std::map<std::string, int32_t> partition_of_key;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (payloads.size() < batch.size() && std::chrono::steady_clock::now() < deadline) {
        for (auto& message : consumer.Poll(std::chrono::milliseconds(200))) {
            payloads.insert(message.payload);
            auto [it, inserted] = partition_of_key.emplace(message.key, message.partition);
            EXPECT_EQ(it->second, message.partition) << "one key, one partition";
        }
    }
    EXPECT_EQ(payloads.size(), batch.size());
    EXPECT_EQ(assigned.size(), 3U);
    consumer.Close();
}

TEST(KafkaMockClusterTest, PublishToAMissingBrokerTimesOutAsRetryable) {
    KafkaPublisher publisher("127.0.0.1:1", "test-publisher", {{"message.timeout.ms", "500"}});
    auto status = publisher.PublishAndWait({{"t", "k", "v"}}, std::chrono::seconds(3));
    ASSERT_FALSE(status.ok());
    EXPECT_TRUE(status.error().retryable());
}

}  // namespace
}  // namespace storefleet::kafka
