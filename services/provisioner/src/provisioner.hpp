#pragma once

#include <atomic>
#include <chrono>
#include <string>

#include "admission_permit.hpp"
#include "cancel.hpp"
#include "command.hpp"
#include "drift.hpp"
#include "helm_runner.hpp"
#include "readiness.hpp"
#include "status_publisher.hpp"
#include "store_plan.hpp"
#include "storefleet/common/result.hpp"
#include "storefleet/events/chart_catalogue.hpp"
#include "storefleet/events/sequence.hpp"
#include "storefleet/kube/client.hpp"
#include "storefleet/metrics/registry.hpp"

namespace storefleet::provisioner {

// What a tenant is told when its store fails at `step`: plain words. Helm's and the API
// server's own text name platform internals, so it stays in the provisioner's log.
std::string TenantReason(const Error& error, const std::string& step);

// The step index of the Failed status sent when the dispatcher gave up on a command: the
// highest there is, so it sorts after all of the command's other events.
inline constexpr uint32_t kGivenUpStepIndex = events::kMaxStepIndex;

struct ProvisionerOptions {
    // The store chart versions it can install (build/chart-catalogue, ChartCatalogue).
    events::ChartCatalogue charts;
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

// Runs one store command to its end, every step an idempotent "ensure", so a command
// replayed after a crash converges on the same store. Thread-safe: many tasks at once.
//
// Provision() converges a store to the generation of its command (StoreRequested: 1;
// StoreChangeRequested: its own), with the store namespace as the record (ADR 0011): it reads
// storefleet.io/generation and storefleet.io/observed-generation first; a stale command (an
// older generation than one already started) and one already converged (no retry) finish at
// once, writing and emitting nothing. Otherwise the namespace apply writes the generation,
// the steps run, Ready (or Suspended) is emitted with observed_generation, and only then is
// observed-generation written, so a crash in between runs the command again instead of
// losing its status. A failed change of a store that had converged is Degraded, not Failed.
class StoreProvisioner {
public:
    // `watcher` may be null: readiness is then polled per store.
    StoreProvisioner(kube::KubeApi& kube, HelmRunner& helm, StatusPublisher& statuses,
                     metrics::Registry& registry, ProvisionerOptions options,
                     ReadinessWatcher* watcher = nullptr);

    // `permit` is given back once the API-heavy steps are done, before readiness is awaited.
    CommandOutcome Provision(const Command& cmd, const CancelToken& cancel,
                             AdmissionPermit& permit);
    CommandOutcome Deprovision(const Command& cmd, const CancelToken& cancel);
    // A backup or a restore of the store's database (StoreBackupRequested,
    // StoreRestoreRequested; data_job.hpp, decision 14): a Job in the store's namespace on the
    // database's image, awaited, its outcome published as StoreBackupStatusChanged, then the Job
    // deleted. A replay finds the Job by name and awaits it again.
    CommandOutcome RunDataCommand(const Command& cmd, const CancelToken& cancel);
    // The dispatcher gave up on the command (its handler failed `attempts` times; it goes to
    // the dead-letter topic): the store is told Failed with a reason, so it is not left
    // "provisioning" or "deleting" for good; a failed deletion may then be asked again. OK
    // once the status is published; an error if `cancel` fired first.
    Status ReportGivenUp(const Command& cmd, int attempts, const CancelToken& cancel);

    // Drift repair of a converged store (docs/decisions/0012-drift-repair.md): its RoleBinding
    // first (nothing else is written before it), then what `drifts` name: the namespace (its
    // labels and annotations re-applied), the guardrails at the recorded plan, and the Helm
    // release (the agent's repair) for the chart's objects. The caller holds the store's lease.
    // A deleted credentials Secret is never re-created here: the store's data was initialised
    // with its values (IsRepairable).
    Status RepairDrift(const DriftRecord& record, const std::vector<Drift>& drifts,
                       const CancelToken& cancel);

    // What drift judges the store's chart objects against (ReleaseExpectation), read from the
    // helm agent for a store converged to `generation`; an error when it cannot be read
    // ("unsupported": the Helm runner cannot tell). Written with observed-generation at
    // convergence (none written: nothing is judged against the release).
    Result<nlohmann::json> ReleaseRecord(const std::string& ns, uint64_t generation,
                                         const CancelToken& cancel);
    // The safety net's backfill for a store converged without that record (before it existed,
    // or the agent did not answer): reads it and merge-patches it on the namespace, with
    // `resource_version` as a precondition (a command that started meanwhile wins: 409).
    Status RecordRelease(const std::string& ns, uint64_t generation,
                         const std::string& resource_version, const CancelToken& cancel);

    // Ready / not yet / failed for good, from the workloads in the store's namespace,
    // asked of the API directly (the watcher's cache answers the same question cheaper).
    Result<Readiness> CheckReadiness(const std::string& ns, bool suspended = false);

private:
    template <typename Fn>
    Status Ensure(const std::string& step, const CancelToken& cancel,
                  std::chrono::steady_clock::time_point deadline, Fn&& attempt);
    // The store's record: its namespace's generation annotations (none: not found).
    Result<StoreRecord> ReadRecord(const std::string& ns);
    Status EnsureNamespace(const StoreSpec& spec, const std::string& ns, const CancelToken& cancel);
    // The RoleBinding of options_.identity in `ns`, then waits until the API server authorizes
    // with it. Nothing else is written in a store namespace before this returns Ok.
    Status EnsureAccess(const std::string& store_id, const std::string& ns,
                        const CancelToken& cancel);
    Status EnsureGuardrails(const StoreSpec& spec, const std::string& ns);
    Status EnsureSecret(const StoreSpec& spec, const std::string& ns);
    // `use_watcher`: the shared watch may answer. A change asks the API itself: the watch may
    // not have seen the upgrade yet and still hold the workloads as they were, ready.
    Status WaitUntilReady(const std::string& ns, bool suspended, bool use_watcher,
                          const CancelToken& cancel,
                          std::chrono::steady_clock::time_point deadline);
    Status WaitUntilNamespaceGone(const Command& command, const std::string& ns,
                                  const CancelToken& cancel,
                                  std::chrono::steady_clock::time_point deadline);
    Status Emit(const Command& command, const CancelToken& cancel, StatusUpdate update);
    void ObserveStep(const std::string& step, std::chrono::steady_clock::time_point since);

    kube::KubeApi& kube_;
    HelmRunner& helm_;
    StatusPublisher& statuses_;
    metrics::Registry& registry_;
    ProvisionerOptions options_;
    ReadinessWatcher* watcher_;
};

}  // namespace storefleet::provisioner
