#include "storefleet/common/tenant_cache.hpp"

#include <gtest/gtest.h>

namespace storefleet {
namespace {

using std::chrono::seconds;

TEST(TenantCacheTest, RemembersATokenForTheTtlOnly) {
    TenantCache cache(seconds(30));
    const auto t0 = TenantCache::Clock::time_point{} + seconds(1000);
    EXPECT_FALSE(cache.Get("hash-a", t0));
    cache.Put("hash-a", "acme", t0);
    EXPECT_EQ(cache.Get("hash-a", t0 + seconds(29)), "acme");
    EXPECT_FALSE(cache.Get("hash-a", t0 + seconds(30)));
    EXPECT_FALSE(cache.Get("hash-b", t0));
}

TEST(TenantCacheTest, StaysBoundedUnderAFloodOfTokens) {
    TenantCache cache(seconds(30), 3);
    const auto t0 = TenantCache::Clock::time_point{} + seconds(1000);
    cache.Put("old", "acme", t0);
    cache.Put("b", "acme", t0 + seconds(20));
    cache.Put("c", "acme", t0 + seconds(20));
    // Full: the expired entry makes room, the live ones stay.
    cache.Put("d", "globex", t0 + seconds(40));
    EXPECT_FALSE(cache.Get("old", t0 + seconds(40)));
    EXPECT_EQ(cache.Get("b", t0 + seconds(40)), "acme");
    EXPECT_EQ(cache.Get("d", t0 + seconds(40)), "globex");
    // Full of live entries: start over rather than grow.
    cache.Put("e", "initech", t0 + seconds(41));
    EXPECT_FALSE(cache.Get("b", t0 + seconds(41)));
    EXPECT_EQ(cache.Get("e", t0 + seconds(41)), "initech");
}

TEST(TenantCacheTest, AZeroTtlCachesNothing) {
    TenantCache cache(seconds(0));
    const auto t0 = TenantCache::Clock::time_point{} + seconds(1000);
    cache.Put("hash-a", "acme", t0);
    EXPECT_FALSE(cache.Get("hash-a", t0));
}

}  // namespace
}  // namespace storefleet
