#include "storefleet/http/auth.hpp"

#include <gtest/gtest.h>

#include "storefleet/common/ids.hpp"

namespace storefleet::http {
namespace {

using namespace std::chrono_literals;

TEST(AuthenticatorTest, CachesKnownTokensBrieflyAndUnknownOnesLonger) {
    int lookups = 0;
    std::optional<Principal> answer = Principal{"acme", false};
    Authenticator auth(
        [&](const std::string& sha) {
            ++lookups;
            EXPECT_EQ(sha, Sha256Hex("secret")) << "looked up by hash, never by the raw token";
            return answer;
        },
        {1000ms, 5000ms, 100});
    const auto t0 = Authenticator::Clock::time_point{} + 1h;
    EXPECT_EQ(auth.Resolve("Bearer secret", t0), (Principal{"acme", false}));
    EXPECT_EQ(auth.Resolve("Bearer secret", t0 + 900ms), (Principal{"acme", false}));
    EXPECT_EQ(lookups, 1);
    // Revoked: within a second the cache lets go and the lookup says no.
    answer = std::nullopt;
    EXPECT_EQ(auth.Resolve("Bearer secret", t0 + 1001ms), std::nullopt);
    EXPECT_EQ(lookups, 2);
    // Unknown now, and remembered as unknown: no lookup for 5 s.
    EXPECT_EQ(auth.Resolve("Bearer secret", t0 + 4000ms), std::nullopt);
    EXPECT_EQ(lookups, 2);
    EXPECT_EQ(auth.Resolve("Bearer secret", t0 + 6002ms), std::nullopt);
    EXPECT_EQ(lookups, 3);
}

TEST(AuthenticatorTest, RefusesMalformedHeadersWithoutALookup) {
    int lookups = 0;
    Authenticator auth([&](const std::string&) {
        ++lookups;
        return std::optional<Principal>{};
    });
    const auto now = Authenticator::Clock::now();
    EXPECT_EQ(auth.Resolve("", now), std::nullopt);
    EXPECT_EQ(auth.Resolve("Basic abc", now), std::nullopt);
    EXPECT_EQ(auth.Resolve("Bearer ", now), std::nullopt);
    EXPECT_EQ(auth.Resolve("Bearer " + std::string(600, 'x'), now), std::nullopt);
    EXPECT_EQ(lookups, 0);
}

TEST(AuthenticatorTest, AFloodOfDistinctTokensIsBounded) {
    Authenticator auth([](const std::string&) { return std::optional<Principal>{}; },
                       {1000ms, 5000ms, 50});
    const auto now = Authenticator::Clock::now();
    for (int i = 0; i < 1000; ++i) {
        auth.Resolve("Bearer t" + std::to_string(i), now);
        ASSERT_LE(auth.CachedTokens(), 50u);
    }
    EXPECT_GT(auth.CachedTokens(), 0u);
}

}  // namespace
}  // namespace storefleet::http
