#include "views.hpp"

#include <gtest/gtest.h>

namespace storefleet::query {
namespace {

TEST(Rfc3339Test, FormatsUtcWithMicroseconds) {
    EXPECT_EQ(Rfc3339(0), "1970-01-01T00:00:00.000000Z");
    EXPECT_EQ(Rfc3339(1'700'000'000'123'456), "2023-11-14T22:13:20.123456Z");
    EXPECT_EQ(Rfc3339(951'782'400'000'001), "2000-02-29T00:00:00.000001Z");
    EXPECT_EQ(Rfc3339(-1), "1969-12-31T23:59:59.999999Z");
}

StoreView Store() {
    StoreView store;
    store.id = "6f1c2b9e-3d4a-4b5c-8d7e-9f0a1b2c3d4e";
    store.name = "shop";
    store.engine = "woocommerce";
    store.plan = "small";
    store.host = "shop.acme.stores.localtest.me";
    store.status = "provisioning";
    store.step = "helm";
    store.k8s_namespace = "store-6f1c2b9e";
    store.created_at_us = 1'700'000'000'000'000;
    store.updated_at_us = 1'700'000'000'500'000;
    return store;
}

TEST(StoreJsonTest, HasEveryFieldWithNullForTheUnknown) {
    nlohmann::json json = ToJson(Store());
    for (const char* field : {"id",         "name",       "engine",       "plan",
                              "host",       "status",     "step",         "reason",
                              "url",        "admin_url",  "namespace",    "simulated",
                              "created_at", "updated_at", "generation",   "observed_generation",
                              "condition",  "desired",    "desired_etag", "chart_version"}) {
        EXPECT_TRUE(json.contains(field)) << field;
    }
    EXPECT_EQ(json.size(), 20U) << json.dump();
    EXPECT_TRUE(json["chart_version"].is_null()) << "converged to no chart version yet";
    EXPECT_TRUE(json["desired"]["chart_version"].is_null()) << "not pinned";
    EXPECT_EQ(json["id"], "6f1c2b9e-3d4a-4b5c-8d7e-9f0a1b2c3d4e");
    EXPECT_EQ(json["namespace"], "store-6f1c2b9e");
    EXPECT_TRUE(json["reason"].is_null());
    EXPECT_TRUE(json["url"].is_null());
    EXPECT_EQ(json["simulated"], false);
    EXPECT_EQ(json["created_at"], "2023-11-14T22:13:20.000000Z");
    EXPECT_EQ(json["updated_at"], "2023-11-14T22:13:20.500000Z");
}

TEST(StoreJsonTest, CarriesItsGenerationsConditionAndDesiredState) {
    StoreView store = Store();
    store.status = "ready";
    store.plan = "medium";
    store.generation = 3;
    store.observed_generation = 2;
    store.suspended = true;
    store.admin_email = "owner@example.com";
    store.condition_state = "converging";
    store.condition_message = "converging to generation 3";
    nlohmann::json json = ToJson(store);
    EXPECT_EQ(json["generation"], 3);
    EXPECT_EQ(json["observed_generation"], 2);
    EXPECT_EQ(json["condition"],
              nlohmann::json({{"state", "converging"}, {"message", "converging to generation 3"}}));
    EXPECT_EQ(json["desired"], nlohmann::json({{"plan", "medium"},
                                               {"suspended", true},
                                               {"admin_email", "owner@example.com"},
                                               {"chart_version", nullptr}}));
    EXPECT_EQ(json["desired_etag"], "\"g3\"") << "an entity tag, quotes included";
    EXPECT_EQ(json["plan"], "medium");

    store.admin_email.clear();
    EXPECT_TRUE(ToJson(store)["desired"]["admin_email"].is_null());
}

TEST(StoreJsonTest, CarriesTheChartVersionItConvergedToAndTheOneItIsAsked) {
    StoreView store = Store();
    store.status = "ready";
    store.observed_chart_version = "0.1.1";
    store.desired_chart_version = "0.2.0";
    nlohmann::json json = ToJson(store);
    EXPECT_EQ(json["chart_version"], "0.1.1");
    EXPECT_EQ(json["desired"]["chart_version"], "0.2.0");
    // Keys in byte order (the read model's view_json is spelled in the same order).
    const std::string text = json.dump();
    EXPECT_LT(text.find(R"("admin_url":)"), text.find(R"("chart_version":"0.1.1")"));
    EXPECT_LT(text.find(R"("chart_version":"0.1.1")"), text.find(R"("condition":)"));
    EXPECT_NE(text.find(R"("desired":{"admin_email":null,"chart_version":"0.2.0","plan":)"),
              std::string::npos)
        << text;
}

TEST(StoreJsonTest, ASimulatedStoreSaysSoNextToItsUrl) {
    StoreView store = Store();
    store.status = "ready";
    store.url = "http://shop.acme.stores.localtest.me";
    store.simulated = true;
    nlohmann::json json = ToJson(store);
    EXPECT_EQ(json["simulated"], true);
    EXPECT_EQ(
        json["note"],
        "simulated cluster (KWOK): the Kubernetes objects are real, the shop behind this URL is "
        "not running");
}

TEST(EventJsonTest, HasTheTimelineFields) {
    EventView event{"00000000-0000-4000-8000-000000000001",
                    "StoreStatusChanged",
                    "failed",
                    "helm",
                    "chart did not render",
                    1'700'000'000'000'000,
                    "corr-1"};
    nlohmann::json json = ToJson(event);
    EXPECT_EQ(json, nlohmann::json({{"event_id", "00000000-0000-4000-8000-000000000001"},
                                    {"type", "StoreStatusChanged"},
                                    {"status", "failed"},
                                    {"step", "helm"},
                                    {"reason", "chart did not render"},
                                    {"occurred_at", "2023-11-14T22:13:20.000000Z"},
                                    {"correlation_id", "corr-1"}}));
}

}  // namespace
}  // namespace storefleet::query
