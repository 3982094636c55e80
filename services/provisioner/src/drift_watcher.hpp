#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cancel.hpp"
#include "drift.hpp"
#include "list_watch.hpp"
#include "storefleet/common/shutdown.hpp"
#include "storefleet/kafka/publisher.hpp"
#include "storefleet/kube/client.hpp"
#include "storefleet/metrics/registry.hpp"

namespace storefleet::provisioner {

class StoreLeases;
class StoreProvisioner;

struct DriftOptions {
    DriftMode mode = DriftMode::kRepair;  // STOREFLEET_DRIFT_MODE
    std::vector<IgnoreRule> ignore;       // STOREFLEET_DRIFT_IGNORE
    std::string ingress_namespace = "ingress-nginx";
    // The provisioner's RoleBinding in each store (its identity's name; empty: none expected).
    std::string rolebinding;
    // Stores acted on at once (STOREFLEET_DRIFT_MAX_REPAIRS).
    std::size_t max_repairs = 4;
    // A store is looked at this long after its first drifting event, so that a deletion of the
    // whole namespace (its objects' DELETED events come first) or a command's own changes
    // settle before anything is judged.
    std::chrono::milliseconds settle{2000};
    std::chrono::seconds watch_timeout{240};
    // The safety net: each store compared once per `resync` (STOREFLEET_DRIFT_RESYNC_SECONDS,
    // 0: off), spread evenly with jitter, never more than `resync_rate` stores a second
    // (STOREFLEET_DRIFT_RESYNC_RATE).
    std::chrono::seconds resync{3600};
    double resync_rate = 5.0;
};

// The stores' objects as the watches last saw them, and which stores drift (ADR 0012). Fed by
// one cluster-wide, label-selected list+watch per kind: namespaces, NetworkPolicies,
// ResourceQuotas, LimitRanges and RoleBindings (label storefleet.io/store-id), Services and
// Ingresses (app.kubernetes.io/instance=store), and, through ReadinessWatcher::Also, the
// readiness watcher's Deployments and StatefulSets (no second watch of those). Secrets are never
// watched cluster-wide (decision 0009): the safety net GETs each store's credentials Secret.
// It keeps facts only (names, replicas, guardrail specs, the namespace's record), decides with
// drift.hpp's pure functions, and hands each drifting store, once settled, to Next().
class DriftWatcher {
public:
    DriftWatcher(kube::KubeApi& kube, const ShutdownFlag& shutdown, DriftOptions options);
    ~DriftWatcher();
    DriftWatcher(const DriftWatcher&) = delete;
    DriftWatcher& operator=(const DriftWatcher&) = delete;

    // For ReadinessWatcher::Also: the handlers of "deployments" and "statefulsets".
    ListWatchHandlers Handlers(const std::string& collection);
    void Start();
    // True once every kind (its own and the readiness watcher's two) has been listed.
    [[nodiscard]] bool Synced();

    // The next store to act on and what drifts there (by the watches, with its record as the
    // watches saw it); waits for one to settle. False at shutdown.
    bool Next(std::string& ns, std::vector<Drift>& drifts);
    // The store taken with Next() is done. With `again` (a failed repair, an API that did not
    // answer) it is queued again after a pause; otherwise only if an event changed it
    // meanwhile, or by a later one: a drift reported, or repaired, is not looked at in a loop.
    void Done(const std::string& ns, bool again = false);
    // What drifts in `ns` by the watches' cache, judged with `record` (fresh from the API).
    std::vector<Drift> Current(const std::string& ns, const DriftRecord& record);
    // The record as the namespace watch last saw it (exists false: unknown).
    DriftRecord Record(const std::string& ns);
    // Queues `ns` now (the safety net, after its own checks found `extra`).
    void Enqueue(const std::string& ns, std::vector<Drift> extra = {});
    // Waiting in the queue (for tests).
    bool Queued(const std::string& ns);
    // Every store namespace the namespace watch knows.
    std::vector<std::string> Stores();

    // The watch streams' entry points (public for tests, which feed them directly).
    void ListBegin(const std::string& collection);
    void Listed(const std::string& collection, const nlohmann::json& object);
    void ListEnd(const std::string& collection);
    void Event(const std::string& collection, const std::string& type,
               const nlohmann::json& object);

private:
    struct Store {  // NOLINT(bugprone-exception-escape): json's implicit members; nothing here
                    // throws on move
        nlohmann::json ns;  // the namespace's metadata (null: not seen)
        // "Kind/name" -> facts: WorkloadFacts' spec for workloads (replicas, the pod template's
        // containers), the spec for guardrails, null otherwise.
        std::map<std::string, nlohmann::json> objects;
        std::map<std::string, Drift> deleted;  // "Kind/name" seen, then deleted
        std::vector<Drift> extra;              // found by the safety net
    };
    std::vector<Drift> CurrentLocked(const Store& store, const DriftRecord& record) const;
    void Put(const std::string& collection, const nlohmann::json& object);
    void Remove(const std::string& collection, const nlohmann::json& object);
    // Queues the store if it drifts and is not queued or being acted on.
    void MaybeQueueLocked(const std::string& ns);

    kube::KubeApi& kube_;
    const ShutdownFlag& shutdown_;
    DriftOptions options_;
    std::mutex mutex_;
    std::condition_variable changed_;
    std::map<std::string, Store> stores_;  // by namespace
    // During a list: the keys ("ns\nKind/name") of that collection seen before it began.
    std::map<std::string, std::set<std::string>> listing_;
    std::set<std::string> synced_;
    std::map<std::string, std::chrono::steady_clock::time_point> queued_;  // ns -> due
    std::set<std::string> busy_;
    std::set<std::string> changed_while_busy_;
    std::vector<std::thread> threads_;
};

// Acts on drifting stores, `max_repairs` at once: takes the store's lease (as a command
// does), reads its namespace again, and repairs, reports or ignores by its drift mode, with a
// StoreStatusChanged naming what changed (status ready or suspended; `drift` set while it is
// not repaired) and storefleet_provisioner_drift_total{kind,action}. Also runs the safety net.
class DriftRepairer {
public:
    DriftRepairer(kube::KubeApi& kube, DriftWatcher& watcher, StoreLeases& leases,
                  StoreProvisioner& provisioner, kafka::EventPublisher& publisher,
                  metrics::Registry& registry, const ShutdownFlag& shutdown, DriftOptions options);
    ~DriftRepairer();
    DriftRepairer(const DriftRepairer&) = delete;
    DriftRepairer& operator=(const DriftRepairer&) = delete;

    void Start();
    // One store, as a worker does it (public for tests). True when it should be looked at
    // again later (a repair failed, the API did not answer).
    bool Handle(const std::string& ns);
    // One safety-net comparison of a store: its namespace and credentials Secret from the API,
    // the rest from the watches' cache; queues it when it drifts. Returns the API requests made.
    int Resync(const std::string& ns);

private:
    void Worker();
    void SafetyNet();
    Status Publish(const DriftRecord& record, const std::string& reason, const std::string& drift,
                   const CancelToken& cancel);
    // `drifts` (from the watches' cache) without those the API no longer shows: one list by
    // name per object named, the namespace as just read.
    Result<std::vector<Drift>> Confirm(const std::string& ns, const nlohmann::json& live_ns,
                                       const DriftRecord& record, std::vector<Drift> drifts);

    kube::KubeApi& kube_;
    DriftWatcher& watcher_;
    StoreLeases& leases_;
    StoreProvisioner& provisioner_;
    kafka::EventPublisher& publisher_;
    metrics::Registry& registry_;
    const ShutdownFlag& shutdown_;
    DriftOptions options_;
    std::vector<std::thread> threads_;
};

}  // namespace storefleet::provisioner
