#include "storefleet/http/client_address.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

namespace storefleet::http {
namespace {

TEST(TrustedProxiesTest, MatchesCidrRangesOfBothFamilies) {
    auto trusted = TrustedProxies::Parse("10.0.0.0/8, 192.168.1.7 ,fd00::/8,::1");
    EXPECT_TRUE(trusted.Contains("10.1.2.3"));
    EXPECT_TRUE(trusted.Contains("192.168.1.7"));
    EXPECT_FALSE(trusted.Contains("192.168.1.8"));
    EXPECT_FALSE(trusted.Contains("11.0.0.1"));
    EXPECT_TRUE(trusted.Contains("fd12::5"));
    EXPECT_TRUE(trusted.Contains("::1"));
    EXPECT_FALSE(trusted.Contains("2001:db8::1"));
    EXPECT_FALSE(trusted.Contains("not-an-address"));
    EXPECT_TRUE(TrustedProxies::Parse("172.16.0.0/12").Contains("172.31.255.1"));
    EXPECT_FALSE(TrustedProxies::Parse("172.16.0.0/12").Contains("172.32.0.1"));
}

TEST(TrustedProxiesTest, RefusesWhatIsNotARange) {
    EXPECT_THROW(TrustedProxies::Parse("10.0.0.0/33"), std::invalid_argument);
    EXPECT_THROW(TrustedProxies::Parse("front-door"), std::invalid_argument);
    EXPECT_THROW(TrustedProxies::Parse("10.0.0.0/"), std::invalid_argument);
    EXPECT_NO_THROW(TrustedProxies::Parse(""));
}

// As deployed: client -> Ingress controller (10.42.0.9) -> front door pod (10.42.1.4) ->
// intake. Each proxy appends what it saw to X-Forwarded-For. Before the fix every client
// behind the front door shared the front door's address (it trusted X-Real-IP from
// loopback peers only), so one client's bad tokens got every tenant 429.
TEST(TrustedProxiesTest, FromTheEnvironmentWithLoopbackAsDefaultAndAConfigErrorWhenBad) {
    const auto env = [](const std::optional<std::string>& value) {
        return EnvConfig([value](const std::string& name) -> std::optional<std::string> {
            return name == "STOREFLEET_TRUSTED_PROXIES" ? value : std::nullopt;
        });
    };
    EXPECT_TRUE(TrustedProxiesFromEnv(env(std::nullopt)).Contains("127.0.0.1"));
    EXPECT_FALSE(TrustedProxiesFromEnv(env(std::nullopt)).Contains("10.0.0.1"));
    EXPECT_TRUE(TrustedProxiesFromEnv(env("10.0.0.0/8")).Contains("10.1.2.3"));
    try {
        TrustedProxiesFromEnv(env("10.0.0.0/99"));
        ADD_FAILURE() << "a bad range was accepted";
    } catch (const ConfigError& error) {
        EXPECT_NE(std::string(error.what()).find("STOREFLEET_TRUSTED_PROXIES"), std::string::npos);
    }
}

TEST(ClientAddressTest, ThroughTwoProxiesTheClientIsTheRightmostUntrustedHop) {
    const auto trusted = TrustedProxies::Parse("10.42.0.0/16");
    EXPECT_EQ(ResolveClientAddress("10.42.1.4", "203.0.113.7, 10.42.0.9", "", trusted),
              "203.0.113.7");
    EXPECT_EQ(ResolveClientAddress("10.42.1.4", "198.51.100.20, 10.42.0.9", "", trusted),
              "198.51.100.20")
        << "two clients behind the same proxies are two keys";
}

TEST(ClientAddressTest, AForgedForwardedForDoesNotMoveTheClient) {
    const auto trusted = TrustedProxies::Parse("10.42.0.0/16");
    // The client sent "X-Forwarded-For: 1.2.3.4, 10.42.0.1" itself; the Ingress appended its peer.
    EXPECT_EQ(ResolveClientAddress("10.42.1.4", "1.2.3.4, 10.42.0.1, 203.0.113.7, 10.42.0.9", "",
                                   trusted),
              "203.0.113.7");
}

TEST(ClientAddressTest, AnUntrustedPeerIsTheClientWhateverItSays) {
    const auto trusted = TrustedProxies::Parse("10.42.0.0/16");
    EXPECT_EQ(ResolveClientAddress("203.0.113.7", "1.2.3.4", "5.6.7.8", trusted), "203.0.113.7");
}

TEST(ClientAddressTest, TheLocalFrontDoorsRealIpAndAllTrustedChains) {
    const auto loopback = TrustedProxies::Parse(kDefaultTrustedProxies);
    EXPECT_EQ(ResolveClientAddress("127.0.0.1", "", "192.0.2.1", loopback), "192.0.2.1");
    EXPECT_EQ(ResolveClientAddress("127.0.0.1", "", "", loopback), "127.0.0.1");
    EXPECT_EQ(ResolveClientAddress("127.0.0.1", "127.0.0.5, 127.0.0.1", "", loopback), "127.0.0.5")
        << "every hop trusted: the leftmost";
    EXPECT_EQ(ResolveClientAddress("127.0.0.1", std::string(200, 'x'), "", loopback).size(), 64U);
}

}  // namespace
}  // namespace storefleet::http
