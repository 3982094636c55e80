#include "read_model_diff.hpp"

#include <gtest/gtest.h>

namespace storefleet::projector {
namespace {

TEST(DescribeRowDifferenceTest, NamesEachDifferingColumnWithBothValues) {
    const nlohmann::json live = {{"status", "deleting"}, {"step", nullptr}, {"plan", "small"}};
    const nlohmann::json replay = {{"status", "deleted"}, {"step", "namespace"}, {"plan", "small"}};
    EXPECT_EQ(DescribeRowDifference("stores 42", live, replay, "read", "replay"),
              "stores 42: status read=\"deleting\" replay=\"deleted\"; "
              "step read=null replay=\"namespace\"");
}

TEST(DescribeRowDifferenceTest, SaysWhichSideAMissingRowIsOn) {
    const nlohmann::json row = {{"status", "ready"}};
    EXPECT_EQ(DescribeRowDifference("stores 1", nullptr, row, "read", "replay"),
              "stores 1: only in replay");
    EXPECT_EQ(DescribeRowDifference("stores 1", row, nullptr, "read", "replay"),
              "stores 1: only in read");
}

TEST(ReadModelDiffTest, EqualOnlyWithoutAnyDifference) {
    ReadModelDiff diff;
    EXPECT_TRUE(diff.OffsetsEqual());
    EXPECT_TRUE(diff.RowsEqual());
    diff.events_differing = 1;
    EXPECT_FALSE(diff.RowsEqual());
    diff.offsets.emplace_back("store-status/0: next offset read=3 replay=2");
    EXPECT_FALSE(diff.OffsetsEqual());
}

}  // namespace
}  // namespace storefleet::projector
