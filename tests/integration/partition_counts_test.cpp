// The Kafka partition guard on the real broker and Postgres: counts come from the broker's
// metadata, are recorded the first time, and a changed count makes the real projector
// refuse to start with a message that says why (issue 21, item 6).
#include "storefleet/pg/partition_counts.hpp"

#include <gtest/gtest.h>

#include <string>

#include "storefleet/common/ids.hpp"
#include "storefleet/events/envelope.hpp"
#include "storefleet/events/status.hpp"
#include "storefleet/kafka/topics.hpp"
#include "storefleet/pg/pool.hpp"
#include "storefleet/test_support/env.hpp"
#include "storefleet/test_support/process.hpp"

namespace storefleet {
namespace {

using test_support::Env;

class PartitionCountsTest : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_FALSE(Env("STOREFLEET_PG_URL").empty()) << "run through tests/with-stack";
        schema_ = "partitions_" + RandomHex(4);
    }
    void TearDown() override {
        pool_.WithTransaction(
            [&](pqxx::work& txn) { txn.exec("drop schema if exists " + schema_ + " cascade"); });
    }
    pg::Pool pool_{Env("STOREFLEET_PG_URL"), 1};
    std::string schema_;
};

TEST_F(PartitionCountsTest, CountsComeFromTheBrokerAndAMissingTopicIsPermanent) {
    auto commands = kafka::CountPartitions(Env("STOREFLEET_KAFKA_BROKERS"), events::kCommandsTopic);
    ASSERT_TRUE(commands.ok()) << commands.error().message;
    EXPECT_EQ(*commands, 12) << "the local stack creates store-commands with 12 partitions";
    auto missing =
        kafka::CountPartitions(Env("STOREFLEET_KAFKA_BROKERS"), "no-such-topic-" + RandomHex(4));
    ASSERT_FALSE(missing.ok());
    EXPECT_FALSE(missing.error().retryable());
    EXPECT_EQ(missing.error().code, "topic_missing");
}

TEST_F(PartitionCountsTest, TheFirstCountIsRecordedAndAChangedOneRefused) {
    auto lease = pool_.Acquire();
    EXPECT_TRUE(
        pg::CheckPartitionCounts(*lease, schema_, {{"store-commands", 12}, {"store-status", 12}})
            .ok());
    EXPECT_TRUE(
        pg::CheckPartitionCounts(*lease, schema_, {{"store-commands", 12}, {"store-status", 12}})
            .ok())
        << "an unchanged count is fine at every start";
    auto grown =
        pg::CheckPartitionCounts(*lease, schema_, {{"store-commands", 24}, {"store-status", 12}});
    ASSERT_FALSE(grown.ok());
    EXPECT_EQ(grown.error().code, "partitions_changed");
    EXPECT_NE(grown.error().message.find("store-commands had 12 partitions"), std::string::npos)
        << grown.error().message;
    EXPECT_NE(grown.error().message.find("has 24 now"), std::string::npos) << grown.error().message;
    EXPECT_EQ(grown.error().message.find("store-status had"), std::string::npos)
        << "only what changed is named";
    EXPECT_TRUE(
        pg::CheckPartitionCounts(*lease, schema_, {{"store-commands", 12}, {"store-status", 12}})
            .ok())
        << "a refused start recorded nothing";
}

// The real projector, on a read model whose recorded count differs from the broker's (as if
// someone raised the partitions of store-commands from 6 to 12): it exits at once, saying so.
TEST_F(PartitionCountsTest, TheProjectorRefusesToRunWhenACountChanged) {
    {
        auto lease = pool_.Acquire();
        ASSERT_TRUE(
            pg::CheckPartitionCounts(*lease, schema_, {{"store-commands", 6}, {"store-status", 12}})
                .ok());
    }
    auto run = test_support::RunShell(
        "STOREFLEET_READ_SCHEMA=" + schema_ + " STOREFLEET_KAFKA_GROUP=partitions-test-" +
        RandomHex(4) + " STOREFLEET_HTTP_PORT=0 timeout 60 " STOREFLEET_PROJECTOR_BIN);
    ASSERT_NE(run.rc, -1) << "the projector did not exit normally; output:\n" << run.output;
    EXPECT_EQ(run.rc, 2) << "the projector ran on changed partitions; output:\n" << run.output;
    EXPECT_NE(run.output.find("store-commands had 6 partitions"), std::string::npos) << run.output;
}

}  // namespace
}  // namespace storefleet
