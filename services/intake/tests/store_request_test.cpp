#include "store_request.hpp"

#include <gtest/gtest.h>

namespace storefleet::intake {
namespace {

TEST(StoreRequestTest, AcceptsAMinimalBodyWithDefaults) {
    auto request = ParseStoreRequest(R"({"name":"acme-shop","engine":"woocommerce"})");
    ASSERT_TRUE(request.ok()) << request.error().message;
    EXPECT_EQ(request->name, "acme-shop");
    EXPECT_EQ(request->plan, "small");
}

TEST(StoreRequestTest, RejectsBadInputWithAClearMessage) {
    struct Case {
        std::string body;
        const char* expected;
    };
    const Case cases[] = {
        {"not json", "body must be a JSON object"},
        {"[1]", "body must be a JSON object"},
        {R"({"engine":"woocommerce"})", "name is required"},
        {R"({"name":"Acme Shop","engine":"woocommerce"})", "name must be 1-40 characters"},
        {R"({"name":"-shop","engine":"woocommerce"})", "name must be 1-40 characters"},
        {R"({"name":"shop"})", "engine is required"},
        {R"({"name":"shop","engine":"magento"})",
         "engine must be woocommerce or medusa, got 'magento'"},
        {R"({"name":"shop","engine":"medusa","plan":"huge"})",
         "plan must be small, medium or large"},
        {R"({"name":"shop","engine":"medusa","admin_email":"nope"})", "admin_email is not a valid"},
        {R"({"name":"shop","engine":"medusa","color":"red"})", "unknown field 'color'"},
        {(R"({"name":"shop","engine":"medusa","admin_email":")" + std::string(96, 'a') +
          R"(@x.io"})"),
         "at most 100 characters"},
        {R"({"name":5,"engine":"medusa"})", "field 'name' must be a string"},
    };
    for (const auto& c : cases) {
        auto request = ParseStoreRequest(c.body);
        ASSERT_FALSE(request.ok()) << c.body;
        EXPECT_EQ(request.error().code, "invalid_request");
        EXPECT_NE(request.error().message.find(c.expected), std::string::npos)
            << c.body << " -> " << request.error().message;
    }
}

TEST(StoreRequestTest, PlacementRealNodeOnlyForTheEnginesThePlatformOffersThere) {
    auto any = ParseStoreRequest(R"({"name":"shop","engine":"medusa"})", {"medusa"});
    ASSERT_TRUE(any.ok());
    EXPECT_EQ(any->placement, "any");
    auto real = ParseStoreRequest(R"({"name":"shop","engine":"medusa","placement":"real-node"})",
                                  {"medusa"});
    ASSERT_TRUE(real.ok()) << real.error().message;
    EXPECT_EQ(real->placement, "real-node");

    auto no_node =
        ParseStoreRequest(R"({"name":"shop","engine":"medusa","placement":"real-node"})");
    ASSERT_FALSE(no_node.ok());
    EXPECT_EQ(no_node.error().field, "placement");
    EXPECT_EQ(no_node.error().message, "this platform has no real node; use placement any");
    auto wrong_engine = ParseStoreRequest(
        R"({"name":"shop","engine":"woocommerce","placement":"real-node"})", {"medusa"});
    ASSERT_FALSE(wrong_engine.ok());
    EXPECT_EQ(wrong_engine.error().field, "placement");
    EXPECT_EQ(wrong_engine.error().message,
              "the real node runs only medusa stores here, not woocommerce");
    auto unknown =
        ParseStoreRequest(R"({"name":"shop","engine":"medusa","placement":"moon"})", {"medusa"});
    ASSERT_FALSE(unknown.ok());
    EXPECT_EQ(unknown.error().field, "placement");
    EXPECT_EQ(unknown.error().message, "placement must be any or real-node, got 'moon'");
}

TEST(StoreRequestTest, DnsLabel) {
    EXPECT_TRUE(IsDnsLabel("a"));
    EXPECT_TRUE(IsDnsLabel("a-1"));
    EXPECT_FALSE(IsDnsLabel(""));
    EXPECT_FALSE(IsDnsLabel("a_b"));
    EXPECT_FALSE(IsDnsLabel(std::string(64, 'a')));
}

}  // namespace
}  // namespace storefleet::intake
