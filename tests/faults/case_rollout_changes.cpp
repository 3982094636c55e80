// Case 12: stores created and deleted during a rollout, then a rollout aborted mid-wave
// (decision 13). A tenant of the case's own with six Ready WooCommerce stores at version A;
// a rollout of the tenant's stores to B (canary 1, waves 50/100 %). While the canary is under
// way a store is created: it gets A and joins the rollout at its end; a store of the last wave
// is deleted while it waits: the rollout counts it skipped and goes on; once the canary passed
// a store is created: it ends on B (directly, or as a late joiner if its intake replica had
// not stepped since). The rollout ends done with every store of the tenant on B, each Ready,
// upgraded once. Then a rollout back to A, two at a time, is aborted after two stores: what
// was under way finishes, and every store is Ready on A or on B, nothing in between.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "cases.hpp"
#include "fixture.hpp"
#include "rollout_support.hpp"
#include "storefleet/test_support/scope_exit.hpp"

namespace storefleet::faults {
namespace {

json Strategy(int canary, const std::vector<int>& waves, int in_flight) {
    return {{"canary", canary},
            {"waves", waves},
            {"max_in_flight", in_flight},
            {"ready_within_seconds", 120},
            {"max_failed", 1}};
}

}  // namespace

void CreatesAndDeletesDuringARolloutAndAnAbortMidWave() {
    constexpr int kStores = 6;
    const auto tenant = MakeTenant("f12-" + kRun);
    ASSERT_FALSE(::testing::Test::HasFailure());
    const auto get = [&tenant](const std::string& id) {
        return tenant.Call("GET", "/api/v1/stores/" + id);
    };
    const auto create = [&tenant](const std::string& name) {
        auto reply = tenant.Call("POST", "/api/v1/stores",
                                 json{{"name", name}, {"engine", "woocommerce"}}.dump());
        EXPECT_EQ(reply.code, 202) << reply.body.dump();
        return reply.body.value("id", "");
    };
    std::vector<std::string> ids;  // every store of the tenant, deleted at the end
    test_support::ScopeExit cleanup([&] {
        for (const auto& id : ids) tenant.Call("DELETE", "/api/v1/stores/" + id);
        PollUntil(
            [&] {
                for (const auto& id : ids) {
                    if (ChartOf(get(id)).status != "deleted") return false;
                }
                return true;
            },
            std::chrono::seconds(120));
    });
    for (int i = 0; i < kStores; ++i)
        ids.push_back(create("f12-" + kRun + "-" + std::to_string(i)));
    ASSERT_TRUE(AllReady(ids, std::chrono::seconds(180), get));
    const std::string from = ChartOf(get(ids[0])).observed;
    const std::string target = OtherGoodVersion(from);
    std::map<std::string, int> revisions_before;
    for (const auto& id : ids) revisions_before[id] = HelmRevisions(id);

    auto created = AdminCall("POST", "/api/v1/admin/rollouts",
                             json{{"engine", "woocommerce"},
                                  {"target_version", target},
                                  {"selector", {{"tenants", {tenant.id}}}},
                                  {"strategy", Strategy(1, {50, 100}, 2)},
                                  {"on_halt", "pause"}}
                                 .dump());
    ASSERT_EQ(created.code, 201) << created.body.dump();
    const std::string rollout_id = created.body.value("id", "");
    test_support::ScopeExit abort(
        [&] { AdminCall("POST", "/api/v1/admin/rollouts/" + rollout_id + "/abort"); });
    ASSERT_EQ(created.body.value("stores", 0), kStores) << created.body.dump();

    // Created while the canary is under way: the previous version.
    const std::string early = create("f12-" + kRun + "-early");
    ids.push_back(early);
    const auto after_early = AdminCall("GET", "/api/v1/admin/rollouts/" + rollout_id);
    const auto early_chart = ChartOf(get(early));
    if (!after_early.body.value("canary_passed", true)) {
        EXPECT_EQ(early_chart.desired, from) << "created before the canary passed";
    }
    Figure("case 12 store created during the canary got", early_chart.desired);

    // A store of the last wave deleted while it waits.
    std::string deleted;
    for (const auto& [id, store] : RolloutStores(rollout_id)) {
        if (store.wave == 2 && store.state == "pending") deleted = id;
    }
    ASSERT_FALSE(deleted.empty()) << "no pending store in the last wave";
    ASSERT_EQ(tenant.Call("DELETE", "/api/v1/stores/" + deleted).code, 202);

    // Created once the canary passed: the target.
    auto passed = PollRollout(
        rollout_id, [](const json& shown) { return shown.value("canary_passed", false); },
        std::chrono::seconds(120));
    ASSERT_TRUE(passed.value("canary_passed", false)) << passed.dump();
    const std::string late = create("f12-" + kRun + "-late");
    ids.push_back(late);
    const auto late_chart = ChartOf(get(late));
    Figure("case 12 store created after the canary passed got", late_chart.desired);

    auto done = PollRollout(
        rollout_id, [](const json& shown) { return shown.value("state", "") != "running"; },
        std::chrono::seconds(240));
    EXPECT_EQ(done.value("state", ""), "done") << done.dump();
    // The six, less the deleted one, plus the early store (a wave of its own at the end), plus
    // the late one only if it was created with the previous version.
    const int late_joined = late_chart.desired == from ? 1 : 0;
    EXPECT_EQ(done["counts"].value("upgraded", 0), kStores - 1 + 1 + late_joined) << done.dump();
    EXPECT_EQ(done["counts"].value("skipped", 0), 1) << done.dump();
    EXPECT_EQ(done["counts"].value("failed", 0), 0) << done.dump();
    EXPECT_EQ(done.value("stores", 0), kStores + 1 + late_joined) << done.dump();
    std::vector<std::string> live;
    for (const auto& id : ids) {
        if (id != deleted) live.push_back(id);
    }
    ASSERT_TRUE(AllReady(live, std::chrono::seconds(120), get));
    EXPECT_TRUE(PollUntil([&] { return ChartOf(get(deleted)).status == "deleted"; },
                          std::chrono::seconds(120)))
        << "the deleted store";
    for (const auto& id : live) {
        const auto now = ChartOf(get(id));
        EXPECT_EQ(now.observed, target) << id;
        EXPECT_EQ(now.desired, target) << id;
        const int revisions = HelmRevisions(id);
        const int expected = id == late    ? 1 + late_joined
                             : id == early ? 2
                                           : revisions_before[id] + 1;
        EXPECT_EQ(revisions, expected) << id << ": Helm revisions";
    }

    // Back to the previous version, two at a time, aborted once two stores are upgraded.
    std::map<std::string, int> revisions_mid;
    for (const auto& id : live) revisions_mid[id] = HelmRevisions(id);
    auto back = AdminCall("POST", "/api/v1/admin/rollouts",
                          json{{"engine", "woocommerce"},
                               {"target_version", from},
                               {"selector", {{"tenants", {tenant.id}}}},
                               {"strategy", Strategy(0, {100}, 2)},
                               {"on_halt", "pause"}}
                              .dump());
    ASSERT_EQ(back.code, 201) << back.body.dump();
    const std::string back_id = back.body.value("id", "");
    test_support::ScopeExit abort_back(
        [&] { AdminCall("POST", "/api/v1/admin/rollouts/" + back_id + "/abort"); });
    auto two = PollRollout(
        back_id, [](const json& shown) { return shown["counts"].value("upgraded", 0) >= 2; },
        std::chrono::seconds(120));
    ASSERT_GE(two["counts"].value("upgraded", 0), 2) << two.dump();
    auto aborted = AdminCall("POST", "/api/v1/admin/rollouts/" + back_id + "/abort");
    ASSERT_EQ(aborted.code, 200) << aborted.body.dump();
    Figure("case 12 rollout back to " + from + " aborted at", aborted.body["counts"].dump());
    auto settled = PollRollout(
        back_id,
        [](const json& shown) {
            return shown.value("state", "") == "aborted" &&
                   shown["counts"].value("upgrading", 0) == 0;
        },
        std::chrono::seconds(120));
    EXPECT_GT(settled["counts"].value("pending", 0), 0) << "aborted mid-wave: " << settled.dump();
    ASSERT_TRUE(AllReady(live, std::chrono::seconds(120), get));
    const auto back_stores = RolloutStores(back_id);
    std::map<std::string, int> on;
    for (const auto& id : live) {
        const auto now = ChartOf(get(id));
        ++on[now.observed];
        EXPECT_EQ(now.observed, now.desired) << id << ": not settled";
        EXPECT_TRUE(now.observed == from || now.observed == target) << id << " on " << now.observed;
        const auto found = back_stores.find(id);
        const bool upgraded = found != back_stores.end() && found->second.state == "upgraded";
        EXPECT_EQ(now.observed, upgraded ? from : target)
            << id << " (rollout state "
            << (found == back_stores.end() ? "none" : found->second.state) << ")";
        EXPECT_EQ(HelmRevisions(id), revisions_mid[id] + (upgraded ? 1 : 0)) << id;
    }
    Figure("case 12 after the abort, stores on " + from + " / on " + target,
           std::to_string(on[from]) + " / " + std::to_string(on[target]));
}

}  // namespace storefleet::faults
