// Case 10: a rollout to a broken chart version (decision 13). Six Ready WooCommerce stores are
// rolled to kBrokenVersion, a version of the suite's own catalogue whose pods never schedule on
// KWOK (test_catalogue.py), with a canary of 2, a 15 s health gate and "roll back" on a halt:
// the rollout halts after the canary, the two canary stores are rolled back to the version
// they had and are Ready on it, and no other store was touched (same generation, same desired
// version, same Helm revisions). Prints the time from the canary's first failure (its gate's
// time running out) to the halt, and from the halt to the canary Ready again.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "cases.hpp"
#include "fixture.hpp"
#include "rollout_support.hpp"
#include "storefleet/test_support/scope_exit.hpp"

namespace storefleet::faults {

void ABrokenVersionHaltsAfterItsCanaryWhichIsRolledBack() {
    constexpr int kStores = 6;
    constexpr int kGateSeconds = 15;
    std::vector<std::string> ids;
    DeleteAtEnd cleanup(ids);
    for (int i = 0; i < kStores; ++i) {
        auto reply = TheApi().CreateStore("f10-" + kRun + "-" + std::to_string(i));
        ASSERT_EQ(reply.code, 202) << reply.body.dump();
        ids.push_back(reply.body.value("id", ""));
    }
    ASSERT_TRUE(AllReady(ids, std::chrono::seconds(180)));
    std::map<std::string, StoreChart> before;
    std::map<std::string, int> revisions_before;
    for (const auto& id : ids) {
        before[id] = ChartOf(id);
        revisions_before[id] = HelmRevisions(id);
        ASSERT_FALSE(before[id].observed.empty()) << id;
    }
    const std::string from = before[ids[0]].observed;

    const json request = {{"engine", "woocommerce"},
                          {"target_version", kBrokenVersion},
                          {"selector", {{"store_ids", ids}}},
                          {"strategy",
                           {{"canary", 2},
                            {"waves", {100}},
                            {"max_in_flight", 2},
                            {"ready_within_seconds", kGateSeconds},
                            {"max_failed", 1}}},
                          {"on_halt", "rollback"}};
    auto created = AdminCall("POST", "/api/v1/admin/rollouts", request.dump());
    ASSERT_EQ(created.code, 201)
        << created.body.dump()
        << " (is the platform running with the suite's catalogue, test_catalogue.py?)";
    const std::string rollout_id = created.body.value("id", "");
    const auto started = Clock::now();
    // Every rollout of WooCommerce this case leaves is over, whatever fails below.
    test_support::ScopeExit abort(
        [&] { AdminCall("POST", "/api/v1/admin/rollouts/" + rollout_id + "/abort"); });

    auto halted = PollRollout(
        rollout_id, [](const json& shown) { return shown.value("state", "") != "running"; },
        std::chrono::seconds(kGateSeconds + 90));
    const double seen_halted_after = Seconds(Clock::now() - started);
    ASSERT_EQ(halted.value("state", ""), "halted") << halted.dump();
    EXPECT_NE(halted.value("reason", json("")).dump().find("of wave 0 failed"), std::string::npos)
        << halted.dump();
    // The halt's moment is the rollout row's last update (a rollback does not touch it; the
    // abort at the end does). The canary's first failure is the earliest of its gate's time
    // running out and a failure the provisioner reported for the rollout's command.
    const double halt_at = IntakeFigure(
        "select extract(epoch from updated_at) from intake.rollouts where rollout_id = $1::uuid",
        rollout_id);
    // (The canary's upgrades as the audit trail has them: a rollback restarts a store's gate.)
    double first_failure =
        IntakeFigure("select extract(epoch from min(at)) + " + std::to_string(kGateSeconds) +
                         " from intake.audit_log where actor = 'rollout:' || $1 and action = "
                         "'store.chart_version' and detail->>'to' = '" +
                         kBrokenVersion + "'",
                     rollout_id);
    std::string first_failure_was = "the gate's " + std::to_string(kGateSeconds) + " s out";
    for (const auto& [id, store] : RolloutStores(rollout_id)) {
        if (store.wave != 0) continue;
        const auto timeline = TheApi().Timeline(id);
        if (timeline.code != 200 || !timeline.body.is_array()) continue;
        for (const auto& event : timeline.body) {
            const auto status =
                event["status"].is_string() ? event["status"].get<std::string>() : std::string();
            if (event["correlation_id"] != json(rollout_id) ||
                (status != "failed" && status != "degraded"))
                continue;
            const double at = ParseLogTime(event.value("occurred_at", ""));
            if (at > 0 && at < first_failure) {
                first_failure = at;
                first_failure_was = "the provisioner's " + status;
            }
        }
    }

    auto rolled_back = PollRollout(
        rollout_id,
        [](const json& shown) {
            return shown["counts"].value("rolled_back", 0) + shown["counts"].value("failed", 0) ==
                       2 &&
                   shown["counts"].value("rolling_back", 0) == 0;
        },
        std::chrono::seconds(120));
    const auto stores = RolloutStores(rollout_id);
    std::vector<std::string> canary;
    for (const auto& [id, store] : stores) {
        if (store.wave == 0) canary.push_back(id);
    }
    ASSERT_EQ(canary.size(), 2U) << rolled_back.dump();
    EXPECT_EQ(rolled_back["counts"].value("rolled_back", 0), 2) << rolled_back.dump();
    EXPECT_EQ(rolled_back["counts"].value("pending", 0), kStores - 2) << rolled_back.dump();
    EXPECT_EQ(rolled_back.value("state", ""), "halted") << "a rollback does not resume it";
    EXPECT_TRUE(AllReady(canary, std::chrono::seconds(60)));
    const double halt_to_ready = Seconds(Clock::now() - started) - seen_halted_after;

    for (const auto& id : ids) {
        const bool in_canary = std::find(canary.begin(), canary.end(), id) != canary.end();
        const auto now = ChartOf(id);
        const int revisions = HelmRevisions(id);
        EXPECT_EQ(now.status, "ready") << id;
        EXPECT_EQ(now.observed, from) << id << (in_canary ? " (canary)" : "");
        EXPECT_EQ(now.desired, from) << id << (in_canary ? " (canary)" : "");
        if (in_canary) {
            // The upgrade to the broken version, then the rollback (an upgrade to the old one).
            EXPECT_EQ(now.generation, before[id].generation + 2) << id;
            EXPECT_EQ(revisions, revisions_before[id] + 2) << id << " Helm revisions";
        } else {
            EXPECT_EQ(now.generation, before[id].generation) << id << " was touched";
            EXPECT_EQ(revisions, revisions_before[id]) << id << " has a new Helm revision";
        }
    }
    auto aborted = AdminCall("POST", "/api/v1/admin/rollouts/" + rollout_id + "/abort");
    EXPECT_EQ(aborted.code, 200) << aborted.body.dump();

    Figure("case 10 broken canary: first failure (" + first_failure_was + ") -> halt",
           halt_at - first_failure, "s");
    Figure("case 10 broken canary: rollout start -> halt seen by the API", seen_halted_after, "s");
    Figure("case 10 broken canary: halt seen -> canary Ready on " + from + " again", halt_to_ready,
           "s");
}

}  // namespace storefleet::faults
