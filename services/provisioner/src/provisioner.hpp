#pragma once

#include <atomic>
#include <chrono>
#include <string>

#include "cancel.hpp"
#include "helm_runner.hpp"
#include "readiness.hpp"
#include "storefleet/common/result.hpp"
#include "storefleet/common/shutdown.hpp"
#include "storefleet/kube/client.hpp"
#include "storefleet/metrics/registry.hpp"
#include "storefleet/v1/events.pb.h"
#include "store_plan.hpp"
#include "storefleet/events/sequence.hpp"

namespace storefleet::provisioner {

// A store command as consumed from store-commands, with its place there. Commands are
// keyed by store id, so one store's commands share a partition and their offsets order
// them; the status events of a command are ordered after it by events::StatusSequence (storefleet/events/sequence.hpp).
struct Command {
    v1::Envelope envelope;
    int32_t partition = 0;
    int64_t offset = 0;
};

struct StatusUpdate {
    v1::StoreStatus status = v1::STORE_STATUS_PROVISIONING;
    std::string step;
    std::string reason;
    std::string url;
    std::string admin_url;
    std::string ns;
    // Where this update sits in its command: grows along the steps (< 4096), and `sub`
    // (< 256) orders repeated updates of one step.
    uint32_t step_index = 0;
    uint32_t sub = 0;
};

// What a tenant is told when its store fails at `step`: plain words. Helm's and the API
// server's own text name platform internals, so it stays in the provisioner's log.
std::string TenantReason(const Error& error, const std::string& step);

// The step index of the Failed status sent when the dispatcher gave up on a command: the
// highest there is, so it sorts after all of the command's other events.
inline constexpr uint32_t kGivenUpStepIndex = events::kMaxStepIndex;

// Where status changes go (Kafka in production, a recorder in tests). Emit() returns OK
// only when the update is durably accepted; it retries internally until `cancel` fires
// (shutdown included), then returns a "cancelled" error: a command that lost its store's
// lease, or was revoked, publishes nothing more.
class StatusSink {
public:
    virtual ~StatusSink() = default;
    virtual Status Emit(const Command& command, const StatusUpdate& update, const CancelToken& cancel) = 0;
};

struct ProvisionerOptions {
    std::string woocommerce_chart;
    std::string medusa_chart;
    std::string ingress_class;
    std::string ingress_namespace = "ingress-nginx";
    // The cluster has the local stack's real node: stores may ask for placement real-node.
    bool real_node = false;
    std::string url_scheme = "http";
    std::chrono::seconds store_deadline{900};
    std::chrono::milliseconds readiness_poll{1000};
    // A deletion whose namespace is still terminating after this says what holds it.
    std::chrono::seconds namespace_stuck_after{20};
    // Bound in each store namespace right after it is applied (empty name: no binding).
    ProvisionerIdentity identity;
    // How long a new RoleBinding may take to reach the API server's RBAC cache before the
    // store fails (it usually takes milliseconds).
    std::chrono::milliseconds access_wait{15'000};
};

// kFinished: done (commit). kCancelled: stopped by shutdown, a revoke or a newer command
// (see CancelToken::Reason). kRetry: could not act now (the store's lease was lost); the
// dispatcher runs it again later.
enum class Outcome { kFinished, kCancelled, kRetry };

// Runs one store command to its end, every step an idempotent "ensure", so a command
// replayed after a crash converges on the same store. Thread-safe: many tasks at once.
class StoreProvisioner {
public:
    // `watcher` may be null: readiness is then polled per store.
    StoreProvisioner(kube::KubeApi& kube, HelmRunner& helm, StatusSink& sink,
                     metrics::Registry& registry, ProvisionerOptions options,
                     ReadinessWatcher* watcher = nullptr);

    Outcome Provision(const Command& command, const CancelToken& cancel);
    Outcome Deprovision(const Command& command, const CancelToken& cancel);
    // The dispatcher gave up on the command (its handler failed `attempts` times; it goes to
    // the dead-letter topic): the store is told Failed with a reason, so it is not left
    // "provisioning" or "deleting" for good; a failed deletion may then be asked again. OK
    // once the status is published; an error if `cancel` fired first.
    Status ReportGivenUp(const Command& command, int attempts, const CancelToken& cancel);

    // Ready / not yet / failed for good, from the workloads in the store's namespace,
    // asked of the API directly (the watcher's cache answers the same question cheaper).
    Result<Readiness> CheckReadiness(const std::string& ns);

private:
    template <typename Fn>
    Status Ensure(const std::string& step, const CancelToken& cancel,
                  std::chrono::steady_clock::time_point deadline, Fn&& attempt);
    Status EnsureNamespace(const StoreSpec& spec, const std::string& ns, const CancelToken& cancel);
    // The RoleBinding of options_.identity in `ns`, then waits until the API server authorizes
    // with it. Nothing else is written in a store namespace before this returns Ok.
    Status EnsureAccess(const std::string& store_id, const std::string& ns, const CancelToken& cancel);
    Status EnsureGuardrails(const StoreSpec& spec, const std::string& ns);
    Status EnsureSecret(const StoreSpec& spec, const std::string& ns);
    Status WaitUntilReady(const std::string& ns, const CancelToken& cancel,
                          std::chrono::steady_clock::time_point deadline);
    Status WaitUntilNamespaceGone(const Command& command, const std::string& ns, const CancelToken& cancel,
                                  std::chrono::steady_clock::time_point deadline);
    Status Emit(const Command& command, const CancelToken& cancel, StatusUpdate update);
    void ObserveStep(const std::string& step, std::chrono::steady_clock::time_point since);

    kube::KubeApi& kube_;
    HelmRunner& helm_;
    StatusSink& sink_;
    metrics::Registry& registry_;
    ProvisionerOptions options_;
    ReadinessWatcher* watcher_;
};

}  // namespace storefleet::provisioner
