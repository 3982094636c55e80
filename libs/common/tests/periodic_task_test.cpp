#include "storefleet/common/periodic_task.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>

namespace storefleet {
namespace {

using namespace std::chrono_literals;

// Polls `done` for up to 5 s.
template <typename Predicate>
bool Eventually(Predicate done) {
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!done()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(2ms);
    }
    return true;
}

TEST(PeriodicTaskTest, RunsAgainAndAgainUntilStopped) {
    std::atomic<int> runs{0};
    PeriodicTask task("count", 5ms, [&] { ++runs; });
    EXPECT_TRUE(Eventually([&] { return runs.load() >= 3; }));
    task.Stop();
    const int stopped_at = runs.load();
    std::this_thread::sleep_for(30ms);  // a window in which no run may start
    EXPECT_EQ(runs.load(), stopped_at);
}

TEST(PeriodicTaskTest, AThrowingRunIsLoggedAndTheNextOneStillHappens) {
    std::atomic<int> runs{0};
    PeriodicTask task("fail", 5ms, [&] {
        ++runs;
        throw std::runtime_error("boom");
    });
    EXPECT_TRUE(Eventually([&] { return runs.load() >= 2; }));
}

TEST(PeriodicTaskTest, RunAtStartRunsBeforeTheFirstPeriod) {
    std::atomic<int> runs{0};
    PeriodicTask task("start", std::chrono::hours(1), [&] { ++runs; }, /*run_at_start=*/true);
    EXPECT_TRUE(Eventually([&] { return runs.load() == 1; }));
    task.Stop();  // returns at once although the period is an hour
    EXPECT_EQ(runs.load(), 1);
}

}  // namespace
}  // namespace storefleet
