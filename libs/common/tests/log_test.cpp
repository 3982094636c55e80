#include "storefleet/common/log.hpp"

#include <gtest/gtest.h>

namespace storefleet::log {
namespace {

TEST(LogTest, BodyIsJsonWithFields) {
    std::string body = FormatBody("store accepted", {{"store_id", "s1"}, {"duration_ms", 12}});
    auto parsed = nlohmann::json::parse("{" + body + "}");
    EXPECT_EQ(parsed["msg"], "store accepted");
    EXPECT_EQ(parsed["store_id"], "s1");
    EXPECT_EQ(parsed["duration_ms"], 12);
}

TEST(LogTest, SecretLookingFieldsAreRedacted) {
    std::string body = FormatBody("oops", {{"db_password", "hunter2"},
                                           {"Authorization", "Bearer x"},
                                           {"api_token", "t"},
                                           {"store_id", "s1"}});
    EXPECT_EQ(body.find("hunter2"), std::string::npos);
    EXPECT_EQ(body.find("Bearer x"), std::string::npos);
    auto parsed = nlohmann::json::parse("{" + body + "}");
    EXPECT_EQ(parsed["db_password"], "[redacted]");
    EXPECT_EQ(parsed["api_token"], "[redacted]");
    EXPECT_EQ(parsed["store_id"], "s1");
}

TEST(LogTest, MessageIsEscaped) {
    std::string body = FormatBody("quote \" and newline \n", {});
    auto parsed = nlohmann::json::parse("{" + body + "}");
    EXPECT_EQ(parsed["msg"], "quote \" and newline \n");
}

}  // namespace
}  // namespace storefleet::log
