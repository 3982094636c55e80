// Rollouts in the live stream (decision 13) on the real Postgres of the local stack: intake's
// Rollouts in process change a rollout; the query service's PgChangeFeed is told so by
// intake's NOTIFY (migration 14) and reads the rollout through intake's view
// rollout_progress, which must show what GET /api/v1/admin/rollouts/{id} shows (Describe).
// Each test rolls the stores of a tenant of its own from a version of its own, as
// intake_rollouts_test does.
#include <gtest/gtest.h>

#include "change_feed.hpp"
#include "intake_store.hpp"
#include "rollout_progress.hpp"
#include "rollouts.hpp"
#include "storefleet/common/ids.hpp"
#include "storefleet/test_support/env.hpp"
#include "storefleet/test_support/wait.hpp"

namespace storefleet {
namespace {

using namespace std::chrono_literals;
using test_support::RequireEnv;

class RolloutStreamTest : public ::testing::Test {
protected:
    void SetUp() override {
        store_.Migrate();
        tenant_ = "rollstream-" + RandomHex(4);
        store_.SeedTenant(tenant_, RandomHex(16), 1000);
        from_ = "0.0.1-" + RandomHex(3);
        target_ = charts_.DefaultVersion("medusa");
        ASSERT_FALSE(target_.empty());
        store_.SetChartDefaults({{"medusa", from_}});
        for (int i = 0; i < 4; ++i) {
            auto created = store_.CreateStore(
                {tenant_, ""},
                {"r" + std::to_string(i) + "-" + RandomHex(2), "medusa", "small", "", "any"},
                "k-" + RandomHex(6), "c");
            ASSERT_TRUE(created.ok()) << created.error().message;
        }
        ASSERT_GE(feed_.WakeFd(), 0) << "the feed could not LISTEN";
        feed_.TakeRolloutChanges();  // what the LISTEN's start asks for, and nothing since
    }
    void TearDown() override {
        pool_.WithTransaction([&](pqxx::work& txn) {
            txn.exec_params(
                "delete from intake.outbox where key in (select store_id::text from "
                "intake.stores where tenant_id = $1)",
                tenant_);
            txn.exec_params(
                "update intake.rollouts set state = 'aborted' where state in ('running', "
                "'paused', 'halted') and request->'selector'->'tenants' ? $1",
                tenant_);
            txn.exec_params("update intake.stores set state = 'deleted' where tenant_id = $1",
                            tenant_);
        });
    }

    std::string Start() {
        auto request = intake::ParseRolloutRequest(
            R"({"engine":"medusa","target_version":")" + target_ + R"(","selector":{"tenants":[")" +
                tenant_ +
                R"("]},"strategy":{"canary":2,"waves":[100],"max_in_flight":5},"on_halt":"rollback"})",
            charts_);
        EXPECT_TRUE(request.ok()) << request.error().message;
        auto created = rollouts_.Create(*request, "token:test");
        EXPECT_TRUE(created.ok()) << created.error().message;
        return created.ok() ? (*created)["id"].get<std::string>() : "";
    }

    // Whether a notification named `id`, waiting on the feed's descriptor as the stream does.
    bool Notified(const std::string& id) {
        return test_support::WaitUntil(
            [&] {
                feed_.Drain();
                return feed_.TakeRolloutChanges().ids.contains(id);
            },
            10s);
    }

    // The stream's view of the rollout equals the API's (the fields both have); polled, as
    // the platform's intake on the same stack may step it between the two reads.
    void ExpectTheStreamShowsWhatTheApiShows(const std::string& id) {
        nlohmann::json api, streamed;
        const bool same = test_support::WaitUntil(
            [&] {
                api = *rollouts_.Get(id);
                auto read = feed_.Rollouts({.ids = {id}, .all_active = false});
                if (read.size() != 1) return false;
                streamed = query::RolloutProgressJson(read[0]);
                for (const char* field : {"id", "engine", "target_version", "state", "reason",
                                          "wave", "waves", "canary_passed", "stores", "counts",
                                          "wave_counts", "failures", "updated_at"}) {
                    if (api[field] != streamed[field]) return false;
                }
                return true;
            },
            5s, 100ms);
        EXPECT_TRUE(same) << "API: " << api.dump() << "\nstream: " << streamed.dump();
    }

    // Every store under way reports `status` at its generation, as the lifecycle consumer does.
    void Report(const std::string& id, v1::StoreStatus status) {
        std::vector<std::pair<std::string, int64_t>> under_way;
        pool_.WithTransaction([&](pqxx::work& txn) {
            for (const auto& row : txn.exec_params(
                     "select store_id::text, generation from intake.rollout_stores where "
                     "rollout_id = $1::uuid and state in ('upgrading', 'rolling_back')",
                     id)) {
                under_way.emplace_back(row[0].as<std::string>(), row[1].as<int64_t>());
            }
        });
        for (const auto& [store_id, generation] : under_way) {
            const auto g = static_cast<uint64_t>(generation);
            ASSERT_TRUE(
                store_
                    .ApplyStoreStatus({store_id, status, "ready", g,
                                       status == v1::STORE_STATUS_READY ? g : 0, ++sequence_})
                    .ok());
        }
    }

    pg::Pool pool_{RequireEnv("STOREFLEET_PG_URL"), 4};
    intake::IntakeStore store_{pool_, "stores.test"};
    events::ChartCatalogue charts_ = *events::ChartCatalogue::Load(STOREFLEET_CHART_CATALOGUE);
    intake::Rollouts rollouts_{pool_, charts_};
    query::PgChangeFeed feed_{RequireEnv("STOREFLEET_PG_URL"), pool_};
    std::string tenant_, from_, target_;
    uint64_t sequence_ = uint64_t{1} << 41;
};

TEST_F(RolloutStreamTest, EveryStepIsNotifiedAndTheViewShowsWhatTheApiShows) {
    const auto id = Start();
    ASSERT_TRUE(Notified(id)) << "creating a rollout was not notified";
    ExpectTheStreamShowsWhatTheApiShows(id);

    rollouts_.Advance();  // the canary starts
    ASSERT_TRUE(Notified(id)) << "a step was not notified";
    ExpectTheStreamShowsWhatTheApiShows(id);

    Report(id, v1::STORE_STATUS_FAILED);  // the canary fails: halt, roll back
    rollouts_.Advance();
    ASSERT_TRUE(Notified(id));
    ExpectTheStreamShowsWhatTheApiShows(id);
    const auto halted = feed_.Rollouts({.ids = {id}, .all_active = false});
    ASSERT_EQ(halted.size(), 1u);
    const auto json = query::RolloutProgressJson(halted[0]);
    EXPECT_EQ(json["state"], "halted") << json.dump();
    EXPECT_EQ(json["counts"]["rolling_back"], 2) << json.dump();
    ASSERT_EQ(json["failures"].size(), 2u) << json.dump();
    EXPECT_FALSE(json["failures"][0]["reason"].get<std::string>().empty()) << json.dump();
    EXPECT_TRUE(halted[0].active);

    auto aborted = rollouts_.Act(id, "abort", "token:test");
    ASSERT_TRUE(aborted.ok());
    ASSERT_TRUE(Notified(id)) << "an admin's action was not notified";
    ExpectTheStreamShowsWhatTheApiShows(id);

    // Read as "every active one" (after a missed notification) it is still there: aborted with
    // stores rolling back, or over in the last minute.
    bool found = false;
    for (const auto& rollout : feed_.Rollouts({.ids = {}, .all_active = true}))
        found = found || rollout.rollout_id == id;
    EXPECT_TRUE(found);
}

}  // namespace
}  // namespace storefleet
