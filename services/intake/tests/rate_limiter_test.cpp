#include "rate_limiter.hpp"

#include <gtest/gtest.h>

namespace storefleet::intake {
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

}  // namespace
}  // namespace storefleet::intake
