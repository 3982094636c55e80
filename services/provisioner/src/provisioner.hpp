#pragma once

#include <atomic>
#include <chrono>
#include <string>

#include "helm.hpp"
#include "readiness.hpp"
#include "storefleet/common/result.hpp"
#include "storefleet/common/shutdown.hpp"
#include "storefleet/kube/client.hpp"
#include "storefleet/metrics/registry.hpp"
#include "storefleet/v1/events.pb.h"
#include "store_plan.hpp"

namespace storefleet::provisioner {

struct StatusUpdate {
    v1::StoreStatus status = v1::STORE_STATUS_PROVISIONING;
    std::string step;
    std::string reason;
    std::string url;
    std::string admin_url;
    std::string ns;
};

// Where status changes go (Kafka in production, a recorder in tests). Emit() returns
// only when the update is durably accepted; it retries internally until `cancel`.
class StatusSink {
public:
    virtual ~StatusSink() = default;
    virtual Status Emit(const v1::Envelope& command, const StatusUpdate& update) = 0;
};

// Why a task should stop early: the process is shutting down, or a newer command for the
// same store (a deletion) superseded it.
class CancelToken {
public:
    explicit CancelToken(const ShutdownFlag& shutdown) : shutdown_(shutdown) {}
    void Supersede() { superseded_ = true; }
    [[nodiscard]] bool Superseded() const { return superseded_.load(); }
    [[nodiscard]] bool Cancelled() const { return superseded_.load() || shutdown_.Triggered(); }
    // Sleeps up to `duration`; true if cancelled meanwhile.
    bool Sleep(std::chrono::milliseconds duration) const;

private:
    const ShutdownFlag& shutdown_;
    std::atomic<bool> superseded_{false};
};

struct ProvisionerOptions {
    std::string woocommerce_chart;
    std::string medusa_chart;
    std::string ingress_class;
    std::string ingress_namespace = "ingress-nginx";
    std::string url_scheme = "http";
    std::chrono::seconds store_deadline{900};
    std::chrono::milliseconds readiness_poll{1000};
};

enum class Outcome { kFinished, kCancelled };

// Runs one store command to its end, every step an idempotent "ensure", so a command
// replayed after a crash converges on the same store. Thread-safe: many tasks at once.
class StoreProvisioner {
public:
    // `watcher` may be null: readiness is then polled per store.
    StoreProvisioner(kube::KubeApi& kube, HelmRunner& helm, StatusSink& sink,
                     metrics::Registry& registry, ProvisionerOptions options,
                     ReadinessWatcher* watcher = nullptr);

    Outcome Provision(const v1::Envelope& command, const CancelToken& cancel);
    Outcome Deprovision(const v1::Envelope& command, const CancelToken& cancel);

    // Ready / not yet / failed for good, from the workloads in the store's namespace,
    // asked of the API directly (the watcher's cache answers the same question cheaper).
    Result<Readiness> CheckReadiness(const std::string& ns);

private:
    template <typename Fn>
    Status Ensure(const std::string& step, const CancelToken& cancel,
                  std::chrono::steady_clock::time_point deadline, Fn&& attempt);
    Status EnsureNamespace(const StoreSpec& spec, const std::string& ns);
    Status EnsureGuardrails(const StoreSpec& spec, const std::string& ns);
    Status EnsureSecret(const StoreSpec& spec, const std::string& ns);
    Status WaitUntilReady(const std::string& ns, const CancelToken& cancel,
                          std::chrono::steady_clock::time_point deadline);
    Status WaitUntilNamespaceGone(const std::string& ns, const CancelToken& cancel,
                                  std::chrono::steady_clock::time_point deadline);
    void Emit(const v1::Envelope& command, StatusUpdate update);
    void ObserveStep(const std::string& step, std::chrono::steady_clock::time_point since);

    kube::KubeApi& kube_;
    HelmRunner& helm_;
    StatusSink& sink_;
    metrics::Registry& registry_;
    ProvisionerOptions options_;
    ReadinessWatcher* watcher_;
};

}  // namespace storefleet::provisioner
