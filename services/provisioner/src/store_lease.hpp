#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "cancel.hpp"
#include "storefleet/common/result.hpp"
#include "storefleet/common/shutdown.hpp"
#include "storefleet/kube/client.hpp"
#include "storefleet/metrics/registry.hpp"

namespace storefleet::provisioner {

struct LeaseOptions {
    std::string lease_namespace = "storefleet-leases";
    // This replica's stable name (the Kafka group.instance.id), may be empty.
    std::string instance_id;
    // How long a lease holds without renewal; renewed every third of it.
    std::chrono::seconds duration{15};
    std::chrono::milliseconds poll{1000};
    // Leases renewed at once (a slow API server must not make a round outlast the lease).
    std::size_t renew_parallelism = 8;
};

// One runner per store, whatever the consumer group believes for a moment: a store's
// command runs only while this process holds the Kubernetes Lease "store-<id>" in the
// lease namespace. Partition ownership alone is not enough: during a rebalance, or when a
// replica stalls past its session, two replicas may both think a partition is theirs.
//
// Acquire() blocks until the lease is free, expired, or already ours, then a keeper thread
// renews it every duration/3, many leases at once (`renew_parallelism`). Within this process
// a store has one task at a time too: a second Acquire of the same store waits until the
// first task released it, so a task left running past a revoke's drain timeout and a new one
// given the same store never act together, and neither releases the other's lease.
//
// Losing it: if a renewal finds another holder, or no renewal has succeeded for two thirds of
// the duration (counted from when the last successful renewal was sent, so it errs early),
// the holder's CancelToken gets kLeaseLost: it stops acting on the store and retries later.
// A taker waits a whole duration, so the holder stops a third of a duration before anyone
// else may start; the lease's API calls should time out within a third of the duration
// (main gives them their own client). An expired lease is taken over only after it was
// seen unchanged for a whole duration on our own clock, so no clocks are compared between
// machines. A lease held by an earlier run of the same replica (same instance id, which
// Kafka's static membership makes unique) is taken over at once, so a replica restarted
// after kill -9 resumes its stores without waiting. Releasing deletes the lease.
//
// Thread-safe: workers acquire and release; one keeper thread renews.
class StoreLeases {
public:
    class Held;

    StoreLeases(kube::KubeApi& kube, LeaseOptions options, metrics::Registry& registry);
    ~StoreLeases();
    StoreLeases(const StoreLeases&) = delete;
    StoreLeases& operator=(const StoreLeases&) = delete;

    // Creates the lease namespace if it is missing.
    Status EnsureNamespace();
    // EnsureNamespace, retried with backoff while the API server is unavailable (the lease
    // namespace must exist before any store runs): OK, a permanent error, or "cancelled" at
    // shutdown.
    Status WaitForNamespace(const ShutdownFlag& shutdown);
    void Start();
    void Stop();

    // Blocks until this process holds the store's lease; a "cancelled" error if `cancel`
    // fired first. Keep the returned handle while acting on the store.
    Result<std::unique_ptr<Held>> Acquire(const std::string& store_id, const CancelToken& cancel);

    [[nodiscard]] const std::string& identity() const { return identity_; }

private:
    struct Entry {
        nlohmann::json object;  // the lease as last written by us
        const CancelToken* cancel = nullptr;
        // When the last successful write of the lease was sent (the server wrote it later).
        std::chrono::steady_clock::time_point renew_sent;
        uint64_t serial = 0;  // tells this holding apart from a later one of the same store
    };

    std::string LeasePath(const std::string& store_id) const;
    nlohmann::json NewLease(const std::string& store_id) const;
    bool MayTakeOver(const std::string& holder) const;
    // Waits until no other task of this process acts on the store; false if cancelled.
    bool Claim(const std::string& store_id, const CancelToken& cancel);
    void Unclaim(const std::string& store_id);
    void Release(const std::string& store_id);
    void KeeperLoop();
    // Cancels the holders whose lease may expire before it is renewed.
    void StopOverdue();
    // One renewal of every held lease, `renew_parallelism` at a time.
    void RenewAll();
    void Renew(const std::string& store_id, nlohmann::json object, uint64_t serial);

    kube::KubeApi& kube_;
    LeaseOptions options_;
    std::string identity_;
    std::mutex mutex_;
    std::map<std::string, Entry> held_;
    std::set<std::string> claimed_;  // stores a task of this process acquires or holds
    uint64_t next_serial_ = 1;
    ShutdownFlag stop_;
    std::thread keeper_;
    metrics::Gauge& held_gauge_;
    metrics::Counter& lost_;
    metrics::Counter& takeovers_;
    metrics::Counter& waits_;
    metrics::Histogram& renew_round_seconds_;
};

// Held while a command acts on its store; releases the lease when destroyed.
class StoreLeases::Held {
public:
    Held(StoreLeases& owner, std::string store_id)
        : owner_(owner), store_id_(std::move(store_id)) {}
    // Release() logs its own failures; a throw (out of memory) must not escape a destructor.
    ~Held() {
        try {
            owner_.Release(store_id_);
        } catch (...) {
        }
    }
    Held(const Held&) = delete;
    Held& operator=(const Held&) = delete;

private:
    StoreLeases& owner_;
    std::string store_id_;
};

// "2026-11-28T12:00:00.123456Z": the MicroTime format of Lease times.
std::string MicroTimeNow();

}  // namespace storefleet::provisioner
