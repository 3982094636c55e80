// A store's life in the read model on the real Postgres of the local stack (decision 11):
// generations, the desired state of the newest one, observed generation, drift, and the
// condition derived once (migration 7's store_condition, kept in each row by its trigger, in
// view_json and in the change log); and the replay check over change requests read in any
// order. Each test works in a schema of its own.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "projection.hpp"
#include "read_model.hpp"
#include "read_model_diff.hpp"
#include "storefleet/common/ids.hpp"
#include "test_events.hpp"

namespace storefleet::projector {
namespace {

using namespace fixtures;  // NOLINT(google-build-using-namespace)

std::string PgUrl() {
    const char* url = std::getenv("STOREFLEET_PG_URL");  // NOLINT(concurrency-mt-unsafe)
    return url != nullptr ? url : "";
}

// A message as consumed from a topic at an offset.
kafka::ConsumedMessage Message(const v1::Envelope& envelope, int64_t offset) {
    const bool command = events::IsStoreCommand(envelope);
    return {command ? events::kCommandsTopic : events::kStatusTopic,
            0,
            offset,
            envelope.store_id(),
            events::Encode(envelope),
            {}};
}

class ReadModelLifecycleTest : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_FALSE(PgUrl().empty())
            << "STOREFLEET_PG_URL is not set: run through tests/with-stack";
        live_.Migrate();
    }
    void TearDown() override {
        for (const auto& schema : {live_schema_, replay_schema_}) {
            pool_.WithTransaction(
                [&](pqxx::work& txn) { txn.exec("drop schema if exists " + schema + " cascade"); });
        }
    }

    void Apply(PgReadModel& model, const std::vector<kafka::ConsumedMessage>& messages) {
        const BatchPlan plan = PlanBatch(messages);
        ASSERT_TRUE(plan.skipped.empty()) << plan.skipped.front().error.message;
        model.Apply(plan);
    }
    // The store's lifecycle columns and its view_json, parsed.
    struct Row {
        int64_t generation = 0;
        int64_t observed_generation = 0;
        std::string plan;
        bool suspended = false;
        std::string status;
        std::string drift;
        std::string condition_state;
        std::string condition_message;
        std::string view_json;
        [[nodiscard]] nlohmann::json View() const { return nlohmann::json::parse(view_json); }
    };
    Row Read(const std::string& schema) {
        return pool_.WithTransaction([&](pqxx::work& txn) {
            auto r = txn.exec_params(
                "select generation, observed_generation, coalesce(plan, ''), suspended, status, "
                "coalesce(drift, ''), condition_state, condition_message, view_json from " +
                    schema + ".stores where store_id = $1::uuid",
                std::string(kStoreId));
            Row row;
            if (r.empty()) return row;
            row.generation = r[0][0].as<int64_t>();
            row.observed_generation = r[0][1].as<int64_t>();
            row.plan = r[0][2].as<std::string>();
            row.suspended = r[0][3].as<bool>();
            row.status = r[0][4].as<std::string>();
            row.drift = r[0][5].as<std::string>();
            row.condition_state = r[0][6].as<std::string>();
            row.condition_message = r[0][7].as<std::string>();
            row.view_json = r[0][8].as<std::string>();
            return row;
        });
    }

    pg::Pool pool_{PgUrl(), 2};
    std::string live_schema_ = "life_" + RandomHex(4);
    std::string replay_schema_ = "life_replay_" + RandomHex(4);
    PgReadModel live_{pool_, "lifecycle-test", live_schema_};
};

TEST_F(ReadModelLifecycleTest, GenerationsDesiredStateAndConditionFollowTheEvents) {
    Apply(live_,
          {Message(Requested(EventId(1), kT0), 5),
           Message(Converged(EventId(2), kT0 + 10, v1::STORE_STATUS_READY, StatusSequence(5, 5), 1),
                   0)});
    Row row = Read(live_schema_);
    EXPECT_EQ(row.generation, 1);
    EXPECT_EQ(row.observed_generation, 1);
    EXPECT_EQ(row.condition_state, "in_sync");
    EXPECT_EQ(row.View()["condition"],
              nlohmann::json({{"state", "in_sync"}, {"message", "converged to generation 1"}}));
    EXPECT_EQ(row.View()["desired_etag"], "\"g1\"");
    EXPECT_EQ(row.View()["desired"], nlohmann::json({{"plan", "small"},
                                                     {"suspended", false},
                                                     {"admin_email", "admin@example.com"},
                                                     {"chart_version", nullptr}}));
    EXPECT_TRUE(row.View()["chart_version"].is_null()) << "events that name no chart version";

    // A change: the store keeps serving (ready) and converges to generation 2.
    Apply(live_,
          {Message(ChangeRequested(EventId(3), kT0 + 20, 2, "medium", true, {"plan", "suspended"}),
                   9)});
    row = Read(live_schema_);
    EXPECT_EQ(row.status, "ready");
    EXPECT_EQ(row.generation, 2);
    EXPECT_EQ(row.plan, "medium");
    EXPECT_TRUE(row.suspended);
    EXPECT_EQ(row.condition_state, "converging");
    EXPECT_EQ(row.condition_message, "converging to generation 2");
    EXPECT_EQ(row.View()["generation"], 2);
    EXPECT_EQ(row.View()["observed_generation"], 1);
    EXPECT_EQ(row.View()["plan"], "medium");
    EXPECT_EQ(row.View()["desired_etag"], "\"g2\"");
    // The timeline says who asked for what; the change log carries the condition.
    auto [step, reason, status_is_null, logged_generation, logged_condition] =
        pool_.WithTransaction([&](pqxx::work& txn) {
            auto e = txn.exec1("select step, reason, status is null from " + live_schema_ +
                               ".store_events where type = 'StoreChangeRequested'");
            auto c = txn.exec1("select generation, condition_state from " + live_schema_ +
                               ".store_changes order by change_id desc limit 1");
            return std::make_tuple(e[0].as<std::string>(), e[1].as<std::string>(), e[2].as<bool>(),
                                   c[0].as<int64_t>(), c[1].as<std::string>());
        });
    EXPECT_EQ(step, "change");
    EXPECT_EQ(reason, "generation 2, requested by ops: plan medium, suspended true");
    EXPECT_TRUE(status_is_null);
    EXPECT_EQ(logged_generation, 2);
    EXPECT_EQ(logged_condition, "converging");

    // It fails: degraded, why.
    auto degraded =
        Converged(EventId(4), kT0 + 30, v1::STORE_STATUS_DEGRADED, StatusSequence(9, 4), 2);
    degraded.mutable_store_status_changed()->set_observed_generation(0);
    degraded.mutable_store_status_changed()->set_reason("quota exceeded: limits.memory");
    Apply(live_, {Message(degraded, 1)});
    row = Read(live_schema_);
    EXPECT_EQ(row.condition_state, "degraded");
    EXPECT_EQ(row.condition_message, "quota exceeded: limits.memory");
    EXPECT_EQ(row.observed_generation, 1);

    // A retry converges it; then drift is reported and not repaired.
    auto drifted =
        Converged(EventId(7), kT0 + 60, v1::STORE_STATUS_SUSPENDED, StatusSequence(12, 6), 2);
    drifted.mutable_store_status_changed()->set_drift("deployment web: replicas 1, want 0");
    Apply(live_, {Message(ChangeRequested(EventId(5), kT0 + 40, 2, "medium", true, {}, true), 12),
                  Message(Converged(EventId(6), kT0 + 50, v1::STORE_STATUS_SUSPENDED,
                                    StatusSequence(12, 5), 2),
                          2)});
    row = Read(live_schema_);
    EXPECT_EQ(row.status, "suspended");
    EXPECT_EQ(row.condition_state, "in_sync");
    EXPECT_EQ(row.condition_message, "converged to generation 2");
    Apply(live_, {Message(drifted, 3)});
    row = Read(live_schema_);
    EXPECT_EQ(row.condition_state, "out_of_sync");
    EXPECT_EQ(row.condition_message, "deployment web: replicas 1, want 0");
}

TEST_F(ReadModelLifecycleTest, TheConditionOfEachState) {
    struct Case {
        const char* status;
        int64_t generation;
        int64_t observed;
        const char* drift;
        const char* state;
        const char* message;
    };
    const std::vector<Case> cases = {
        {"requested", 1, 0, "", "converging", "converging to generation 1"},
        {"provisioning", 2, 1, "", "converging", "converging to generation 2"},
        {"ready", 2, 1, "", "converging", "converging to generation 2"},
        {"ready", 2, 2, "", "in_sync", "converged to generation 2"},
        {"suspended", 3, 3, "", "in_sync", "converged to generation 3"},
        {"ready", 1, 1, "pvc data: 5Gi, want 10Gi", "out_of_sync", "pvc data: 5Gi, want 10Gi"},
        {"failed", 1, 0, "", "degraded", "why"},
        {"degraded", 2, 1, "drift too", "degraded", "why"},
        {"deleting", 1, 1, "", "converging", "deleting the store"},
        {"deleted", 2, 1, "", "in_sync", "deleted"},
    };
    for (const auto& c : cases) {
        auto r = pool_.WithTransaction([&](pqxx::work& txn) {
            return txn.exec_params1("select state, message from " + live_schema_ +
                                        ".store_condition($1, $2, $3, $4, 'why')",
                                    std::string(c.status), c.generation, c.observed,
                                    std::string(c.drift));
        });
        EXPECT_EQ(r[0].as<std::string>(), c.state) << c.status << " " << c.drift;
        EXPECT_EQ(r[1].as<std::string>(), c.message) << c.status << " " << c.drift;
    }
}

TEST_F(ReadModelLifecycleTest, ChangesReadInAnyOrderGiveTheSameReadModel) {
    // The replay check over a store's whole life: live reads it in order, the replay one
    // event per batch from the last to the first; the rows and timelines must match.
    // Chart versions: created on 0.1.1, upgraded to 0.2.0 with the plan change; the suspend's
    // report names none (an older provisioner).
    const std::vector<kafka::ConsumedMessage> events = {
        Message(WithChartVersion(Requested(EventId(1), kT0), "0.1.1"), 5),
        Message(
            StatusChanged(EventId(2), kT0 + 1, v1::STORE_STATUS_PROVISIONING, StatusSequence(5, 1)),
            0),
        Message(WithChartVersion(
                    Converged(EventId(3), kT0 + 2, v1::STORE_STATUS_READY, StatusSequence(5, 5), 1),
                    "0.1.1"),
                1),
        Message(WithChartVersion(ChangeRequested(EventId(4), kT0 + 3, 2, "large", false,
                                                 {"plan", "chart_version"}),
                                 "0.2.0"),
                9),
        Message(WithChartVersion(
                    ChangeRequested(EventId(5), kT0 + 4, 3, "large", true, {"suspended"}), "0.2.0"),
                11),
        Message(WithChartVersion(
                    Converged(EventId(6), kT0 + 5, v1::STORE_STATUS_READY, StatusSequence(9, 5), 2),
                    "0.2.0"),
                2),
        Message(
            Converged(EventId(7), kT0 + 6, v1::STORE_STATUS_SUSPENDED, StatusSequence(11, 5), 3),
            3),
    };
    Apply(live_, events);
    // A pool of its own: a read model prepares its statements, by name, on its pool.
    pg::Pool replay_pool{PgUrl(), 1};
    PgReadModel replay{replay_pool, "lifecycle-replay", replay_schema_};
    replay.Migrate();
    const std::vector<kafka::ConsumedMessage> last_first(events.rbegin(), events.rend());
    for (const auto& event : last_first) Apply(replay, {event});

    auto connection = pool_.Acquire();
    const ReadModelDiff diff = DiffReadModels(*connection, live_schema_, replay_schema_, 10);
    EXPECT_EQ(diff.stores_differing, 0) << (diff.stores.empty() ? "" : diff.stores.front());
    EXPECT_EQ(diff.events_differing, 0) << (diff.events.empty() ? "" : diff.events.front());
    EXPECT_EQ(diff.stores_in_a, 1);
    EXPECT_EQ(diff.events_in_b, 7);
    const Row row = Read(replay_schema_);
    EXPECT_EQ(row.generation, 3);
    EXPECT_EQ(row.observed_generation, 3);
    EXPECT_EQ(row.plan, "large");
    EXPECT_TRUE(row.suspended);
    EXPECT_EQ(row.condition_state, "in_sync");
    EXPECT_EQ(row.View()["chart_version"], "0.2.0");
    EXPECT_EQ(row.View()["desired"]["chart_version"], "0.2.0");
}

TEST_F(ReadModelLifecycleTest, TheChartVersionsInTheRowItsJsonAndTheChangeLog) {
    const auto observed = [&] {
        return pool_.WithTransaction([&](pqxx::work& txn) {
            auto r = txn.exec_params1(
                "select coalesce(desired_chart_version, ''), coalesce(observed_chart_version, ''), "
                "observed_chart_sequence from " +
                    live_schema_ + ".stores where store_id = $1::uuid",
                std::string(kStoreId));
            return std::make_tuple(r[0].as<std::string>(), r[1].as<std::string>(),
                                   r[2].as<int64_t>());
        });
    };
    const auto logged = [&] {
        return pool_.WithTransaction([&](pqxx::work& txn) {
            auto r = txn.exec1(
                "select coalesce(desired_chart_version, ''), coalesce(observed_chart_version, '') "
                "from " +
                live_schema_ + ".store_changes order by change_id desc limit 1");
            return std::make_pair(r[0].as<std::string>(), r[1].as<std::string>());
        });
    };
    Apply(live_, {Message(WithChartVersion(Requested(EventId(1), kT0), "0.1.1"), 5)});
    EXPECT_EQ(observed(), std::make_tuple(std::string("0.1.1"), std::string(), int64_t{0}));
    Row row = Read(live_schema_);
    EXPECT_TRUE(row.View()["chart_version"].is_null()) << "nothing converged yet";
    EXPECT_EQ(row.View()["desired"]["chart_version"], "0.1.1");

    Apply(live_, {Message(WithChartVersion(Converged(EventId(2), kT0 + 1, v1::STORE_STATUS_READY,
                                                     StatusSequence(5, 5), 1),
                                           "0.1.1"),
                          0)});
    EXPECT_EQ(observed(), std::make_tuple(std::string("0.1.1"), std::string("0.1.1"),
                                          static_cast<int64_t>(StatusSequence(5, 5))));
    EXPECT_EQ(Read(live_schema_).View()["chart_version"], "0.1.1");

    // An upgrade under way: asked 0.2.0, still on 0.1.1, in the stream's log too.
    Apply(
        live_,
        {Message(WithChartVersion(
                     ChangeRequested(EventId(3), kT0 + 2, 2, "small", false, {"chart_version"}),
                     "0.2.0"),
                 9),
         Message(WithChartVersion(StatusChanged(EventId(4), kT0 + 3, v1::STORE_STATUS_PROVISIONING,
                                                StatusSequence(9, 1)),
                                  "0.2.0"),
                 1)});
    row = Read(live_schema_);
    EXPECT_EQ(row.View()["chart_version"], "0.1.1");
    EXPECT_EQ(row.View()["desired"]["chart_version"], "0.2.0");
    EXPECT_EQ(logged(), std::make_pair(std::string("0.2.0"), std::string("0.1.1")));

    // Converged, reported by a provisioner that names no version: it keeps the known one.
    Apply(live_,
          {Message(Converged(EventId(5), kT0 + 4, v1::STORE_STATUS_READY, StatusSequence(9, 5), 2),
                   2)});
    EXPECT_EQ(std::get<1>(observed()), "0.1.1");
    Apply(live_, {Message(WithChartVersion(Converged(EventId(6), kT0 + 5, v1::STORE_STATUS_READY,
                                                     StatusSequence(9, 6), 2),
                                           "0.2.0"),
                          3)});
    row = Read(live_schema_);
    EXPECT_EQ(row.View()["chart_version"], "0.2.0");
    EXPECT_EQ(logged(), std::make_pair(std::string("0.2.0"), std::string("0.2.0")));
}

}  // namespace
}  // namespace storefleet::projector
