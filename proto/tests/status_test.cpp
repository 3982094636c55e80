#include "storefleet/events/status.hpp"

#include <gtest/gtest.h>

#include "storefleet/events/sequence.hpp"

namespace storefleet::events {
namespace {

TEST(StatusTest, EveryStatusOfTheProtoHasANameInTheListAndParsesBack) {
    std::size_t named = 0;
    for (int value = v1::StoreStatus_MIN; value <= v1::StoreStatus_MAX; ++value) {
        const auto status = static_cast<v1::StoreStatus>(value);
        if (!v1::StoreStatus_IsValid(value) || status == v1::STORE_STATUS_UNSPECIFIED) continue;
        const std::string name = StatusName(status);
        EXPECT_TRUE(IsStatusName(name)) << name;
        EXPECT_EQ(ParseStatus(name), status) << name;
        ++named;
    }
    EXPECT_EQ(named, kStatusNames.size());
}

TEST(StatusTest, UnknownNamesParseToNothing) {
    EXPECT_EQ(StatusName(v1::STORE_STATUS_UNSPECIFIED), "unknown");
    EXPECT_FALSE(ParseStatus("unknown").has_value());
    EXPECT_FALSE(ParseStatus("Ready").has_value());
    EXPECT_FALSE(ParseStatus("").has_value());
    EXPECT_EQ(StatusNameList(),
              "requested, provisioning, ready, suspended, degraded, failed, deleting, deleted");
}

TEST(StatusTest, EnginesHaveNamesAndParseBack) {
    EXPECT_EQ(EngineName(v1::ENGINE_MEDUSA), "medusa");
    EXPECT_EQ(EngineName(v1::ENGINE_WOOCOMMERCE), "woocommerce");
    EXPECT_EQ(ParseEngine("medusa"), v1::ENGINE_MEDUSA);
    EXPECT_EQ(ParseEngine("woocommerce"), v1::ENGINE_WOOCOMMERCE);
    EXPECT_FALSE(ParseEngine("unknown").has_value());
    EXPECT_FALSE(ParseEngine("shopify").has_value());
}

TEST(SequenceTest, StatusEventsSortAfterTheirCommandAndBeforeTheNext) {
    EXPECT_EQ(CommandSequence(0), int64_t{1} << 20);
    EXPECT_EQ(CommandSequence(41), int64_t{42} << 20);
    const auto first_step = StatusSequence(41, 1, 0);
    const auto last_step = StatusSequence(41, kMaxStepIndex, kMaxSub);
    EXPECT_GT(first_step, static_cast<uint64_t>(CommandSequence(41)));
    EXPECT_LT(last_step, static_cast<uint64_t>(CommandSequence(42)));
    EXPECT_LT(StatusSequence(41, 2, 255), StatusSequence(41, 3, 0));
}

TEST(SequenceTest, OversizedStepAndSubAreMaskedToTheirFields) {
    EXPECT_EQ(StatusSequence(7, kMaxStepIndex + 1, 0), static_cast<uint64_t>(CommandSequence(7)));
    EXPECT_EQ(StatusSequence(7, 3, kMaxSub + 1), StatusSequence(7, 3, 0));
    EXPECT_GT(CommandSequence(kMaxCommandOffset), 0);
}

}  // namespace
}  // namespace storefleet::events
