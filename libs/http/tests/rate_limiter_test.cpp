#include "storefleet/http/rate_limiter.hpp"

#include <gtest/gtest.h>

namespace storefleet::http {
namespace {

TEST(RateLimiterTest, AllowsBurstThenRefillsAtRate) {
    RateLimiter limiter(/*rate=*/2, /*burst=*/3);
    const auto start = RateLimiter::Clock::time_point{} + std::chrono::hours(1);
    std::chrono::milliseconds retry{0};
    EXPECT_TRUE(limiter.Allow("t", start, retry));
    EXPECT_TRUE(limiter.Allow("t", start, retry));
    EXPECT_TRUE(limiter.Allow("t", start, retry));
    EXPECT_FALSE(limiter.Allow("t", start, retry));
    EXPECT_EQ(retry.count(), 500);
    EXPECT_TRUE(limiter.Allow("other", start, retry)) << "tenants have separate buckets";
    EXPECT_TRUE(limiter.Allow("t", start + std::chrono::milliseconds(500), retry));
    EXPECT_FALSE(limiter.Allow("t", start + std::chrono::milliseconds(500), retry));
}

TEST(RateLimiterTest, ZeroRateAllowsEverything) {
    RateLimiter limiter(0, 0);
    std::chrono::milliseconds retry{0};
    for (int i = 0; i < 100; ++i) EXPECT_TRUE(limiter.Allow("t", RateLimiter::Clock::now(), retry));
}

TEST(RateLimiterTest, ManyKeysDoNotGrowWithoutBoundYetAnEmptyBucketStaysEmpty) {
    RateLimiter limiter(/*rate=*/1, /*burst=*/1, /*max_keys=*/10);
    const auto now = RateLimiter::Clock::time_point{} + std::chrono::hours(1);
    std::chrono::milliseconds retry{0};
    EXPECT_TRUE(limiter.Allow("hot", now, retry));
    for (int i = 0; i < 9; ++i) EXPECT_TRUE(limiter.Allow("k" + std::to_string(i), now, retry));
    // Full: a new key evicts nothing that would have been refused (none refilled yet), so all go.
    EXPECT_TRUE(limiter.Allow("new", now, retry));
    // Once buckets refill they are the ones dropped; "hot" spent its token again just now.
    EXPECT_FALSE(limiter.Allow("new", now, retry));
}

}  // namespace
}  // namespace storefleet::http
