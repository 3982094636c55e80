// Case 11: a rollout through kill -9s (decision 13). Twelve Ready WooCommerce stores; intake is
// killed -9 while the rollout's POST is under way (the operator posts again only if no
// rollout was made), every provisioner replica is killed -9 in the middle of the first wave
// after the canary, and intake again while the rollout advances the last wave. The rollout
// finishes with every store upgraded exactly once: one new generation and one new Helm
// revision per store, none skipped, every store Ready on the target.
#include <gtest/gtest.h>

#include <ctime>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cases.hpp"
#include "fixture.hpp"
#include "provisioner_logs.hpp"
#include "rollout_support.hpp"
#include "storefleet/test_support/scope_exit.hpp"

namespace storefleet::faults {
namespace {

// The rollouts whose selector names exactly `ids`.
std::vector<std::string> RolloutsOf(const std::vector<std::string>& ids) {
    std::vector<std::string> found;
    auto listed = AdminCall("GET", "/api/v1/admin/rollouts?limit=20");
    EXPECT_EQ(listed.code, 200) << listed.body.dump();
    if (listed.code != 200) return found;
    for (const auto& item : listed.body["items"]) {
        if (item["selector"]["store_ids"] == json(ids)) found.push_back(item.value("id", ""));
    }
    return found;
}

}  // namespace

void ARolloutFinishesOnceThroughKillsOfTheProvisionerAndIntake() {
    constexpr int kStores = 12;
    for (const char* name : {"provisioner", "provisioner-2", "provisioner-3"}) {
        auto started = Platform(std::string("start ") + name);
        ASSERT_EQ(started.rc, 0) << started.output;
    }
    test_support::ScopeExit restart([] { Platform("start intake"); });
    std::vector<std::string> ids;
    DeleteAtEnd cleanup(ids);
    for (int i = 0; i < kStores; ++i) {
        auto reply = TheApi().CreateStore("f11-" + kRun + "-" + std::to_string(i));
        ASSERT_EQ(reply.code, 202) << reply.body.dump();
        ids.push_back(reply.body.value("id", ""));
    }
    ASSERT_TRUE(AllReady(ids, std::chrono::seconds(180)));
    std::map<std::string, StoreChart> before;
    std::map<std::string, int> revisions_before;
    for (const auto& id : ids) {
        before[id] = ChartOf(id);
        revisions_before[id] = HelmRevisions(id);
    }
    const std::string target = OtherGoodVersion(before[ids[0]].observed);
    const json request = {{"engine", "woocommerce"},
                          {"target_version", target},
                          {"selector", {{"store_ids", ids}}},
                          {"strategy",
                           {{"canary", 2},
                            {"waves", {50, 100}},
                            {"max_in_flight", 3},
                            {"ready_within_seconds", 120},
                            {"max_failed", 1}}},
                          {"on_halt", "pause"}};

    // kill -9 of intake while the POST is under way: the kill races the POST's transaction,
    // so either the rollout exists (whatever the answer said) or nothing of it does.
    // The POST, and intake killed -9 a random 0-40 ms after it was sent (a POST of twelve
    // stores takes some tens of milliseconds, the kill's script some too), so that runs land
    // before, during and after the POST's transaction.
    const auto seed = static_cast<unsigned>(std::time(nullptr));
    std::mt19937 random(seed);
    const int kill_after_ms = std::uniform_int_distribution<int>(0, 40)(random);
    Reply posted;
    double post_took = 0;
    std::thread post([&] {
        const auto sent = Clock::now();
        posted = AdminCall("POST", "/api/v1/admin/rollouts", request.dump());
        post_took = Seconds(Clock::now() - sent);
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(kill_after_ms));
    const CommandResult killed = Platform("kill intake -9");
    post.join();
    Figure("case 11 intake killed -9 after the rollout's POST was sent (random)",
           std::to_string(kill_after_ms) + " ms; the POST took " +
               std::to_string(static_cast<int>(post_took * 1000)) + " ms");
    EXPECT_EQ(killed.rc, 0) << killed.output;
    auto restarted = Platform("start intake");
    ASSERT_EQ(restarted.rc, 0) << restarted.output;
    auto made = RolloutsOf(ids);
    Figure("case 11 POST racing intake's kill -9 answered", std::to_string(posted.code));
    Figure("case 11 rollouts made by that POST", std::to_string(made.size()));
    ASSERT_LE(made.size(), 1U) << "one POST made two rollouts";
    if (posted.code == 201) {
        ASSERT_EQ(made.size(), 1U) << "a 201 whose rollout was lost";
    }
    if (made.empty()) {
        auto again = AdminCall("POST", "/api/v1/admin/rollouts", request.dump());
        ASSERT_EQ(again.code, 201) << again.body.dump();
        made = RolloutsOf(ids);
        ASSERT_EQ(made.size(), 1U);
    }
    const std::string rollout_id = made[0];
    test_support::ScopeExit abort(
        [&] { AdminCall("POST", "/api/v1/admin/rollouts/" + rollout_id + "/abort"); });
    const auto started = Clock::now();

    // Every provisioner replica killed -9 while the first wave after the canary is under way.
    auto mid_wave = PollRollout(
        rollout_id,
        [](const json& shown) {
            return shown.value("wave", 0) == 1 && shown["counts"].value("upgrading", 0) > 0;
        },
        std::chrono::seconds(120));
    ASSERT_EQ(mid_wave.value("wave", 0), 1) << mid_wave.dump();
    std::string killed_at = mid_wave["counts"].dump();
    for (const auto& replica : ProvisionerReplicas()) {
        auto provisioner_killed = Platform("kill " + replica + " -9");
        EXPECT_EQ(provisioner_killed.rc, 0) << provisioner_killed.output;
    }
    for (const char* name : {"provisioner", "provisioner-2", "provisioner-3"}) {
        auto back = Platform(std::string("start ") + name);
        ASSERT_EQ(back.rc, 0) << back.output;
    }
    Figure("case 11 every provisioner killed -9 in wave 1 at", killed_at);

    // Intake killed -9 while it advances the last wave.
    auto last_wave = PollRollout(
        rollout_id,
        [](const json& shown) {
            return shown.value("wave", 0) == 2 && shown["counts"].value("upgrading", 0) > 0;
        },
        std::chrono::seconds(180));
    ASSERT_EQ(last_wave.value("wave", 0), 2) << last_wave.dump();
    killed_at = last_wave["counts"].dump();
    auto intake_killed = Platform("kill intake -9");
    EXPECT_EQ(intake_killed.rc, 0) << intake_killed.output;
    auto intake_back = Platform("start intake");
    ASSERT_EQ(intake_back.rc, 0) << intake_back.output;
    Figure("case 11 intake killed -9 in wave 2 at", killed_at);

    auto done = PollRollout(
        rollout_id, [](const json& shown) { return shown.value("state", "") != "running"; },
        std::chrono::seconds(240));
    const double took = Seconds(Clock::now() - started);
    EXPECT_EQ(done.value("state", ""), "done") << done.dump();
    EXPECT_EQ(done["counts"].value("upgraded", 0), kStores) << done.dump();
    EXPECT_EQ(done["counts"].value("skipped", 0), 0) << done.dump();
    EXPECT_EQ(done.value("stores", 0), kStores) << done.dump();
    ASSERT_TRUE(AllReady(ids, std::chrono::seconds(60)));
    std::map<int, int> new_revisions;  // new revisions -> stores
    for (const auto& id : ids) {
        const auto now = ChartOf(id);
        const int revisions = HelmRevisions(id);
        ++new_revisions[revisions - revisions_before[id]];
        EXPECT_EQ(now.observed, target) << id;
        EXPECT_EQ(now.desired, target) << id;
        EXPECT_EQ(now.generation, before[id].generation + 1) << id << ": one new generation";
        if (revisions != revisions_before[id] + 1) {
            STORE_FAILURE("stores upgraded other than once")
                << id << " has " << revisions - revisions_before[id] << " new Helm revisions";
        }
    }
    std::string spread;
    for (const auto& [n, count] : new_revisions)
        spread += std::to_string(count) + "x" + std::to_string(n) + " ";
    Figure("case 11 new Helm revisions per store (stores x revisions)", spread);
    Figure("case 11 rollout of " + std::to_string(kStores) + " stores through the kills", took,
           "s");
}

}  // namespace storefleet::faults
