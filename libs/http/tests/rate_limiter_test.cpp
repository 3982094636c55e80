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

TEST(RateLimiterTest, ManyKeysDoNotGrowWithoutBound) {
    RateLimiter limiter(/*rate=*/1, /*burst=*/1, /*max_keys=*/10);
    const auto now = RateLimiter::Clock::time_point{} + std::chrono::hours(1);
    std::chrono::milliseconds retry{0};
    for (int i = 0; i < 1000; ++i) {
        EXPECT_TRUE(limiter.Allow("k" + std::to_string(i), now, retry))
            << "a new key starts with a full bucket";
        ASSERT_LE(limiter.Keys(), 10U);
    }
    // Buckets that have refilled are the ones dropped first: a spent one stays spent.
    RateLimiter kept(/*rate=*/1, /*burst=*/1, /*max_keys=*/3);
    EXPECT_TRUE(kept.Allow("spent", now, retry));
    EXPECT_TRUE(kept.Allow("old-1", now - std::chrono::seconds(5), retry));
    EXPECT_TRUE(kept.Allow("old-2", now - std::chrono::seconds(5), retry));
    EXPECT_TRUE(kept.Allow("new", now, retry));  // full: old-1 and old-2 have refilled and go
    EXPECT_EQ(kept.Keys(), 2U);
    EXPECT_FALSE(kept.Allow("spent", now, retry))
        << "evicting the refilled buckets kept the spent one";
}

// A flood of new keys while no bucket has refilled (every key spent at this instant) must not
// reset the limited keys: before the fix a full map was cleared whole, so the next request of
// a spent key found a full bucket again.
TEST(RateLimiterTest, AFloodOfNewKeysDoesNotResetTheKeysBeingLimited) {
    RateLimiter limiter(/*rate=*/1, /*burst=*/1, /*max_keys=*/100);
    const auto now = RateLimiter::Clock::time_point{} + std::chrono::hours(1);
    std::chrono::milliseconds retry{0};
    ASSERT_TRUE(limiter.Allow("abuser", now, retry));
    ASSERT_FALSE(limiter.Allow("abuser", now, retry));
    // The abuser keeps asking while the flood comes in (it is limited, not gone).
    for (int i = 0; i < 300; ++i) {
        limiter.Allow("flood-" + std::to_string(i), now, retry);
        ASSERT_LE(limiter.Keys(), 100U);
        EXPECT_FALSE(limiter.Allow("abuser", now, retry))
            << "the spent bucket was reset after " << i + 1 << " new keys";
    }
}

TEST(RateLimiterTest, AKeyMayHaveItsOwnRate) {
    RateLimiter limiter(/*rate=*/1, /*burst=*/1);
    const auto now = RateLimiter::Clock::time_point{} + std::chrono::hours(1);
    std::chrono::milliseconds retry{0};
    int allowed = 0;
    for (int i = 0; i < 10; ++i) allowed += limiter.Allow("fast", now, retry, /*rate=*/3) ? 1 : 0;
    EXPECT_EQ(allowed, 6) << "a burst of twice its own rate";
}

}  // namespace
}  // namespace storefleet::http
