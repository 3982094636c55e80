// Case 5: the projector killed -9 while it applies 20 stores' events, then intake killed -9
// under a stream of creates retried with an Idempotency-Key: nothing lost, no store twice, no
// read-model row applied twice.
#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "cases.hpp"
#include "fixture.hpp"
#include "storefleet/test_support/scope_exit.hpp"

namespace storefleet::faults {

using test_support::ScopeExit;

void ProjectorAndIntakeKilledMidStream() {
    // The projector, killed -9 while it applies the events of 20 stores.
    std::vector<std::string> ids;
    DeleteAtEnd cleanup(ids);
    for (int i = 0; i < 20; ++i) {
        auto reply = TheApi().CreateStore("f5a-" + kRun + "-" + std::to_string(i));
        ASSERT_EQ(reply.code, 202) << reply.body.dump();
        ids.push_back(reply.body.value("id", ""));
    }
    ScopeExit restore_projector([] { Platform("start projector"); });
    ScopeExit restore_intake([] { Platform("start intake"); });
    PollUntil([&] { return Status(TheApi().GetStore(ids.front()).body) == "provisioning"; },
              std::chrono::seconds(30));
    auto killed = Platform("kill projector -9");
    ASSERT_EQ(killed.rc, 0) << killed.output;
    const auto restart_start = Clock::now();
    auto restarted = Platform("start projector");
    ASSERT_EQ(restarted.rc, 0) << restarted.output;
    Figure("case 5 projector restart took", Seconds(Clock::now() - restart_start), "s");
    std::map<std::string, std::set<std::string>> want;
    for (const auto& id : ids) want[id] = {"ready"};
    auto last = WaitForStores(want, std::chrono::seconds(120));
    Figure("case 5 projector killed -> all 20 Ready in the read model",
           Seconds(Clock::now() - restart_start), "s");
    for (const auto& id : ids) {
        if (Status(last[id]) != "ready") {
            STORE_FAILURE("stores not Ready") << id << " " << last[id].dump();
        }
        auto timeline = CheckTimeline(id);
        if (timeline.duplicates != 0) {
            STORE_FAILURE("duplicate timeline events") << id;
        }
        if (timeline.statuses["ready"] > 1) {
            STORE_FAILURE("Ready more than once") << id;
        }
    }

    // Intake, killed -9 under a stream of creates. Every create carries an Idempotency-Key
    // and is retried with it until it gets its 202, as a client would.
    std::atomic<bool> stop{false};
    std::mutex mutex;
    std::map<std::string, std::string> accepted;  // name -> id
    std::map<long, int> codes;
    std::thread client([&] {
        for (int i = 0; !stop.load(); ++i) {
            const std::string name = "f5b-" + kRun + "-" + std::to_string(i);
            const auto until = Clock::now() + std::chrono::seconds(60);
            while (Clock::now() < until) {
                auto reply = TheApi().CreateStore(name, "woocommerce", "faults-" + name);
                {
                    std::lock_guard lock(mutex);
                    ++codes[reply.code];
                }
                if (reply.code == 202) {
                    std::lock_guard lock(mutex);
                    accepted[name] = reply.body.value("id", "");
                    break;
                }
                // client retry pacing
                std::this_thread::sleep_for(std::chrono::milliseconds(100));
            }
            std::this_thread::sleep_for(
                std::chrono::milliseconds(100));  // load pacing: ~10 creates/s
        }
    });
    auto count = [&] {
        std::lock_guard lock(mutex);
        return accepted.size();
    };
    PollUntil([&] { return count() >= 5; }, std::chrono::seconds(30));
    auto intake_killed = Platform("kill intake -9");
    EXPECT_EQ(intake_killed.rc, 0) << intake_killed.output;
    const auto intake_down = Clock::now();
    auto intake_up = Platform("start intake");
    EXPECT_EQ(intake_up.rc, 0) << intake_up.output;
    const std::size_t at_restart = count();
    PollUntil([&] { return count() >= at_restart + 5; }, std::chrono::seconds(30));
    Figure("case 5 intake killed -> accepting again", Seconds(Clock::now() - intake_down), "s");
    stop = true;
    client.join();
    std::string code_list;
    for (const auto& [code, n] : codes)
        code_list += std::to_string(code) + ":" + std::to_string(n) + " ";
    Figure("case 5 intake create answers (code:count, retries included)", code_list);

    want.clear();
    for (const auto& [name, id] : accepted) {
        want[id] = {"ready"};
        ids.push_back(id);
    }
    last = WaitForStores(want, std::chrono::seconds(120));
    int lost = 0;
    for (const auto& [name, id] : accepted) {
        if (Status(last[id]) != "ready") {
            ++lost;
            STORE_FAILURE("accepted stores not Ready")
                << "store " << name << " (" << id
                << ") accepted but not Ready: " << last[id].dump();
        }
        auto timeline = CheckTimeline(id);
        if (timeline.duplicates != 0) {
            STORE_FAILURE("duplicate timeline events") << id;
        }
        if (timeline.statuses["requested"] != 1) {
            STORE_FAILURE("requested not exactly once")
                << name << " requested " << timeline.statuses["requested"] << " times";
        }
    }
    // No store twice: one row per name in the read model.
    pqxx::connection db(Env("STOREFLEET_PG_URL"));
    pqxx::work txn(db);
    auto twice = txn.exec_params(
        "select name, count(*) from read.stores where name like $1 group by name having count(*) > "
        "1",
        "f5b-" + kRun + "-%");
    for (const auto& row : twice)
        ADD_FAILURE() << "store name " << row[0].c_str() << " appears " << row[1].c_str()
                      << " times";
    txn.commit();
    const int doubled_rows = DoubleAppliedRows();
    EXPECT_EQ(doubled_rows, 0) << "read.store_events rows applied twice (same store and sequence)";
    Figure("case 5 intake stream stores accepted / lost / doubled",
           std::to_string(accepted.size()) + " / " + std::to_string(lost) + " / " +
               std::to_string(twice.size()));
    Figure("case 5 read-model rows applied twice (whole read model)", std::to_string(doubled_rows));
}

}  // namespace storefleet::faults
