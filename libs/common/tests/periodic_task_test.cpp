#include "storefleet/common/periodic_task.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>

#include "storefleet/test_support/wait.hpp"

namespace storefleet {
namespace {

using namespace std::chrono_literals;

using test_support::WaitUntil;

TEST(PeriodicTaskTest, RunsAgainAndAgainUntilStopped) {
    std::atomic<int> runs{0};
    PeriodicTask task("count", 5ms, [&] { ++runs; });
    EXPECT_TRUE(WaitUntil([&] { return runs.load() >= 3; }, 5s));
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
    EXPECT_TRUE(WaitUntil([&] { return runs.load() >= 2; }, 5s));
}

TEST(PeriodicTaskTest, RunAtStartRunsBeforeTheFirstPeriod) {
    std::atomic<int> runs{0};
    PeriodicTask task(
        "start", std::chrono::hours(1), [&] { ++runs; }, /*run_at_start=*/true);
    EXPECT_TRUE(WaitUntil([&] { return runs.load() == 1; }, 5s));
    task.Stop();  // returns at once although the period is an hour
    EXPECT_EQ(runs.load(), 1);
}

}  // namespace
}  // namespace storefleet
