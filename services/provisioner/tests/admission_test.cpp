// AdmissionLimit with a fake clock: the limit backs off on slow or failing windows, grows
// back one step per healthy window, stays within [min, max], and Acquire waits at the limit
// (in order) until a permit is released or the waiter is cancelled.
#include "admission.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

namespace storefleet::provisioner {
namespace {

using namespace std::chrono_literals;
using Clock = AdmissionLimit::Clock;

class FakeClock {
public:
    Clock::time_point Now() const {
        return Clock::time_point(std::chrono::milliseconds(ms_.load()));
    }
    void Advance(std::chrono::milliseconds by) { ms_ += by.count(); }

private:
    std::atomic<int64_t> ms_{1'000'000};
};

class AdmissionTest : public ::testing::Test {
protected:
    AdmissionLimit::Options Opts(std::size_t min_limit, std::size_t max_limit) {
        return {.enabled = true,
                .min_limit = min_limit,
                .max_limit = max_limit,
                .latency_target = 100ms,
                .window = 1000ms,
                .decrease_factor = 0.7,
                .cancel_poll = 5ms};
    }
    AdmissionLimit::Now Now() {
        return [this] { return clock_.Now(); };
    }
    // One window of `count` calls taking `latency` each, with `status`, then the window ends.
    void Window(AdmissionLimit& limit, std::chrono::milliseconds latency, long status = 200,
                int count = 10) {
        for (int i = 0; i < count; ++i) limit.Observe(latency, status);
        clock_.Advance(1000ms);
        static_cast<void>(limit.Limit());  // closes the window
    }

    FakeClock clock_;
    metrics::Registry registry_;
    ShutdownFlag shutdown_;
};

TEST_F(AdmissionTest, StartsAtTheMaximumAndCutsOnASlowWindow) {
    AdmissionLimit limit(Opts(2, 32), registry_, Now());
    EXPECT_EQ(limit.Limit(), 32U);
    Window(limit, 150ms);
    EXPECT_EQ(limit.Limit(), 22U);  // floor(32 * 0.7)
    Window(limit, 150ms);
    EXPECT_EQ(limit.Limit(), 15U);  // floor(22 * 0.7)
    EXPECT_DOUBLE_EQ(registry_.GetGauge("storefleet_provisioner_admission_limit", "").Value(),
                     15.0);
    EXPECT_DOUBLE_EQ(
        registry_.GetCounter("storefleet_provisioner_admission_backoffs_total", "").Value(), 2.0);
    EXPECT_EQ(registry_.GetHistogram("storefleet_provisioner_api_latency_seconds", "").Count(),
              20U);
}

TEST_F(AdmissionTest, JudgesTheWindowByItsP90NotItsWorstCall) {
    AdmissionLimit limit(Opts(2, 32), registry_, Now());
    // 9 fast calls and 1 slow one of 10: the p90 (9th of 10) is fast.
    for (int i = 0; i < 9; ++i) limit.Observe(10ms, 200);
    limit.Observe(5000ms, 200);
    clock_.Advance(1000ms);
    EXPECT_EQ(limit.Limit(), 32U);
    // 8 fast and 2 slow: the p90 is slow.
    for (int i = 0; i < 8; ++i) limit.Observe(10ms, 200);
    limit.Observe(5000ms, 200);
    limit.Observe(5000ms, 200);
    clock_.Advance(1000ms);
    EXPECT_EQ(limit.Limit(), 22U);
}

TEST_F(AdmissionTest, CutsOnAny429Or5xxOrMissingAnswerEvenWhenFast) {
    for (long status : {429L, 500L, 503L, AdmissionLimit::kNoResponse}) {
        AdmissionLimit limit(Opts(2, 10), registry_, Now());
        for (int i = 0; i < 50; ++i) limit.Observe(1ms, 200);
        limit.Observe(1ms, status);
        clock_.Advance(1000ms);
        EXPECT_EQ(limit.Limit(), 7U) << status;
    }
}

TEST_F(AdmissionTest, OrdinaryClientErrorsAreNotOverload) {
    AdmissionLimit limit(Opts(2, 10), registry_, Now());
    Window(limit, 150ms);  // 10 -> 7
    for (long status : {404L, 409L, 422L, 403L}) limit.Observe(1ms, status);
    clock_.Advance(1000ms);
    EXPECT_EQ(limit.Limit(), 8U);
}

TEST_F(AdmissionTest, GrowsBackByOnePerHealthyWindowUpToTheMaximum) {
    AdmissionLimit limit(Opts(2, 12), registry_, Now());
    Window(limit, 500ms, 503);
    EXPECT_EQ(limit.Limit(), 8U);
    Window(limit, 5ms);
    EXPECT_EQ(limit.Limit(), 9U);
    Window(limit, 5ms);
    EXPECT_EQ(limit.Limit(), 10U);
    for (int i = 0; i < 10; ++i) Window(limit, 5ms);
    EXPECT_EQ(limit.Limit(), 12U);  // never above the maximum
}

TEST_F(AdmissionTest, IdleWindowsCountAsHealthyOneStepEach) {
    AdmissionLimit limit(Opts(2, 20), registry_, Now());
    Window(limit, 500ms);
    EXPECT_EQ(limit.Limit(), 14U);
    clock_.Advance(3000ms);  // three windows without a call
    EXPECT_EQ(limit.Limit(), 17U);
    // Half a window later nothing more has ended.
    clock_.Advance(500ms);
    EXPECT_EQ(limit.Limit(), 17U);
}

TEST_F(AdmissionTest, NeverBelowTheMinimum) {
    AdmissionLimit limit(Opts(3, 16), registry_, Now());
    for (int i = 0; i < 20; ++i) Window(limit, 2000ms, 500);
    EXPECT_EQ(limit.Limit(), 3U);
    AdmissionLimit one(Opts(1, 4), registry_, Now());
    for (int i = 0; i < 20; ++i) Window(one, 2000ms);
    EXPECT_EQ(one.Limit(), 1U);  // floor(1 * 0.7) is 0, but one command can always run
}

TEST_F(AdmissionTest, DisabledNeverMovesNorWaits) {
    auto options = Opts(1, 2);
    options.enabled = false;
    AdmissionLimit limit(options, registry_, Now());
    Window(limit, 5000ms, 503);
    EXPECT_EQ(limit.Limit(), 2U);
    CancelToken cancel(shutdown_);
    for (int i = 0; i < 5; ++i) EXPECT_TRUE(limit.Acquire(cancel));  // beyond the limit
    EXPECT_EQ(limit.InUse(), 5U);
    EXPECT_EQ(registry_.GetHistogram("storefleet_provisioner_api_latency_seconds", "").Count(),
              10U);
}

TEST_F(AdmissionTest, AcquireWaitsAtTheLimitUntilARelease) {
    AdmissionLimit limit(Opts(1, 2), registry_, Now());
    CancelToken cancel(shutdown_);
    ASSERT_TRUE(limit.Acquire(cancel));
    ASSERT_TRUE(limit.Acquire(cancel));
    auto third = std::async(std::launch::async, [&] { return limit.Acquire(cancel); });
    // It is queued and stays queued while both permits are held.
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (limit.Waiting() != 1U && std::chrono::steady_clock::now() < deadline)
        std::this_thread::yield();
    ASSERT_EQ(limit.Waiting(), 1U);
    EXPECT_EQ(third.wait_for(100ms), std::future_status::timeout);
    limit.Release();
    ASSERT_EQ(third.wait_for(10s), std::future_status::ready);
    EXPECT_TRUE(third.get());
    EXPECT_EQ(limit.InUse(), 2U);
    EXPECT_EQ(limit.Waiting(), 0U);
}

// The dispatcher holds a command's permit in an AdmissionPermit and hands it to the handler;
// the provisioner gives it back before waiting for readiness, and the holder's end then gives
// back nothing more.
TEST_F(AdmissionTest, ACommandGivesItsPermitBackEarlyOnceAndOnlyOnce) {
    AdmissionLimit limit(Opts(1, 2), registry_, Now());
    CancelToken cancel(shutdown_);
    ASSERT_TRUE(limit.Acquire(cancel));
    ASSERT_TRUE(limit.Acquire(cancel));
    {
        AdmissionPermit permit(&limit);
        permit.Release();  // as the provisioner does before readiness
        EXPECT_EQ(limit.InUse(), 1U);
        permit.Release();
        EXPECT_EQ(limit.InUse(), 1U) << "released once";
        ASSERT_TRUE(limit.Acquire(cancel)) << "the freed permit goes to the next command";
    }
    EXPECT_EQ(limit.InUse(), 2U) << "the holder's end released nothing more";
    {
        AdmissionPermit permit(&limit);  // a command that never gives it back early
    }
    EXPECT_EQ(limit.InUse(), 1U);
    {
        AdmissionPermit none(nullptr);  // admission off: nothing is held
        none.Release();
    }
    EXPECT_EQ(limit.InUse(), 1U);
}

TEST_F(AdmissionTest, ACutLimitHoldsNewCommandsUntilEnoughAreReleased) {
    AdmissionLimit limit(Opts(1, 3), registry_, Now());
    CancelToken cancel(shutdown_);
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(limit.Acquire(cancel));
    Window(limit, 1000ms);  // 3 -> 2: three are held, nothing is taken away
    ASSERT_EQ(limit.Limit(), 2U);
    auto next = std::async(std::launch::async, [&] { return limit.Acquire(cancel); });
    limit.Release();  // 2 held: still at the limit
    EXPECT_EQ(next.wait_for(100ms), std::future_status::timeout);
    limit.Release();  // 1 held
    ASSERT_EQ(next.wait_for(10s), std::future_status::ready);
    EXPECT_TRUE(next.get());
}

TEST_F(AdmissionTest, AHealthyWindowLetsAWaiterIn) {
    AdmissionLimit limit(Opts(1, 2), registry_, Now());
    CancelToken cancel(shutdown_);
    Window(limit, 1000ms);  // 2 -> 1
    ASSERT_TRUE(limit.Acquire(cancel));
    auto next = std::async(std::launch::async, [&] { return limit.Acquire(cancel); });
    EXPECT_EQ(next.wait_for(100ms), std::future_status::timeout);
    clock_.Advance(1000ms);  // an idle window: 1 -> 2, noticed by the waiter itself
    ASSERT_EQ(next.wait_for(10s), std::future_status::ready);
    EXPECT_TRUE(next.get());
    EXPECT_EQ(limit.InUse(), 2U);
}

TEST_F(AdmissionTest, CancelReleasesAWaiterWithoutAPermit) {
    AdmissionLimit limit(Opts(1, 1), registry_, Now());
    CancelToken holder(shutdown_);
    CancelToken waiter(shutdown_);
    ASSERT_TRUE(limit.Acquire(holder));
    auto blocked = std::async(std::launch::async, [&] { return limit.Acquire(waiter); });
    EXPECT_EQ(blocked.wait_for(100ms), std::future_status::timeout);
    waiter.Cancel(CancelToken::Reason::kRevoked);
    ASSERT_EQ(blocked.wait_for(10s), std::future_status::ready);
    EXPECT_FALSE(blocked.get());
    EXPECT_EQ(limit.InUse(), 1U);
    EXPECT_EQ(limit.Waiting(), 0U);
    // The cancelled ticket is gone from the queue: the next one gets the permit on release.
    auto after = std::async(std::launch::async, [&] { return limit.Acquire(holder); });
    limit.Release();
    ASSERT_EQ(after.wait_for(10s), std::future_status::ready);
    EXPECT_TRUE(after.get());
}

TEST_F(AdmissionTest, ShutdownReleasesEveryWaiter) {
    AdmissionLimit limit(Opts(1, 1), registry_, Now());
    CancelToken cancel(shutdown_);
    ASSERT_TRUE(limit.Acquire(cancel));
    auto a = std::async(std::launch::async, [&] { return limit.Acquire(cancel); });
    auto b = std::async(std::launch::async, [&] { return limit.Acquire(cancel); });
    shutdown_.Trigger();
    ASSERT_EQ(a.wait_for(10s), std::future_status::ready);
    ASSERT_EQ(b.wait_for(10s), std::future_status::ready);
    EXPECT_FALSE(a.get());
    EXPECT_FALSE(b.get());
}

TEST_F(AdmissionTest, WaitersAreServedInTicketOrder) {
    AdmissionLimit limit(Opts(1, 1), registry_, Now());
    CancelToken cancel(shutdown_);
    ASSERT_TRUE(limit.Acquire(cancel));
    const auto first = limit.Enqueue();
    const auto second = limit.Enqueue();
    std::atomic<int> order{0};
    std::atomic<int> second_at{0};
    std::atomic<int> first_at{0};
    // The later ticket starts waiting first; it must still go after the earlier one.
    auto later = std::async(std::launch::async, [&] {
        const bool ok = limit.Wait(second, cancel);
        second_at = ++order;
        return ok;
    });
    auto earlier = std::async(std::launch::async, [&] {
        const bool ok = limit.Wait(first, cancel);
        first_at = ++order;
        return ok;
    });
    limit.Release();
    ASSERT_EQ(earlier.wait_for(10s), std::future_status::ready);
    EXPECT_TRUE(earlier.get());
    EXPECT_EQ(later.wait_for(100ms), std::future_status::timeout);  // one permit, held by the first
    limit.Release();
    ASSERT_EQ(later.wait_for(10s), std::future_status::ready);
    EXPECT_TRUE(later.get());
    EXPECT_EQ(first_at.load(), 1);
    EXPECT_EQ(second_at.load(), 2);
}

}  // namespace
}  // namespace storefleet::provisioner
