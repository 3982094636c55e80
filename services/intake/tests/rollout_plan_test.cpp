#include "rollout_plan.hpp"

#include <gtest/gtest.h>

namespace storefleet::intake {
namespace {

events::ChartCatalogue Charts() {
    auto charts = events::ChartCatalogue::Parse(nlohmann::json::parse(R"({"engines": {
        "woocommerce": {"default": "0.2.0", "versions": {"0.1.0": {"dir": "/a"}, "0.2.0": {"dir": "/b"}}}}})"));
    return *charts;
}

std::string RefusedField(const std::string& body) {
    auto parsed = ParseRolloutRequest(body, Charts());
    return parsed.ok() ? "" : parsed.error().field;
}

TEST(RolloutRequestTest, AWholeRequestIsReadWithItsDefaultsForWhatItLeavesOut) {
    auto minimal =
        ParseRolloutRequest(R"({"engine":"woocommerce","target_version":"0.2.0"})", Charts());
    ASSERT_TRUE(minimal.ok()) << minimal.error().message;
    EXPECT_EQ(minimal->strategy.canary, 1);
    EXPECT_EQ(minimal->strategy.waves, std::vector<int>{100});
    EXPECT_EQ(minimal->on_halt, HaltAction::kRollback);
    EXPECT_TRUE(minimal->selector.tenants.empty());

    auto full = ParseRolloutRequest(R"({"engine":"woocommerce","target_version":"0.1.0",
        "selector":{"tenants":["acme"],"plans":["small","large"],
                    "store_ids":["8f14e45f-ceea-467f-a0e6-3e4b5f3c2b1a"]},
        "strategy":{"canary":5,"waves":[25,50,100],"max_in_flight":10,"ready_within_seconds":120,
                    "max_failed":3,"max_failed_percent":20},
        "on_halt":"pause"})",
                                    Charts());
    ASSERT_TRUE(full.ok()) << full.error().message;
    EXPECT_EQ(full->target_version, "0.1.0");
    EXPECT_EQ(full->selector.plans, (std::vector<std::string>{"small", "large"}));
    EXPECT_EQ(full->strategy.waves, (std::vector<int>{25, 50, 100}));
    EXPECT_EQ(full->strategy.ready_within, std::chrono::seconds(120));
    EXPECT_EQ(full->strategy.max_failed_percent, 20);
    EXPECT_EQ(full->on_halt, HaltAction::kPause);
    EXPECT_TRUE(
        ParseRolloutRequest(R"({"engine":"woocommerce","target_version":"0.2.0","selector":"all"})",
                            Charts())
            .ok());
}

TEST(RolloutRequestTest, EachBadMemberIsRefusedNamingItsField) {
    const std::string base = R"("engine":"woocommerce","target_version":"0.2.0")";
    EXPECT_EQ(RefusedField("[]"), "body");
    EXPECT_EQ(RefusedField(R"({"target_version":"0.2.0"})"), "engine");
    EXPECT_EQ(RefusedField(R"({"engine":"medusa","target_version":"0.2.0"})"), "engine");
    EXPECT_EQ(RefusedField(R"({"engine":"woocommerce","target_version":"9.9.9"})"),
              "target_version");
    EXPECT_EQ(RefusedField(R"({"engine":"woocommerce","target_version":""})"), "target_version");
    EXPECT_EQ(RefusedField("{" + base + R"(,"force":true})"), "force");
    EXPECT_EQ(RefusedField("{" + base + R"(,"selector":{"plan":["small"]}})"), "selector.plan");
    EXPECT_EQ(RefusedField("{" + base + R"(,"selector":{"plans":["tiny"]}})"), "selector.plans");
    EXPECT_EQ(RefusedField("{" + base + R"(,"selector":{"store_ids":["x"]}})"),
              "selector.store_ids");
    EXPECT_EQ(RefusedField("{" + base + R"(,"selector":"some"})"), "selector");
    EXPECT_EQ(RefusedField("{" + base + R"(,"strategy":{"waves":[50,25,100]}})"), "strategy.waves");
    EXPECT_EQ(RefusedField("{" + base + R"(,"strategy":{"waves":[25,50]}})"), "strategy.waves");
    EXPECT_EQ(RefusedField("{" + base + R"(,"strategy":{"waves":[]}})"), "strategy.waves");
    EXPECT_EQ(RefusedField("{" + base + R"(,"strategy":{"max_in_flight":0}})"),
              "strategy.max_in_flight");
    EXPECT_EQ(RefusedField("{" + base + R"(,"strategy":{"canary":"5"}})"), "strategy.canary");
    EXPECT_EQ(RefusedField("{" + base + R"(,"strategy":{"ready_within_seconds":1}})"),
              "strategy.ready_within_seconds");
    EXPECT_EQ(RefusedField("{" + base + R"(,"strategy":{"max_failed_percent":101}})"),
              "strategy.max_failed_percent");
    EXPECT_EQ(RefusedField("{" + base + R"(,"on_halt":"stop"})"), "on_halt");
    auto unknown =
        ParseRolloutRequest(R"({"engine":"woocommerce","target_version":"3.0.0"})", Charts());
    ASSERT_FALSE(unknown.ok());
    EXPECT_NE(unknown.error().message.find("it has 0.1.0, 0.2.0"), std::string::npos)
        << unknown.error().message;
}

int CountOf(const std::vector<int>& waves, int wave) {
    return static_cast<int>(std::count(waves.begin(), waves.end(), wave));
}

TEST(AssignWavesTest, ACanaryThenEachWaveUpToItsShareOfTheRest) {
    RolloutStrategy strategy;
    strategy.canary = 5;
    strategy.waves = {25, 50, 100};
    const auto waves = AssignWaves(200, strategy);
    ASSERT_EQ(waves.size(), 200U);
    EXPECT_EQ(CountOf(waves, 0), 5);
    EXPECT_EQ(CountOf(waves, 1), 49);  // 25% of 195, rounded up
    EXPECT_EQ(CountOf(waves, 2), 49);  // up to 98
    EXPECT_EQ(CountOf(waves, 3), 97);  // the rest
    EXPECT_TRUE(std::is_sorted(waves.begin(), waves.end())) << "waves follow the stores' order";
}

TEST(AssignWavesTest, SmallFleetsSkipEmptyWavesAndNoCanaryStartsAtWaveZero) {
    RolloutStrategy strategy;
    strategy.canary = 5;
    strategy.waves = {10, 20, 100};
    EXPECT_EQ(AssignWaves(3, strategy), (std::vector<int>{0, 0, 0})) << "all in the canary";
    EXPECT_EQ(AssignWaves(7, strategy), (std::vector<int>{0, 0, 0, 0, 0, 1, 2}));
    EXPECT_TRUE(AssignWaves(0, strategy).empty());
    strategy.canary = 0;
    strategy.waves = {50, 100};
    EXPECT_EQ(AssignWaves(4, strategy), (std::vector<int>{0, 0, 1, 1}));
}

TEST(FailureBudgetTest, TheCanaryHaltsAtItsFirstFailureAndWavesAtEitherBound) {
    RolloutStrategy strategy;
    strategy.max_failed = 3;
    strategy.max_failed_percent = 20;
    EXPECT_FALSE(FailureBudgetSpent(strategy, true, 0, 5, 0));
    EXPECT_TRUE(FailureBudgetSpent(strategy, true, 1, 5, 1));
    EXPECT_FALSE(FailureBudgetSpent(strategy, false, 1, 50, 2));
    EXPECT_TRUE(FailureBudgetSpent(strategy, false, 1, 50, 3)) << "3 in all";
    EXPECT_TRUE(FailureBudgetSpent(strategy, false, 2, 10, 2)) << "20% of the wave";
    strategy.max_failed = 0;
    strategy.max_failed_percent = 0;
    EXPECT_FALSE(FailureBudgetSpent(strategy, false, 9, 10, 9)) << "both bounds off";
}

}  // namespace
}  // namespace storefleet::intake
