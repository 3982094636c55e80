#include "readiness.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "storefleet/test_support/wait.hpp"

namespace storefleet::provisioner {
namespace {

using nlohmann::json;

json Workload(int ready, int want, int generation = 1, int observed = 1) {
    return {{"metadata", {{"name", "web"}, {"generation", generation}}},
            {"spec", {{"replicas", want}}},
            {"status",
             {{"observedGeneration", observed},
              {"replicas", want},
              {"updatedReplicas", want},
              {"availableReplicas", ready},
              {"readyReplicas", ready}}}};
}

TEST(ReadinessTest, DeploymentNeedsAllReplicasOfTheCurrentGeneration) {
    EXPECT_TRUE(EvaluateWorkload("deployments", Workload(1, 1)).ready);
    EXPECT_FALSE(EvaluateWorkload("deployments", Workload(0, 1)).ready);
    EXPECT_FALSE(EvaluateWorkload("deployments", Workload(1, 1, 2, 1)).ready)
        << "spec changed, not observed yet";
    EXPECT_EQ(EvaluateWorkload("statefulsets", Workload(0, 1)).description,
              "statefulset web (0/1 ready)");
}

// After a plan change the old pod is still available while the new one starts: not ready
// until every replica runs the new template and no old pod is left.
TEST(ReadinessTest, AWorkloadIsReadyOnlyOnceItsRolloutIsDone) {
    auto rolling = Workload(1, 1, 3, 3);
    rolling["status"]["updatedReplicas"] = 1;
    rolling["status"]["replicas"] = 2;  // the old pod and the new one
    EXPECT_FALSE(EvaluateWorkload("deployments", rolling).ready);
    EXPECT_EQ(EvaluateWorkload("deployments", rolling).description,
              "deployment web (rolling out: 1/1 updated, 2 pods)");
    auto started = Workload(1, 1, 3, 3);
    started["status"]["updatedReplicas"] = 0;  // old pod available, new one not made yet
    EXPECT_FALSE(EvaluateWorkload("statefulsets", started).ready);
    EXPECT_TRUE(EvaluateWorkload("deployments", Workload(1, 1, 3, 3)).ready);
}

json ScaledTo(int want, int pods) {
    return {{"metadata", {{"name", "web"}, {"generation", 2}}},
            {"spec", {{"replicas", want}}},
            {"status", {{"observedGeneration", 2}, {"replicas", pods}}}};
}

// A suspended store converges when every Deployment and StatefulSet is at zero with no pod
// left; a store that is not suspended is not ready with a workload scaled to 0 by hand.
TEST(ReadinessTest, SuspendedWantsEveryWorkloadStoppedAndScaledByHandIsNotReady) {
    const auto stopped = EvaluateWorkload("deployments", ScaledTo(0, 0));
    const auto stopping = EvaluateWorkload("statefulsets", ScaledTo(0, 1));
    const auto running = EvaluateWorkload("deployments", Workload(1, 1));
    EXPECT_TRUE(stopped.stopped);
    EXPECT_FALSE(stopped.ready) << "scaled to 0 is not serving";
    EXPECT_EQ(stopped.description, "deployment web (scaled to 0)");
    EXPECT_FALSE(stopping.stopped) << "a pod is still there";
    EXPECT_EQ(stopping.stop_description, "statefulset web to stop (1 pod left)");
    EXPECT_FALSE(running.stopped);

    WorkloadState failed_job{false, true, "job setup failed: x"};
    EXPECT_TRUE(
        CombineWorkloads("ns", {{"deployments", stopped}, {"jobs", failed_job}}, true)->ready)
        << "suspended: Jobs do not count";
    auto waiting =
        CombineWorkloads("ns", {{"deployments", stopped}, {"statefulsets", stopping}}, true);
    EXPECT_FALSE(waiting->ready);
    EXPECT_EQ(waiting->waiting_for, "statefulset web to stop (1 pod left)");
    EXPECT_FALSE(CombineWorkloads("ns", {{"deployments", running}}, true)->ready);
    EXPECT_FALSE(CombineWorkloads("ns", {}, true)->ready);

    auto by_hand = CombineWorkloads("ns", {{"deployments", stopped}});
    EXPECT_FALSE(by_hand->ready) << "not suspended: a workload at 0 is not ready";
    EXPECT_EQ(by_hand->waiting_for, "deployment web (scaled to 0)");
}

TEST(ReadinessTest, JobCompleteOrFailed) {
    json complete = {
        {"metadata", {{"name", "setup"}}},
        {"status", {{"conditions", json::array({{{"type", "Complete"}, {"status", "True"}}})}}}};
    json failed = {
        {"metadata", {{"name", "setup"}}},
        {"status",
         {{"conditions",
           json::array(
               {{{"type", "Failed"}, {"status", "True"}, {"message", "BackoffLimitExceeded"}}})}}}};
    EXPECT_TRUE(EvaluateWorkload("jobs", complete).ready);
    auto state = EvaluateWorkload("jobs", failed);
    EXPECT_TRUE(state.failed);
    EXPECT_EQ(state.description, "job setup failed: BackoffLimitExceeded");
}

TEST(ReadinessTest, CombineNeedsAWorkloadAndNoFailure) {
    WorkloadState ready{true, false, "deployment web (1/1 ready)"};
    WorkloadState waiting{false, false, "statefulset db (0/1 ready)"};
    WorkloadState failed{false, true, "job setup failed: x"};
    EXPECT_FALSE(CombineWorkloads("ns", {})->ready);
    EXPECT_EQ(CombineWorkloads("ns", {})->waiting_for, "the chart's workloads to appear");
    EXPECT_FALSE(CombineWorkloads("ns", {{"jobs", ready}})->ready) << "a Job alone is not a store";
    EXPECT_TRUE(CombineWorkloads("ns", {{"deployments", ready}, {"jobs", ready}})->ready);
    auto partial = CombineWorkloads("ns", {{"deployments", ready}, {"statefulsets", waiting}});
    EXPECT_FALSE(partial->ready);
    EXPECT_EQ(partial->waiting_for, "statefulset db (0/1 ready)");
    auto broken = CombineWorkloads("ns", {{"deployments", ready}, {"jobs", failed}});
    ASSERT_FALSE(broken.ok());
    EXPECT_FALSE(broken.error().retryable());
}

// The API server as the shared watch sees it: one list per kind (answered from `lists`),
// and watches that either deliver `events` of their kind or, with `hang`, deliver nothing
// and never end, like a connection whose peer vanished without a FIN or RST; such a stream
// returns only once `stop()` says so, as the real client's progress callback does.
class FakeWatchKube : public kube::KubeApi {
public:
    Result<kube::ApiResponse> Call(const std::string& method, const std::string& path,
                                   const std::string&, const std::string&) override {
        std::lock_guard lock(mutex_);
        const std::string kind = KindOf(path);
        if (method != "GET" || kind.empty()) return kube::ApiResponse{404, "{}"};
        ++list_calls_[kind];
        json items = lists_.count(kind) != 0U ? lists_[kind] : json::array();
        return kube::ApiResponse{
            200, json{{"metadata", {{"resourceVersion", "10"}}}, {"items", items}}.dump()};
    }

    Status Watch(const std::string& path, const std::function<void(const std::string&)>& on_event,
                 const std::function<bool()>& stop) override {
        const std::string kind = KindOf(path);
        std::vector<std::string> lines;
        bool hang = false;
        {
            std::lock_guard lock(mutex_);
            ++watch_calls_[kind];
            lines.swap(events_[kind]);
            hang = hang_.count(kind) != 0U;
        }
        for (const auto& line : lines) on_event(line);
        // A stream that stays open: wait for the caller to give up on it (or to stop).
        while (!stop()) {
            if (!hang) {
                std::lock_guard lock(mutex_);
                if (!events_[kind].empty())
                    return Status::Ok();  // the server ends it; the caller watches again
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        return Status::Ok();
    }

    void SetList(const std::string& kind, json items) {
        std::lock_guard lock(mutex_);
        lists_[kind] = std::move(items);
    }
    void AddEvent(const std::string& kind, const json& event) {
        std::lock_guard lock(mutex_);
        events_[kind].push_back(event.dump());
    }
    void Hang(const std::string& kind) {
        std::lock_guard lock(mutex_);
        hang_[kind] = true;
    }
    int Lists(const std::string& kind) {
        std::lock_guard lock(mutex_);
        return list_calls_[kind];
    }

private:
    static std::string KindOf(const std::string& path) {
        for (const char* kind : {"deployments", "statefulsets", "jobs"}) {
            if (path.find(std::string("/") + kind + "?") != std::string::npos) return kind;
        }
        return "";
    }
    std::mutex mutex_;
    std::map<std::string, json> lists_;
    std::map<std::string, std::vector<std::string>> events_;
    std::map<std::string, bool> hang_;
    std::map<std::string, int> list_calls_;
    std::map<std::string, int> watch_calls_;
};

json StoreWorkload(const std::string& ns, const std::string& name, int ready) {
    json object = Workload(ready, 1);
    object["metadata"]["name"] = name;
    object["metadata"]["namespace"] = ns;
    object["metadata"]["resourceVersion"] = "11";
    return object;
}

// The watcher works on its own threads: its state is polled for.
using test_support::WaitUntil;

bool StoreReady(ReadinessWatcher& watcher, const std::string& ns) {
    auto readiness = watcher.Check(ns);
    return readiness.ok() && readiness->ready;
}

// store-a: its web Deployment ready, its database StatefulSet not yet.
void OneStoreWaitingForItsDatabase(FakeWatchKube& kube) {
    kube.SetList("deployments", json::array({StoreWorkload("store-a", "web", 1)}));
    kube.SetList("statefulsets", json::array({StoreWorkload("store-a", "db", 0)}));
}

TEST(ReadinessWatcherTest, FollowsWatchEvents) {
    FakeWatchKube kube;
    OneStoreWaitingForItsDatabase(kube);
    ShutdownFlag shutdown;
    ReadinessWatcher watcher(kube, shutdown);
    watcher.Start();
    ASSERT_TRUE(WaitUntil([&] { return watcher.Synced(); }, std::chrono::seconds(10)));
    EXPECT_FALSE(StoreReady(watcher, "store-a"));
    kube.AddEvent("statefulsets",
                  {{"type", "MODIFIED"}, {"object", StoreWorkload("store-a", "db", 1)}});
    EXPECT_TRUE(
        WaitUntil([&] { return StoreReady(watcher, "store-a"); }, std::chrono::seconds(10)));
    shutdown.Trigger();
}

TEST(ReadinessWatcherTest, RelistsWhenTheWatchSaysItsVersionIsGone) {
    // After an API server restart a watch from an old resourceVersion gets an ERROR event
    // (410 Gone) and must start again from a list, which has what the stream missed.
    FakeWatchKube kube;
    OneStoreWaitingForItsDatabase(kube);
    ShutdownFlag shutdown;
    ReadinessWatcher watcher(kube, shutdown);
    watcher.Start();
    ASSERT_TRUE(WaitUntil([&] { return watcher.Synced(); }, std::chrono::seconds(10)));
    EXPECT_FALSE(StoreReady(watcher, "store-a"));
    kube.SetList("statefulsets", json::array({StoreWorkload("store-a", "db", 1)}));
    kube.AddEvent("statefulsets",
                  {{"type", "ERROR"}, {"object", {{"kind", "Status"}, {"code", 410}}}});
    EXPECT_TRUE(
        WaitUntil([&] { return StoreReady(watcher, "store-a"); }, std::chrono::seconds(10)));
    EXPECT_GE(kube.Lists("statefulsets"), 2);
    shutdown.Trigger();
}

TEST(ReadinessWatcherTest, DropsAStreamThatOutlivesItsTimeoutAndRelists) {
    // A watch on a dead connection delivers nothing and never ends. The store's workload
    // became ready meanwhile (the event was lost with the connection): only a relist can
    // tell, and it must come once the stream is past the timeout it asked the server for.
    FakeWatchKube kube;
    OneStoreWaitingForItsDatabase(kube);
    kube.Hang("statefulsets");
    ShutdownFlag shutdown;
    ReadinessWatcher watcher(kube, shutdown, std::chrono::seconds(1));
    watcher.Start();
    ASSERT_TRUE(WaitUntil([&] { return watcher.Synced(); }, std::chrono::seconds(10)));
    EXPECT_FALSE(StoreReady(watcher, "store-a"));
    const auto changed = std::chrono::steady_clock::now();
    kube.SetList("statefulsets", json::array({StoreWorkload("store-a", "db", 1)}));
    // Timeout 1 s, given up 2 s after the watch began: ready well within 10 s.
    EXPECT_TRUE(
        WaitUntil([&] { return StoreReady(watcher, "store-a"); }, std::chrono::seconds(10)));
    EXPECT_GE(kube.Lists("statefulsets"), 2);
    EXPECT_GE(std::chrono::steady_clock::now() - changed, std::chrono::milliseconds(500))
        << "ready before the stream could have been given up: something else relisted";
    shutdown.Trigger();
}

}  // namespace
}  // namespace storefleet::provisioner
