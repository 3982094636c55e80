// A rollout's progress as the stream shows it: counts per state and per wave from intake's
// rows, zeros included, and the SSE frame without an id.
#include "rollout_progress.hpp"

#include <gtest/gtest.h>

namespace storefleet::query {
namespace {

RolloutProgress Halted() {
    RolloutProgress progress;
    progress.rollout_id = "11111111-1111-4111-8111-111111111111";
    progress.engine = "woocommerce";
    progress.target_version = "0.2.0";
    progress.state = "halted";
    progress.reason = "halted: 1 of 2 stores of wave 0 failed";
    progress.wave = 0;
    progress.waves = 2;
    progress.updated_at = "2026-12-07T18:00:00.000000Z";
    progress.counts_by_wave = nlohmann::json::parse(R"([
        {"wave": 0, "state": "failed", "stores": 1},
        {"wave": 0, "state": "upgraded", "stores": 1},
        {"wave": 1, "state": "pending", "stores": 8}])");
    progress.failures = nlohmann::json::parse(
        R"([{"store_id": "s1", "wave": 0, "state": "failed", "reason": "not Ready within 60 s",
             "from_version": "0.1.0"}])");
    return progress;
}

TEST(RolloutProgressTest, CountsEveryStateOfTheRolloutAndOfEachWave) {
    const auto json = RolloutProgressJson(Halted());
    EXPECT_EQ(json["id"], "11111111-1111-4111-8111-111111111111");
    EXPECT_EQ(json["state"], "halted");
    EXPECT_EQ(json["reason"], "halted: 1 of 2 stores of wave 0 failed");
    EXPECT_EQ(json["stores"], 10);
    EXPECT_EQ(json["counts"], nlohmann::json::parse(R"({"pending": 8, "upgrading": 0, "upgraded": 1,
                  "failed": 1, "rolling_back": 0, "rolled_back": 0, "skipped": 0})"));
    ASSERT_EQ(json["wave_counts"].size(), 2u);
    EXPECT_EQ(json["wave_counts"][0]["wave"], 0);
    EXPECT_EQ(json["wave_counts"][0]["failed"], 1);
    EXPECT_EQ(json["wave_counts"][0]["pending"], 0);
    EXPECT_EQ(json["wave_counts"][1]["pending"], 8);
    EXPECT_EQ(json["failures"][0]["reason"], "not Ready within 60 s");
}

TEST(RolloutProgressTest, NoReasonIsNullAndAStoreOutsideTheWavesStillCounts) {
    auto progress = Halted();
    progress.reason.clear();
    progress.counts_by_wave = nlohmann::json::parse(R"([
        {"wave": 5, "state": "upgraded", "stores": 2},
        {"wave": 0, "state": "some_new_state", "stores": 1}])");
    const auto json = RolloutProgressJson(progress);
    EXPECT_TRUE(json["reason"].is_null());
    EXPECT_EQ(json["stores"], 3);
    EXPECT_EQ(json["counts"]["upgraded"], 2);
    EXPECT_FALSE(json["counts"].contains("some_new_state"));
    EXPECT_EQ(json["wave_counts"][1]["upgraded"], 0);
}

TEST(RolloutProgressTest, TheFrameIsOneEventWithoutAnId) {
    auto progress = Halted();
    progress.reason = "line one\nline two";  // escaped in JSON: still one data line
    const std::string frame = RolloutEventFrame(progress);
    EXPECT_EQ(frame.rfind("event: rollout\ndata: {", 0), 0u) << frame;
    EXPECT_EQ(frame.find("id: "), std::string::npos);
    EXPECT_EQ(frame.substr(frame.size() - 2), "\n\n");
    EXPECT_EQ(frame.find('\n', std::string("event: rollout\n").size()), frame.size() - 2);
}

}  // namespace
}  // namespace storefleet::query
