// Fleet rollouts (decision 13) on the real Postgres of the local stack: intake's Rollouts in
// process, the stores' converged or failed generations reported as the lifecycle consumer
// reports them (ApplyStoreStatus), the commands read back from the outbox. Each test rolls the
// stores of a tenant of its own from a version of its own ("0.0.1-<random>") to the medusa
// chart's real default, so another intake on the same database (the platform's, which steps
// rollouts too) sees nothing strange in intake.chart_defaults.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "intake_store.hpp"
#include "rollouts.hpp"
#include "storefleet/common/ids.hpp"
#include "storefleet/events/envelope.hpp"
#include "storefleet/test_support/env.hpp"

namespace storefleet::intake {
namespace {

using test_support::RequireEnv;

class IntakeRolloutsTest : public ::testing::Test {
protected:
    void SetUp() override {
        store_.Migrate();
        tenant_ = "rollout-" + RandomHex(4);
        store_.SeedTenant(tenant_, RandomHex(16), 1000);
        from_ = "0.0.1-" + RandomHex(3);
        target_ = charts_.DefaultVersion("medusa");
        ASSERT_FALSE(target_.empty());
        store_.SetChartDefaults({{"medusa", from_}});
    }
    void TearDown() override {
        pool_.WithTransaction([&](pqxx::work& txn) {
            // Keep this test's commands out of a relay's way, and its rollouts out of the next.
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

    std::vector<std::string> CreateStores(int count) {
        std::vector<std::string> ids;
        for (int i = 0; i < count; ++i) {
            auto created = store_.CreateStore(
                {tenant_, ""},
                {"s" + std::to_string(i) + "-" + RandomHex(2), "medusa", "small", "", "any"},
                "k-" + RandomHex(6), "c");
            EXPECT_TRUE(created.ok()) << created.error().message;
            ids.push_back(created->body["id"]);
        }
        return ids;
    }
    std::string Start(const std::string& strategy, const std::string& on_halt = "rollback") {
        auto request = ParseRolloutRequest(
            R"({"engine":"medusa","target_version":")" + target_ + R"(","selector":{"tenants":[")" +
                tenant_ + R"("]},"strategy":)" + strategy + R"(,"on_halt":")" + on_halt + R"("})",
            charts_);
        EXPECT_TRUE(request.ok()) << request.error().message;
        auto created = rollouts_.Create(*request, "token:test");
        EXPECT_TRUE(created.ok()) << created.error().message;
        return created.ok() ? (*created)["id"].get<std::string>() : "";
    }
    nlohmann::json Show(const std::string& id) {
        auto shown = rollouts_.Get(id);
        EXPECT_TRUE(shown.ok());
        return shown.ok() ? *shown : nlohmann::json();
    }
    // store id -> (state, generation) of the rollout's stores.
    std::map<std::string, std::pair<std::string, int64_t>> States(const std::string& id) {
        std::map<std::string, std::pair<std::string, int64_t>> states;
        pool_.WithTransaction([&](pqxx::work& txn) {
            for (const auto& row :
                 txn.exec_params("select store_id::text, state, coalesce(generation, 0) from "
                                 "intake.rollout_stores where rollout_id = $1::uuid",
                                 id)) {
                states[row[0].as<std::string>()] = {row[1].as<std::string>(), row[2].as<int64_t>()};
            }
        });
        return states;
    }
    // The provisioner's word for every store under way: converged (or failed) at its
    // generation, with a sequence that grows as a provisioner's does.
    void Report(const std::string& id, v1::StoreStatus status) {
        for (const auto& [store_id, state] : States(id)) {
            if (state.first != "upgrading" && state.first != "rolling_back") continue;
            const auto generation = static_cast<uint64_t>(state.second);
            ASSERT_TRUE(store_
                            .ApplyStoreStatus({store_id, status, "ready", generation,
                                               status == v1::STORE_STATUS_READY ? generation : 0,
                                               ++sequence_})
                            .ok());
        }
    }
    // The StoreChangeRequested of a store that change its chart version, in the outbox.
    std::vector<std::string> ChartCommands(const std::string& store_id) {
        std::vector<std::string> versions;
        pool_.WithTransaction([&](pqxx::work& txn) {
            for (const auto& row : txn.exec_params(
                     "select payload from intake.outbox where key = $1 order by id", store_id)) {
                auto envelope = events::Decode(pqxx::binarystring(row[0]).str());
                if (!envelope.ok() || !envelope->has_store_change_requested()) continue;
                const auto& change = envelope->store_change_requested();
                if (std::find(change.changed().begin(), change.changed().end(), "chart_version") !=
                    change.changed().end()) {
                    versions.push_back(change.desired().chart_version());
                }
            }
        });
        return versions;
    }
    // Time passes for the chart defaults a canary set (the database's clock): the rollout
    // no longer waits for replicas that might not have seen them (kDefaultsSettleSeconds).
    void LetTheDefaultsSettle() {
        pool_.WithTransaction([&](pqxx::work& txn) {
            txn.exec(
                "update intake.chart_defaults set updated_at = now() - interval '1 minute' "
                "where engine = 'medusa'");
        });
    }
    int Upgrading(const std::string& id) {
        int n = 0;
        for (const auto& [_, state] : States(id)) n += state.first == "upgrading" ? 1 : 0;
        return n;
    }

    pg::Pool pool_{RequireEnv("STOREFLEET_PG_URL"), 4};
    IntakeStore store_{pool_, "stores.test"};
    events::ChartCatalogue charts_ = *events::ChartCatalogue::Load(STOREFLEET_CHART_CATALOGUE);
    Rollouts rollouts_{pool_, charts_};
    std::string tenant_, from_, target_;
    uint64_t sequence_ = uint64_t{1} << 40;
};

TEST_F(IntakeRolloutsTest, EveryStoreIsUpgradedOnceWaveByWaveWithinTheInFlightBound) {
    const auto stores = CreateStores(20);
    const auto id = Start(R"({"canary":2,"waves":[50,100],"max_in_flight":3})");
    auto shown = Show(id);
    EXPECT_EQ(shown["stores"], 20);
    EXPECT_EQ(shown["waves"], 3);
    EXPECT_EQ(shown["previous_version"].get<std::string>().empty(), false);
    // The canary alone first.
    rollouts_.Advance();
    EXPECT_EQ(Upgrading(id), 2);
    rollouts_.Advance();
    EXPECT_EQ(Upgrading(id), 2) << "nothing more while the canary is under way";
    std::vector<int> started_waves;
    for (int step = 0; step < 100 && Show(id)["state"] == "running"; ++step) {
        EXPECT_LE(Upgrading(id), 3) << "the in-flight bound";
        for (const auto& [store_id, state] : States(id)) {
            if (state.first == "upgrading") started_waves.push_back(Show(id)["wave"].get<int>());
        }
        Report(id, v1::STORE_STATUS_READY);
        LetTheDefaultsSettle();
        rollouts_.Advance();
    }
    shown = Show(id);
    EXPECT_EQ(shown["state"], "done") << shown.dump();
    EXPECT_EQ(shown["counts"]["upgraded"], 20) << shown.dump();
    EXPECT_TRUE(shown["canary_passed"].get<bool>());
    EXPECT_TRUE(std::is_sorted(started_waves.begin(), started_waves.end())) << "waves in order";
    for (const auto& store_id : stores) {
        EXPECT_EQ(ChartCommands(store_id), std::vector<std::string>{target_})
            << store_id << " upgraded exactly once";
    }
    EXPECT_EQ(rollouts_.ChartDefaults().at("medusa"), target_) << "new stores get the target";
}

TEST_F(IntakeRolloutsTest, AFailedCanaryHaltsRollsTheCanaryBackAndTouchesNoOtherStore) {
    const auto stores = CreateStores(6);
    const auto id = Start(R"({"canary":2,"waves":[100],"max_in_flight":5})");
    rollouts_.Advance();
    ASSERT_EQ(Upgrading(id), 2);
    Report(id, v1::STORE_STATUS_FAILED);
    rollouts_.Advance();
    auto shown = Show(id);
    EXPECT_EQ(shown["state"], "halted") << shown.dump();
    EXPECT_NE(shown["reason"].get<std::string>().find("2 of 2 stores of wave 0 failed"),
              std::string::npos)
        << shown.dump();
    EXPECT_EQ(shown["counts"]["rolling_back"], 2) << shown.dump();
    EXPECT_EQ(shown["counts"]["pending"], 4);
    Report(id, v1::STORE_STATUS_READY);
    rollouts_.Advance();
    shown = Show(id);
    EXPECT_EQ(shown["counts"]["rolled_back"], 2) << shown.dump();
    EXPECT_EQ(shown["state"], "halted");
    int rolled = 0, untouched = 0;
    for (const auto& store_id : stores) {
        const auto commands = ChartCommands(store_id);
        if (commands.empty()) {
            ++untouched;
        } else {
            EXPECT_EQ(commands, (std::vector<std::string>{target_, from_})) << store_id;
            ++rolled;
        }
    }
    EXPECT_EQ(rolled, 2);
    EXPECT_EQ(untouched, 4);
}

// Data-safe upgrades: rolling medusa stores to a released version that migrates data.
class IntakeDataSafeRolloutsTest : public IntakeRolloutsTest {
protected:
    void SetUp() override {
        IntakeRolloutsTest::SetUp();
        const auto* migrating = charts_.Find("medusa", "0.2.0");
        ASSERT_TRUE(migrating != nullptr && migrating->migrates_data)
            << "the catalogue has no medusa-store 0.2.0 that migrates data";
        target_ = "0.2.0";
    }
    // The kinds of the store's commands in the outbox, in order: "backup <id>", "restore
    // <backup id>", "chart <version>".
    std::vector<std::string> Commands(const std::string& store_id) {
        std::vector<std::string> kinds;
        pool_.WithTransaction([&](pqxx::work& txn) {
            for (const auto& row : txn.exec_params(
                     "select payload from intake.outbox where key = $1 order by id", store_id)) {
                auto envelope = events::Decode(pqxx::binarystring(row[0]).str());
                if (!envelope.ok()) continue;
                if (envelope->has_store_backup_requested()) {
                    kinds.push_back("backup " + envelope->store_backup_requested().backup_id());
                } else if (envelope->has_store_restore_requested()) {
                    kinds.push_back("restore " + envelope->store_restore_requested().backup_id());
                } else if (envelope->has_store_change_requested()) {
                    kinds.push_back("chart " +
                                    envelope->store_change_requested().desired().chart_version());
                }
            }
        });
        return kinds;
    }
    std::string Column(const std::string& id, const std::string& store_id,
                       const std::string& column) {
        std::string value;
        pool_.WithTransaction([&](pqxx::work& txn) {
            value = txn.exec_params("select coalesce(" + column +
                                        "::text, '') from intake.rollout_stores where "
                                        "rollout_id = $1::uuid and store_id = $2::uuid",
                                    id, store_id)[0][0]
                        .as<std::string>();
        });
        return value;
    }
    void DataReport(const std::string& store_id, const std::string& operation,
                    const std::string& operation_id, const std::string& state) {
        ASSERT_TRUE(store_
                        .ApplyDataStatus(
                            store_id, {operation, operation_id, state,
                                       state == "failed" ? "the dump failed" : "", 1024, 10, false})
                        .ok());
    }
    void Converged(const std::string& id, const std::string& store_id, v1::StoreStatus status) {
        const auto generation = static_cast<uint64_t>(States(id)[store_id].second);
        ASSERT_GT(generation, 0U);
        ASSERT_TRUE(
            store_
                .ApplyStoreStatus({store_id, status, "ready", generation,
                                   status == v1::STORE_STATUS_READY ? generation : 0, ++sequence_})
                .ok());
    }
};

TEST_F(IntakeDataSafeRolloutsTest, EachStoreIsBackedUpBeforeItsUpgradeAndRestoredWhenRolledBack) {
    const auto stores = CreateStores(2);
    const auto id = Start(R"({"canary":0,"waves":[100],"max_in_flight":5,"max_failed":1})");
    EXPECT_TRUE(Show(id)["migrates_data"].get<bool>());
    rollouts_.Advance();
    // Both upgrades start with a backup; no chart change is sent before it completed.
    for (const auto& store_id : stores) {
        EXPECT_EQ(States(id)[store_id].first, "upgrading");
        const auto backup = Column(id, store_id, "backup_id");
        ASSERT_FALSE(backup.empty());
        EXPECT_EQ(Commands(store_id), std::vector<std::string>{"backup " + backup});
    }
    const std::string& a = stores[0];
    const std::string& b = stores[1];
    const auto backup_a = Column(id, a, "backup_id"), backup_b = Column(id, b, "backup_id");
    DataReport(a, "backup", backup_a, "completed");
    rollouts_.Advance();
    EXPECT_EQ(Commands(a), (std::vector<std::string>{"backup " + backup_a, "chart 0.2.0"}));
    EXPECT_EQ(Commands(b), std::vector<std::string>{"backup " + backup_b})
        << "b: not backed up yet";
    DataReport(b, "backup", backup_b, "completed");
    rollouts_.Advance();
    EXPECT_EQ(Commands(b), (std::vector<std::string>{"backup " + backup_b, "chart 0.2.0"}));

    // a converges; b fails its gate: the rollout halts and rolls b back, then restores its data.
    Converged(id, a, v1::STORE_STATUS_READY);
    Converged(id, b, v1::STORE_STATUS_FAILED);
    rollouts_.Advance();
    EXPECT_EQ(Show(id)["state"], "halted");
    EXPECT_EQ(States(id)[a].first, "upgraded");
    EXPECT_EQ(States(id)[b].first, "rolling_back");
    EXPECT_EQ(Commands(b),
              (std::vector<std::string>{"backup " + backup_b, "chart 0.2.0", "chart " + from_}));
    Converged(id, b, v1::STORE_STATUS_READY);  // the release is back on the old version
    rollouts_.Advance();
    EXPECT_EQ(States(id)[b].first, "rolling_back") << "not rolled back before its data is";
    EXPECT_EQ(Commands(b), (std::vector<std::string>{"backup " + backup_b, "chart 0.2.0",
                                                     "chart " + from_, "restore " + backup_b}));
    const auto restore_b = Column(id, b, "restore_id");
    ASSERT_FALSE(restore_b.empty());
    rollouts_.Advance();
    EXPECT_EQ(Commands(b).size(), 4U) << "the restore is asked for once";
    DataReport(b, "restore", restore_b, "completed");
    rollouts_.Advance();
    auto shown = Show(id);
    EXPECT_EQ(shown["counts"]["rolled_back"], 1) << shown.dump();
    EXPECT_EQ(shown["counts"]["upgraded"], 1) << shown.dump();
    ASSERT_EQ(shown["failures"].size(), 1U) << shown.dump();
    EXPECT_NE(shown["failures"][0]["reason"].get<std::string>().find("what was written after"),
              std::string::npos)
        << shown.dump();
    EXPECT_EQ(Commands(a), (std::vector<std::string>{"backup " + backup_a, "chart 0.2.0"}))
        << "a upgraded: no rollback, no restore";
}

TEST_F(IntakeDataSafeRolloutsTest, AFailedBackupFailsItsStoreWhichIsNeverUpgraded) {
    const auto stores = CreateStores(1);
    const auto id = Start(R"({"canary":0,"waves":[100],"max_in_flight":5,"max_failed":1})");
    rollouts_.Advance();
    const auto backup = Column(id, stores[0], "backup_id");
    ASSERT_FALSE(backup.empty());
    DataReport(stores[0], "backup", backup, "failed");
    rollouts_.Advance();
    EXPECT_EQ(States(id)[stores[0]].first, "failed");
    EXPECT_EQ(Commands(stores[0]), std::vector<std::string>{"backup " + backup})
        << "no chart change after a failed backup, no rollback either";
    auto shown = Show(id);
    ASSERT_EQ(shown["failures"].size(), 1U) << shown.dump();
    EXPECT_NE(shown["failures"][0]["reason"].get<std::string>().find(
                  "the backup before the upgrade failed"),
              std::string::npos)
        << shown.dump();
}

TEST_F(IntakeRolloutsTest, ACanaryStoreThatFailsAfterTheHaltIsRolledBackToo) {
    CreateStores(4);
    const auto id = Start(R"({"canary":2,"waves":[100],"max_in_flight":5})");
    rollouts_.Advance();
    auto states = States(id);
    std::vector<std::string> canary;
    for (const auto& [store_id, state] : states) {
        if (state.first == "upgrading") canary.push_back(store_id);
    }
    ASSERT_EQ(canary.size(), 2U);
    // The first canary store fails; the second is still under way when the rollout halts.
    ASSERT_TRUE(
        store_
            .ApplyStoreStatus({canary[0], v1::STORE_STATUS_FAILED, "failed",
                               static_cast<uint64_t>(states[canary[0]].second), 0, ++sequence_})
            .ok());
    rollouts_.Advance();
    ASSERT_EQ(Show(id)["state"], "halted");
    EXPECT_EQ(States(id)[canary[0]].first, "rolling_back");
    EXPECT_EQ(States(id)[canary[1]].first, "upgrading");
    // Then it fails too: the halted rollout rolls it back as well, once.
    ASSERT_TRUE(
        store_
            .ApplyStoreStatus({canary[1], v1::STORE_STATUS_FAILED, "failed",
                               static_cast<uint64_t>(states[canary[1]].second), 0, ++sequence_})
            .ok());
    rollouts_.Advance();
    EXPECT_EQ(States(id)[canary[1]].first, "rolling_back") << Show(id).dump();
    Report(id, v1::STORE_STATUS_READY);
    rollouts_.Advance();
    rollouts_.Advance();
    const auto shown = Show(id);
    EXPECT_EQ(shown["counts"]["rolled_back"], 2) << shown.dump();
    EXPECT_EQ(shown["counts"]["pending"], 2) << shown.dump();
    EXPECT_EQ(shown["state"], "halted");
    for (const auto& store_id : canary)
        EXPECT_EQ(ChartCommands(store_id), (std::vector<std::string>{target_, from_})) << store_id;
}

TEST_F(IntakeRolloutsTest, OneRolloutPerEngineAndPauseResumeAbortFollowTheirStates) {
    CreateStores(3);
    const auto id = Start(R"({"canary":1,"waves":[100],"max_in_flight":1})");
    auto request = ParseRolloutRequest(
        R"({"engine":"medusa","target_version":")" + target_ + R"("})", charts_);
    ASSERT_TRUE(request.ok());
    auto second = rollouts_.Create(*request, "token:test");
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.error().code, "conflict");
    EXPECT_NE(second.error().message.find(id), std::string::npos);

    ASSERT_TRUE(rollouts_.Act(id, "pause", "token:test").ok());
    rollouts_.Advance();
    EXPECT_EQ(Upgrading(id), 0) << "a paused rollout starts nothing";
    EXPECT_EQ(rollouts_.Act(id, "pause", "token:test").error().code, "conflict");
    ASSERT_TRUE(rollouts_.Act(id, "resume", "token:test").ok());
    rollouts_.Advance();
    EXPECT_EQ(Upgrading(id), 1);
    ASSERT_TRUE(rollouts_.Act(id, "abort", "token:test").ok());
    Report(id, v1::STORE_STATUS_READY);
    rollouts_.Advance();
    auto shown = Show(id);
    EXPECT_EQ(shown["state"], "aborted");
    EXPECT_EQ(shown["counts"]["upgraded"], 1) << "what was under way finished";
    EXPECT_EQ(shown["counts"]["pending"], 2) << "nothing new started";
    EXPECT_EQ(rollouts_.Act(id, "resume", "token:test").error().code, "conflict");
    EXPECT_EQ(rollouts_.Get(NewUuid()).error().code, "not_found");
}

TEST_F(IntakeRolloutsTest, AStoreNotReadyInTimeFailsItsGateAndAResumeGoesOnWithTheOthers) {
    CreateStores(4);
    const auto id = Start(R"({"canary":0,"waves":[100],"max_in_flight":2,"max_failed":2,)"
                          R"("ready_within_seconds":10})",
                          "pause");
    rollouts_.Advance();
    ASSERT_EQ(Upgrading(id), 2);
    // Time passes (the gate's clock is the database's).
    pool_.WithTransaction([&](pqxx::work& txn) {
        txn.exec_params(
            "update intake.rollout_stores set started_at = now() - interval '1 minute' "
            "where rollout_id = $1::uuid and state = 'upgrading'",
            id);
    });
    rollouts_.Advance();
    auto shown = Show(id);
    EXPECT_EQ(shown["counts"]["failed"], 2) << shown.dump();
    EXPECT_EQ(shown["state"], "halted");
    EXPECT_EQ(shown["failures"][0]["reason"], "not Ready within 10 s");
    EXPECT_EQ(shown["counts"]["rolling_back"], 0) << "on_halt pause rolls nothing back";
    // The admin saw the two failures and resumes: the failures before the resume do not halt
    // it again; the other two stores are upgraded.
    ASSERT_TRUE(rollouts_.Act(id, "resume", "token:test").ok());
    rollouts_.Advance();
    EXPECT_EQ(Upgrading(id), 2) << Show(id).dump();
    Report(id, v1::STORE_STATUS_READY);
    rollouts_.Advance();  // the first wave passed: new stores get the target from now on
    LetTheDefaultsSettle();
    rollouts_.Advance();
    shown = Show(id);
    EXPECT_EQ(shown["state"], "done") << shown.dump();
    EXPECT_EQ(shown["counts"]["upgraded"], 2);
    EXPECT_EQ(shown["counts"]["failed"], 2);
}

TEST_F(IntakeRolloutsTest, AStoreCreatedWithThePreviousVersionAfterTheCanaryJoinsTheRollout) {
    CreateStores(2);
    const auto id = Start(R"({"canary":1,"waves":[100],"max_in_flight":2})");
    for (int step = 0; step < 10 && Show(id)["counts"]["upgraded"] != 2; ++step) {
        rollouts_.Advance();
        Report(id, v1::STORE_STATUS_READY);
    }
    rollouts_.Advance();
    auto shown = Show(id);
    ASSERT_EQ(shown["counts"]["upgraded"], 2) << shown.dump();
    EXPECT_TRUE(shown["canary_passed"].get<bool>());
    EXPECT_EQ(shown["state"], "running")
        << "every wave is done, but a replica may not have seen the new default yet";
    // A replica that has not stepped since the canary passed still creates with the
    // previous version (this IntakeStore's defaults were never updated): the store joins.
    const auto late = CreateStores(1);
    LetTheDefaultsSettle();
    rollouts_.Advance();
    shown = Show(id);
    EXPECT_EQ(shown["stores"], 3) << shown.dump();
    EXPECT_EQ(shown["waves"], 3) << "the late store is one more wave";
    Report(id, v1::STORE_STATUS_READY);
    rollouts_.Advance();
    Report(id, v1::STORE_STATUS_READY);
    rollouts_.Advance();
    shown = Show(id);
    EXPECT_EQ(shown["state"], "done") << shown.dump();
    EXPECT_EQ(shown["counts"]["upgraded"], 3) << shown.dump();
    EXPECT_EQ(ChartCommands(late[0]), std::vector<std::string>{target_});
}

TEST_F(IntakeRolloutsTest, TheDefaultsAreHandedOverOnlyWhenTheyChangeOnAnyReplica) {
    std::vector<Rollouts::Defaults> handed;
    rollouts_.OnChartDefaultsChanged(
        [&handed](Rollouts::Defaults defaults) { handed.push_back(std::move(defaults)); });
    rollouts_.Advance();
    ASSERT_EQ(handed.size(), 1U) << "the first step hands them over";
    ASSERT_EQ(handed[0].count("medusa"), 1U);
    const auto recorded = handed[0].at("medusa");
    rollouts_.Advance();
    rollouts_.Advance();
    EXPECT_EQ(handed.size(), 1U) << "nothing changed, nothing handed over";
    // Another replica's rollout passes its canary and records a new default for medusa (one
    // this catalogue lacks, so the catalogue's default stands in for it).
    auto set_default = [&](const std::string& version) {
        pool_.WithTransaction([&](pqxx::work& txn) {
            txn.exec_params(
                "update intake.chart_defaults set version = $1, updated_at = now() where "
                "engine = 'medusa'",
                version);
        });
    };
    set_default("0.0.2-" + RandomHex(3));
    rollouts_.Advance();
    set_default(recorded);  // put back before any assertion can return
    ASSERT_EQ(handed.size(), 2U) << "a change made elsewhere is seen at the next step";
    EXPECT_EQ(handed[1].at("medusa"), charts_.DefaultVersion("medusa"));
    rollouts_.Advance();
    ASSERT_EQ(handed.size(), 3U);
    EXPECT_EQ(handed[2].at("medusa"), recorded);
}

}  // namespace
}  // namespace storefleet::intake
