// The outbox relay publishing through the real KafkaPublisher to librdkafka's built-in
// mock cluster (no real broker), with a fake Postgres session: each store's commands are
// consumed in outbox order, also across a broker outage, and the outage turns the leader
// unhealthy.
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>

#include <map>
#include <set>

#include "fake_outbox.hpp"
#include "outbox_relay.hpp"
#include "storefleet/kafka/consumer.hpp"
#include "storefleet/kafka/testing/mock_cluster.hpp"
#include "storefleet/test_support/wait.hpp"

namespace storefleet::intake {
namespace {

using kafka::testing::MockCluster;

using namespace std::chrono_literals;
using test_support::WaitUntil;
using testing::FakeLedger;
using testing::FakeOutboxDatabase;

constexpr const char* kTopic = "store-commands";

// Each key's payloads (outbox ids) in the order the topic holds them.
std::map<std::string, std::vector<int64_t>> ConsumeAll(const std::string& brokers,
                                                       std::size_t distinct_expected) {
    kafka::KafkaConsumer consumer(
        {.brokers = brokers, .group_id = "check", .client_id = "check", .topics = {kTopic}});
    std::map<std::string, std::vector<int64_t>> per_key;
    std::set<std::string> distinct;
    WaitUntil(
        [&] {
            for (auto& message : consumer.Poll(200ms)) {
                per_key[message.key].push_back(std::stoll(message.payload));
                distinct.insert(message.payload);
            }
            return distinct.size() >= distinct_expected;
        },
        30s);
    consumer.Close();
    return per_key;
}

// At least once, in order: each key's first sightings of its rows are in id order, and
// no row is missing.
void ExpectInOrderAndComplete(const std::map<std::string, std::vector<int64_t>>& per_key,
                              const std::map<std::string, std::vector<int64_t>>& expected) {
    EXPECT_EQ(per_key.size(), expected.size());
    for (const auto& [key, ids] : expected) {
        std::vector<int64_t> first_seen;
        std::set<int64_t> seen;
        for (const auto id : per_key.count(key) ? per_key.at(key) : std::vector<int64_t>{}) {
            if (seen.insert(id).second) first_seen.push_back(id);
        }
        EXPECT_EQ(first_seen, ids) << key << ": commands missing or out of outbox order";
    }
}

TEST(OutboxRelayMockClusterTest, EachStoresCommandsArriveInOutboxOrderAcrossABrokerOutage) {
    MockCluster cluster(kTopic, 4);
    kafka::KafkaPublisher publisher(cluster.Brokers(), "relay-test",
                                    {{"message.timeout.ms", "1500"}});
    FakeOutboxDatabase db;
    metrics::Registry registry;
    OutboxRelay::Options options;
    options.idle_poll = 10ms;
    options.standby_poll = 20ms;
    options.publish_timeout = 1000ms;
    options.message_timeout = 1500ms;
    options.batch_size = 7;
    OutboxRelay relay(std::make_unique<FakeLedger>(db), publisher, registry, options);

    std::map<std::string, std::vector<int64_t>> expected;
    auto create_and_delete = [&](int stores, const std::string& prefix) {
        for (const char* phase : {"create", "delete"}) {
            (void)phase;
            for (int s = 0; s < stores; ++s) {
                const std::string key = prefix + std::to_string(s);
                expected[key].push_back(std::stoll(db.Add(key)));
            }
        }
    };
    create_and_delete(30, "store-");
    relay.Start();
    ASSERT_TRUE(WaitUntil([&] { return db.Unsent() == 0; }, 20s));
    EXPECT_TRUE(relay.Leader());
    EXPECT_TRUE(relay.Healthy());

    // The broker goes away: publishes fail, the leader turns unhealthy and keeps its rows.
    cluster.SetBrokerDown(true);
    create_and_delete(20, "later-");
    EXPECT_TRUE(WaitUntil([&] { return !relay.Healthy(); }, 20s)) << "/readyz must turn red";
    EXPECT_GT(db.Unsent(), 0);
    cluster.SetBrokerDown(false);
    ASSERT_TRUE(WaitUntil([&] { return db.Unsent() == 0; }, 30s));
    EXPECT_TRUE(WaitUntil([&] { return relay.Healthy(); }, 10s));
    relay.Stop();

    std::size_t rows = 0;
    for (const auto& [key, ids] : expected) rows += ids.size();
    ExpectInOrderAndComplete(ConsumeAll(cluster.Brokers(), rows), expected);
}

}  // namespace
}  // namespace storefleet::intake
