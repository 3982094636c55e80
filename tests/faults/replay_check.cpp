#include "replay_check.hpp"

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include <iostream>
#include <map>
#include <set>
#include <string>

#include "fixture.hpp"
#include "storefleet/test_support/scope_exit.hpp"

namespace storefleet::faults {

using test_support::ScopeExit;

void ExpectHandedOverStoresDeleted() {
    std::map<std::string, std::set<std::string>> cleaned;
    const HandedOver handed_over = HandedOverStores();
    for (const auto& id : handed_over.ids) cleaned[id] = {"deleted"};
    Figure("suite DELETEs of finished stores refused", std::to_string(handed_over.refused));
    const auto cleanup_start = Clock::now();
    auto cleaned_last = WaitForStores(cleaned, std::chrono::seconds(180));
    // A deletion that failed (say, Helm could not reach the API server while case 3 had it
    // stopped) breaks "transient faults are retried"; it is reported, then sent again as a
    // user would (DELETE on a failed deletion sends it again) and must then end deleted.
    std::map<std::string, std::set<std::string>> resent;
    int not_deleted = 0;
    for (const auto& [id, statuses] : cleaned) {
        const json& store = cleaned_last[id];
        if (Status(store) == "deleted") continue;
        ++not_deleted;
        const std::string reason = store.is_object() && store["reason"].is_string()
                                       ? store["reason"].get<std::string>()
                                       : "";
        {
            STORE_FAILURE("deletions that did not end deleted")
                << "store " << store.value("name", id) << " (" << id << ") deletion ended "
                << Status(store) << " [" << store.value("step", "") << "]: " << reason;
        }
        if (Status(store) == "failed" && TheApi().DeleteStore(id).code == 202)
            resent[id] = {"deleted"};
    }
    Figure("suite stores deleted on the way out / not deleted (failed or stuck)",
           std::to_string(cleaned.size()) + " / " + std::to_string(not_deleted));
    if (!resent.empty()) {
        auto after = WaitForStores(resent, std::chrono::seconds(120));
        int deleted_after = 0;
        for (const auto& [id, statuses] : resent)
            deleted_after += Status(after[id]) == "deleted" ? 1 : 0;
        Figure("suite failed deletions sent again / then deleted",
               std::to_string(resent.size()) + " / " + std::to_string(deleted_after));
        EXPECT_EQ(deleted_after, static_cast<int>(resent.size()))
            << "a failed deletion sent again did not end deleted";
    }
    Figure("case 4 waited for the suite's deletions to finish",
           Seconds(Clock::now() - cleanup_start), "s");
}

void ExpectReadModelEqualsAFreshReplay() {
    // The replay: a second projector, fresh group, fresh schema, from offset 0 of both topics;
    // storefleet-read-model-diff must find it equal to the live read model, row for row.
    const std::string schema = "faults_replay_" + kRun;
    const std::string group = "faults-replay-" + kRun;
    const std::string projector =
        Env("STOREFLEET_BUILD_DIR") + "/services/projector/storefleet-projector";
    const std::string log = StateDir() + "/platform/" + group + ".log";
    auto launched =
        RunShell("env -u STOREFLEET_KAFKA_INSTANCE_ID STOREFLEET_KAFKA_GROUP=" + group +
                 " STOREFLEET_READ_SCHEMA=" + schema + " STOREFLEET_HTTP_PORT=0 nohup " +
                 projector + " >" + log + " 2>&1 </dev/null & echo $!");
    const std::string pid = launched.output.substr(0, launched.output.find_first_of("\r\n"));
    ASSERT_FALSE(pid.empty());
    ScopeExit stop_replay([&] {
        RunShell("kill -TERM " + pid);
        try {
            pqxx::connection db(Env("STOREFLEET_PG_URL"));
            pqxx::work txn(db);
            txn.exec("drop schema if exists " + schema + " cascade");
            txn.commit();
        } catch (const std::exception&) {
        }
    });
    const auto replay_start = Clock::now();
    // The replay projector creates its schema (migrations) at start; the diff needs it.
    const bool schema_ready = PollUntil(
        [&] {
            try {
                pqxx::connection db(Env("STOREFLEET_PG_URL"));
                pqxx::work txn(db);
                auto row = txn.exec_params("select to_regclass($1) is not null",
                                           schema + ".consumer_offsets");
                return row[0][0].as<bool>();
            } catch (const std::exception&) {
                return false;
            }
        },
        std::chrono::seconds(60));
    ASSERT_TRUE(schema_ready) << "the replay projector did not create schema " << schema << "; see "
                              << log;
    const std::string diff_bin =
        Env("STOREFLEET_DIFF_BIN",
            Env("STOREFLEET_BUILD_DIR") + "/services/projector/storefleet-read-model-diff");
    auto diff = RunShell(diff_bin + " --wait 150 --max-lines 40 read " + schema);
    Figure("case 4 fresh replay -> equal to the live read model (diff exit " +
               std::to_string(diff.rc) + ")",
           Seconds(Clock::now() - replay_start), "s");
    std::cout << "[case 4] storefleet-read-model-diff read " << schema << ":\n"
              << diff.output.substr(0, 4000) << "\n";
    EXPECT_EQ(diff.rc, 0)
        << "the live read model differs from a fresh replay (exit 1: rows differ; 3: offsets "
           "never matched; 2: usage/connection); projector log "
        << log;
}

void CheckTheSuiteEnd() {
    ExpectHandedOverStoresDeleted();
    ExpectReadModelEqualsAFreshReplay();
}

}  // namespace storefleet::faults
