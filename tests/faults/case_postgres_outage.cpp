// Case 4: Postgres stopped for 10 s under a stream of creates sent straight to intake: 503 with
// Retry-After while it is down, accepting again once it is back, and every accepted store
// Ready. It is the suite's last case: the suite-end check (replay_check.hpp) follows it.
#include <gtest/gtest.h>

#include <algorithm>
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

void PostgresRestartedUnderLoad() {
    struct Answer {
        double sent = 0;  // seconds since the case started
        double done = 0;
        long code = 0;
        std::string retry_after;
        std::string id;
    };
    std::mutex mutex;
    std::vector<Answer> answers;
    std::atomic<bool> stop{false};
    const auto start = Clock::now();
    std::thread client([&] {
        for (int i = 0; !stop.load(); ++i) {
            Answer answer;
            answer.sent = Seconds(Clock::now() - start);
            // Straight to intake: its own answer, not nginx's.
            auto reply = TheApi().CallIntake(
                "POST", "/api/v1/stores",
                json{{"name", "f4-" + kRun + "-" + std::to_string(i)}, {"engine", "woocommerce"}}
                    .dump());
            answer.done = Seconds(Clock::now() - start);
            answer.code = reply.code;
            answer.retry_after = reply.Header("Retry-After");
            if (reply.code == 202) answer.id = reply.body.value("id", "");
            {
                std::lock_guard lock(mutex);
                answers.push_back(answer);
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(100));  // load pacing
        }
    });
    auto accepted_count = [&] {
        std::lock_guard lock(mutex);
        return std::count_if(answers.begin(), answers.end(),
                             [](const Answer& a) { return a.code == 202; });
    };
    ScopeExit restore([] { StackUp("postgres"); });
    PollUntil([&] { return accepted_count() >= 5; }, std::chrono::seconds(30));
    auto down = StackDown("postgres");
    ASSERT_EQ(down.rc, 0) << down.output;
    const double down_at = Seconds(Clock::now() - start);
    HoldFault(std::chrono::seconds(10));
    const double up_at = Seconds(Clock::now() - start);
    auto up = StackUp("postgres");
    ASSERT_EQ(up.rc, 0) << up.output;
    const double up_done = Seconds(Clock::now() - start);
    const auto accepted_at_up = accepted_count();
    PollUntil([&] { return accepted_count() >= accepted_at_up + 5; }, std::chrono::seconds(60));
    stop = true;
    client.join();

    std::map<long, int> during;
    int bad = 0;
    double first_accept_after_up = -1;
    for (const auto& answer : answers) {
        if (answer.sent >= down_at && answer.done <= up_at) {
            ++during[answer.code];
            if (answer.code != 503 || answer.retry_after.empty()) {
                ++bad;
                if (bad <= 5) {
                    ADD_FAILURE() << "while Postgres was down intake answered " << answer.code
                                  << " (Retry-After '" << answer.retry_after
                                  << "'); want 503 with Retry-After";
                }
            }
        }
        if (answer.sent >= up_done && answer.code == 202 && first_accept_after_up < 0) {
            first_accept_after_up = answer.done - up_done;
        }
    }
    std::string codes;
    for (const auto& [code, n] : during)
        codes += std::to_string(code) + ":" + std::to_string(n) + " ";
    Figure("case 4 Postgres down for", up_at - down_at, "s");
    Figure("case 4 intake answers while Postgres was down (code:count)", codes);
    Figure("case 4 answers that were not 503 + Retry-After", std::to_string(bad));
    Figure("case 4 Postgres back -> intake accepting again", first_accept_after_up, "s");
    EXPECT_GE(first_accept_after_up, 0) << "intake did not accept again after Postgres came back";
    EXPECT_GT(during[503], 0) << "no request was answered while Postgres was down";

    std::map<std::string, std::set<std::string>> want;
    for (const auto& answer : answers) {
        if (!answer.id.empty()) want[answer.id] = {"ready"};
    }
    auto last = WaitForStores(want, std::chrono::seconds(120));
    int lost = 0;
    for (const auto& [id, statuses] : want) {
        if (Status(last[id]) != "ready") {
            ++lost;
            STORE_FAILURE("accepted stores not Ready")
                << "store " << id << " accepted but not Ready: " << last[id].dump();
        }
        if (CheckTimeline(id).duplicates != 0) {
            STORE_FAILURE("duplicate timeline events") << id;
        }
    }
    Figure("case 4 stores accepted / not Ready",
           std::to_string(want.size()) + " / " + std::to_string(lost));
    const int doubled_rows = DoubleAppliedRows();
    EXPECT_EQ(doubled_rows, 0);
}

}  // namespace storefleet::faults
