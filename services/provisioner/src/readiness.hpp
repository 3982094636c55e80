#pragma once

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "list_watch.hpp"
#include "storefleet/common/result.hpp"
#include "storefleet/common/shutdown.hpp"
#include "storefleet/kube/client.hpp"

namespace storefleet::provisioner {

// What one workload (Deployment, StatefulSet, Job) says about its store's readiness.
struct WorkloadState {
    bool ready = false;       // running every replica it wants (at least one)
    bool failed = false;      // a Job that failed for good
    std::string description;  // "deployment web (0/1 ready)", "job setup failed: ..."
    // Scaled to 0 (current generation) with no pod left: what a suspended store wants.
    bool stopped = false;
    std::string stop_description;  // "deployment web to stop (1 pod left)"
};

// kind: "deployments", "statefulsets" or "jobs". Pure, so each rule is unit-tested.
WorkloadState EvaluateWorkload(const std::string& kind, const nlohmann::json& object);

struct Readiness {
    bool ready = false;
    std::string waiting_for;  // what is not ready yet, for the timeline
};

// Ready when every workload is and there is at least one Deployment or StatefulSet; a
// failed Job is a permanent error naming the Job. A workload scaled to 0 is not ready: a
// store that is not suspended serves with every workload running.
// Suspended (the store converges to every workload at zero): ready when every Deployment
// and StatefulSet is stopped, and there is at least one; Jobs do not count (the setup Job ran
// when the store was created and is not run again).
Result<Readiness> CombineWorkloads(const std::string& ns,
                                   const std::vector<std::pair<std::string, WorkloadState>>& states,
                                   bool suspended = false);

// One shared view of every store's workloads, kept current by a list+watch per kind over
// all namespaces (label app.kubernetes.io/instance=store), instead of each store polling
// the API: at a thousand stores in flight that is three watches, not thousands of lists.
// Threads: one per kind; Check() and WaitForChange() from any thread.
//
// A watch asks the server to end it after `watch_timeout`; one still open well after that
// (watch_timeout plus an eighth, at least a second) is taken for a dead connection that
// nothing will close (a peer gone without a FIN or RST) and is dropped for a relist, so a
// store's readiness never hangs on a stream that stopped delivering.
class ReadinessWatcher {
public:
    ReadinessWatcher(kube::KubeApi& kube, const ShutdownFlag& shutdown,
                     std::chrono::seconds watch_timeout = std::chrono::seconds(240));
    ~ReadinessWatcher();
    ReadinessWatcher(const ReadinessWatcher&) = delete;
    ReadinessWatcher& operator=(const ReadinessWatcher&) = delete;

    // Before Start(): `also(kind)` gives handlers that read the same stream of that kind after
    // this watcher (DriftWatcher: one watch per kind, decision 0009). Empty ones: nothing.
    void Also(std::function<ListWatchHandlers(const std::string& kind)> also) {
        also_ = std::move(also);
    }
    void Start();
    // True once every kind has been listed; until then callers poll the API themselves.
    [[nodiscard]] bool Synced() const { return synced_kinds_.load() == 3; }
    Result<Readiness> Check(const std::string& ns, bool suspended = false);
    void WaitForChange(std::chrono::milliseconds timeout);

private:
    void Run(const std::string& kind, const std::string& collection_path);
    using Entry = std::pair<std::string, WorkloadState>;  // name, state
    // Replaces every cached object of `kind` with `entries` (namespace, entry).
    void Replace(const std::string& kind, std::vector<std::pair<std::string, Entry>>&& entries);
    void Apply(const std::string& kind, const std::string& type, const nlohmann::json& object);

    kube::KubeApi& kube_;
    const ShutdownFlag& shutdown_;
    const std::chrono::seconds watch_timeout_;
    std::mutex mutex_;
    std::condition_variable changed_;
    uint64_t version_ = 0;
    // namespace -> "kind/name" -> state
    std::map<std::string, std::map<std::string, WorkloadState>> workloads_;
    std::atomic<int> synced_kinds_{0};
    std::function<ListWatchHandlers(const std::string& kind)> also_;
    std::vector<std::thread> threads_;
};

}  // namespace storefleet::provisioner
