#include <gtest/gtest.h>

#include "storefleet/pg/pool.hpp"

namespace storefleet::pg {
namespace {

// Before the fix a connection had no connect timeout, no keepalives, no TCP user timeout and
// no statement timeout: a black-holed primary held a thread for as long as the kernel's
// defaults (about 2 hours of keepalive idle, 15 minutes of retransmissions).
TEST(ConnectionDefaultsTest, AUriGetsEveryBoundItDoesNotSetItself) {
    const std::string url = WithConnectionDefaults("postgresql://app@127.0.0.1:5432/storefleet");
    EXPECT_EQ(url,
              "postgresql://app@127.0.0.1:5432/"
              "storefleet?connect_timeout=5&keepalives=1&keepalives_idle=10"
              "&keepalives_interval=5&keepalives_count=3&tcp_user_timeout=15000"
              "&options=-c%20statement_timeout%3D30000");
}

TEST(ConnectionDefaultsTest, WhatTheUrlSetsIsKept) {
    const std::string url = WithConnectionDefaults(
        "postgres://h/db?sslmode=disable&connect_timeout=2&options=-c%20work_mem%3D8MB");
    EXPECT_NE(url.find("connect_timeout=2"), std::string::npos) << url;
    EXPECT_EQ(url.find("connect_timeout=5"), std::string::npos) << url;
    EXPECT_NE(url.find("options=-c%20work_mem%3D8MB"), std::string::npos) << url;
    EXPECT_EQ(url.find("statement_timeout"), std::string::npos)
        << "the URL's own options win: " << url;
    EXPECT_NE(url.find("&tcp_user_timeout=15000"), std::string::npos) << url;
}

TEST(ConnectionDefaultsTest, AKeyValueStringGetsThemToo) {
    const std::string url =
        WithConnectionDefaults("host=/tmp dbname=storefleet keepalives_idle = 30", {});
    EXPECT_NE(url.find(" connect_timeout=5"), std::string::npos) << url;
    EXPECT_EQ(url.find("keepalives_idle=10"), std::string::npos) << url;
    EXPECT_NE(url.find(" options='-c statement_timeout=30000'"), std::string::npos) << url;
    EXPECT_EQ(WithConnectionDefaults("", {}).rfind("connect_timeout=5", 0), 0U);
}

}  // namespace
}  // namespace storefleet::pg
