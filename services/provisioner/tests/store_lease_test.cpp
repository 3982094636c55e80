// StoreLeases against an in-memory Lease API with the server's optimistic concurrency
// (resourceVersion on PUT, preconditions on DELETE).
#include "store_lease.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include "storefleet/test_support/wait.hpp"

namespace storefleet::provisioner {
namespace {

using nlohmann::json;
using test_support::WaitUntil;

class FakeLeaseApi : public kube::KubeApi {
public:
    Result<kube::ApiResponse> Call(const std::string& method, const std::string& path,
                                   const std::string& body, const std::string&) override {
        // A slow API server: every PUT takes this long (outside the lock, as requests overlap).
        if (method == "PUT" && put_delay.load().count() > 0)
            std::this_thread::sleep_for(put_delay.load());
        std::lock_guard lock(mutex);
        if (unreachable) return Error::Retryable("network", "connection refused");
        const std::string leases =
            "/apis/coordination.k8s.io/v1/namespaces/storefleet-system/leases";
        if (method == "PATCH") return kube::ApiResponse{200, body};  // the namespace
        if (method == "POST" && path == leases) {
            auto lease = json::parse(body);
            const std::string name = lease["metadata"]["name"];
            if (objects.count(name) != 0U)
                return kube::ApiResponse{409, R"({"reason":"AlreadyExists"})"};
            lease["metadata"]["resourceVersion"] = std::to_string(++version);
            objects[name] = lease;
            return kube::ApiResponse{201, lease.dump()};
        }
        const std::string name = path.substr(path.rfind('/') + 1);
        auto it = objects.find(name);
        if (method == "GET") {
            if (it == objects.end()) return kube::ApiResponse{404, "{}"};
            return kube::ApiResponse{200, it->second.dump()};
        }
        if (method == "PUT") {
            if (it == objects.end()) return kube::ApiResponse{404, "{}"};
            auto lease = json::parse(body);
            if (lease["metadata"].value("resourceVersion", "") !=
                it->second["metadata"]["resourceVersion"]) {
                return kube::ApiResponse{409, R"({"reason":"Conflict"})"};
            }
            lease["metadata"]["resourceVersion"] = std::to_string(++version);
            it->second = lease;
            ++puts;
            last_put = std::chrono::steady_clock::now();
            return kube::ApiResponse{200, lease.dump()};
        }
        if (method == "DELETE") {
            if (it == objects.end()) return kube::ApiResponse{404, "{}"};
            auto options = json::parse(body);
            if (options["preconditions"]["resourceVersion"] !=
                it->second["metadata"]["resourceVersion"]) {
                return kube::ApiResponse{409, R"({"reason":"Conflict"})"};
            }
            objects.erase(it);
            return kube::ApiResponse{200, "{}"};
        }
        return kube::ApiResponse{405, "{}"};
    }
    std::string Holder(const std::string& store) {
        std::lock_guard lock(mutex);
        auto it = objects.find("store-" + store);
        return it == objects.end() ? "" : it->second["spec"].value("holderIdentity", "");
    }
    std::mutex mutex;
    std::map<std::string, json> objects;
    int version = 0;
    int puts = 0;
    std::chrono::steady_clock::time_point last_put{};
    bool unreachable = false;
    std::atomic<std::chrono::milliseconds> put_delay{std::chrono::milliseconds(0)};
};

LeaseOptions Options(const std::string& instance,
                     std::chrono::seconds duration = std::chrono::seconds(3)) {
    return {.lease_namespace = "storefleet-system",
            .instance_id = instance,
            .duration = duration,
            .poll = std::chrono::milliseconds(20)};
}

const std::string kStore = "123e4567-e89b-42d3-a456-426614174000";

TEST(StoreLeaseTest, ASecondRunnerWaitsUntilTheFirstReleases) {
    FakeLeaseApi api;
    metrics::Registry registry;
    StoreLeases first(api, Options("provisioner-1"), registry);
    StoreLeases second(api, Options("provisioner-2"), registry);
    ShutdownFlag shutdown;
    CancelToken first_cancel(shutdown);
    CancelToken second_cancel(shutdown);
    auto held = first.Acquire(kStore, first_cancel);
    ASSERT_TRUE(held.ok());
    EXPECT_EQ(api.Holder(kStore), first.identity());

    std::atomic<bool> second_holds{false};
    std::thread waiter([&] {
        auto taken = second.Acquire(kStore, second_cancel);
        ASSERT_TRUE(taken.ok());
        second_holds = true;
        EXPECT_EQ(api.Holder(kStore), second.identity());
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_FALSE(second_holds.load()) << "the store has one runner at a time";
    held->reset();  // the first runner is done
    waiter.join();
    EXPECT_TRUE(second_holds.load());
}

TEST(StoreLeaseTest, ALeaseWhoseHolderStoppedRenewingIsTakenOverAndTheOldHolderStops) {
    FakeLeaseApi api;
    metrics::Registry registry;
    StoreLeases stalled(api, Options("provisioner-1", std::chrono::seconds(3)),
                        registry);  // no keeper: it stalls
    StoreLeases other(api, Options("provisioner-2", std::chrono::seconds(3)), registry);
    ShutdownFlag shutdown;
    CancelToken stalled_cancel(shutdown);
    CancelToken other_cancel(shutdown);
    auto held = stalled.Acquire(kStore, stalled_cancel);
    ASSERT_TRUE(held.ok());
    const auto start = std::chrono::steady_clock::now();
    auto taken = other.Acquire(kStore, other_cancel);
    ASSERT_TRUE(taken.ok());
    const auto waited = std::chrono::steady_clock::now() - start;
    EXPECT_GE(waited, std::chrono::seconds(3)) << "only after a whole duration without renewal";
    EXPECT_LT(waited, std::chrono::seconds(6));
    EXPECT_EQ(api.Holder(kStore), other.identity());
    // The stalled holder wakes up: its next renewal finds the lease taken and stops its command.
    stalled.Start();
    WaitUntil([&] { return stalled_cancel.Cancelled(); }, std::chrono::seconds(3));
    EXPECT_EQ(stalled_cancel.Why(), CancelToken::Reason::kLeaseLost);
    EXPECT_EQ(api.Holder(kStore), other.identity())
        << "the old holder's release must not delete the new lease";
    held->reset();
    EXPECT_EQ(api.Holder(kStore), other.identity());
    stalled.Stop();
}

TEST(StoreLeaseTest, ARestartedReplicaResumesItsEarlierRunsStoresAtOnce) {
    FakeLeaseApi api;
    metrics::Registry registry;
    ShutdownFlag shutdown;
    CancelToken cancel(shutdown);
    {
        StoreLeases killed(api, Options("provisioner-1", std::chrono::seconds(60)), registry);
        auto held = killed.Acquire(kStore, cancel);
        ASSERT_TRUE(held.ok());
        // kill -9: the lease is never released.
        held->release();  // NOLINT(bugprone-unused-return-value)
    }
    StoreLeases restarted(api, Options("provisioner-1", std::chrono::seconds(60)), registry);
    const auto start = std::chrono::steady_clock::now();
    auto taken = restarted.Acquire(kStore, cancel);
    ASSERT_TRUE(taken.ok());
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
    EXPECT_EQ(api.Holder(kStore), restarted.identity());
}

TEST(StoreLeaseTest, AHolderThatCannotRenewForAWholeDurationStops) {
    FakeLeaseApi api;
    metrics::Registry registry;
    StoreLeases leases(api, Options("provisioner-1", std::chrono::seconds(3)), registry);
    ShutdownFlag shutdown;
    CancelToken cancel(shutdown);
    auto held = leases.Acquire(kStore, cancel);
    ASSERT_TRUE(held.ok());
    leases.Start();
    // The first renewal is due at a third of the duration (1 s); waited for, not slept past.
    const bool renewed = WaitUntil(
        [&] {
            std::lock_guard lock(api.mutex);
            return api.puts >= 1;
        },
        std::chrono::milliseconds(2500));
    EXPECT_TRUE(renewed);
    EXPECT_FALSE(cancel.Cancelled()) << "renewed while the API answers";
    {
        std::lock_guard lock(api.mutex);
        api.unreachable = true;
    }
    WaitUntil([&] { return cancel.Cancelled(); }, std::chrono::seconds(6));
    EXPECT_EQ(cancel.Why(), CancelToken::Reason::kLeaseLost);
    leases.Stop();
}

TEST(StoreLeaseTest, WaitingForALeaseEndsWhenTheCommandIsCancelled) {
    FakeLeaseApi api;
    metrics::Registry registry;
    StoreLeases first(api, Options("provisioner-1", std::chrono::seconds(60)), registry);
    StoreLeases second(api, Options("provisioner-2", std::chrono::seconds(60)), registry);
    ShutdownFlag shutdown;
    CancelToken first_cancel(shutdown);
    CancelToken second_cancel(shutdown);
    auto held = first.Acquire(kStore, first_cancel);
    ASSERT_TRUE(held.ok());
    std::thread revoker([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        second_cancel.Cancel(CancelToken::Reason::kRevoked);
    });
    auto taken = second.Acquire(kStore, second_cancel);
    revoker.join();
    ASSERT_FALSE(taken.ok());
    EXPECT_EQ(taken.error().code, "cancelled");
}

}  // namespace

// Two tasks of one process for one store (a task that outlived a revoke's drain timeout, and
// the command given to the same process again): the second waits, and the first's release
// does not delete the lease the second then holds. Before the fix the second took the lease
// at once (its holder was already this process) and the first's release deleted it.
TEST(StoreLeaseTest, ASecondTaskOfTheSameProcessWaitsForTheFirst) {
    FakeLeaseApi api;
    metrics::Registry registry;
    StoreLeases leases(api, Options("provisioner-1", std::chrono::seconds(60)), registry);
    ShutdownFlag shutdown;
    CancelToken old_task(shutdown);
    CancelToken new_task(shutdown);
    auto first = leases.Acquire(kStore, old_task);
    ASSERT_TRUE(first.ok());
    std::atomic<bool> second_holds{false};
    std::unique_ptr<StoreLeases::Held> second_handle;
    std::thread second([&] {
        auto taken = leases.Acquire(kStore, new_task);
        ASSERT_TRUE(taken.ok());
        second_handle = std::move(*taken);
        second_holds = true;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_FALSE(second_holds.load()) << "two tasks of one process acted on one store";
    first->reset();  // the old task ends
    second.join();
    ASSERT_TRUE(second_holds.load());
    EXPECT_EQ(api.Holder(kStore), leases.identity())
        << "the old task's release deleted the new task's lease";
    second_handle.reset();
    EXPECT_EQ(api.Holder(kStore), "");
}

// A renewal that hangs (an API server that accepts and never answers) must not hold up the
// decision to stop: the holder stops within two thirds of the duration after its last
// successful renewal, before a taker (who waits a whole duration) may start. Before the fix
// the keeper sat in the hung call and stopped the holder only after it returned.
TEST(StoreLeaseTest, AHungRenewalStopsTheHolderBeforeATakerMayStart) {
    FakeLeaseApi api;
    metrics::Registry registry;
    const auto duration = std::chrono::seconds(3);
    StoreLeases leases(api, Options("provisioner-1", duration), registry);
    ShutdownFlag shutdown;
    CancelToken cancel(shutdown);
    auto held = leases.Acquire(kStore, cancel);
    ASSERT_TRUE(held.ok());
    leases.Start();
    ASSERT_TRUE(WaitUntil(
        [&] {
            std::lock_guard lock(api.mutex);
            return api.puts >= 1;
        },
        std::chrono::seconds(3)));
    api.put_delay = std::chrono::milliseconds(4000);
    ASSERT_TRUE(WaitUntil([&] { return cancel.Cancelled(); }, std::chrono::seconds(6)));
    const auto stopped = std::chrono::steady_clock::now();
    std::chrono::steady_clock::time_point last_renewal;
    {
        std::lock_guard lock(api.mutex);
        last_renewal = api.last_put;
    }
    EXPECT_EQ(cancel.Why(), CancelToken::Reason::kLeaseLost);
    EXPECT_LT(stopped - last_renewal, duration)
        << "a taker could have started before the holder stopped";
    leases.Stop();
}

// Many stores on a slow API server: each renewal takes 250 ms, 24 leases renewed one by one
// would take 6 s, twice the 3 s lease. Renewed in parallel, none is lost.
TEST(StoreLeaseTest, ManyLeasesOnASlowApiServerAreAllKept) {
    FakeLeaseApi api;
    metrics::Registry registry;
    StoreLeases leases(api, Options("provisioner-1", std::chrono::seconds(3)), registry);
    ShutdownFlag shutdown;
    std::vector<std::unique_ptr<CancelToken>> cancels;
    std::vector<std::unique_ptr<StoreLeases::Held>> held;
    for (int i = 0; i < 24; ++i) {
        cancels.push_back(std::make_unique<CancelToken>(shutdown));
        char store[40];
        std::snprintf(store, sizeof(store), "123e4567-e89b-42d3-a456-4266141740%02d", i);
        auto taken = leases.Acquire(store, *cancels.back());
        ASSERT_TRUE(taken.ok());
        held.push_back(std::move(*taken));
    }
    api.put_delay = std::chrono::milliseconds(250);
    leases.Start();
    std::this_thread::sleep_for(std::chrono::seconds(5));
    int lost = 0;
    for (const auto& cancel : cancels) lost += cancel->Cancelled() ? 1 : 0;
    EXPECT_EQ(lost, 0) << "leases lost while the API server answered every renewal";
    {
        std::lock_guard lock(api.mutex);
        EXPECT_GE(api.puts, 48) << "at least two rounds of renewals";
    }
    leases.Stop();
}

}  // namespace storefleet::provisioner
