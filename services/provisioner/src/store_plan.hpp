#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

#include "storefleet/common/result.hpp"
#include "storefleet/v1/events.pb.h"

namespace storefleet::provisioner {

// Everything the provisioner derives from a store command (StoreRequested or
// StoreChangeRequested), as plain data: names, the guardrail objects and the chart values.
// Pure functions, so each rule is unit-tested.
struct StoreSpec {
    std::string store_id;
    std::string tenant_id;
    std::string name;
    std::string engine;  // "woocommerce" | "medusa"
    std::string plan;    // "small" | "medium" | "large"
    std::string host;
    std::string admin_email;
    bool real_node = false;  // placement "real-node": the local stack's real node
    // The generation of the desired state this command converges to (a StoreRequested: 1).
    uint64_t generation = 1;
    bool suspended = false;  // every workload at zero, data kept
    bool retry = false;      // run `generation` again although it may have converged
    // The store chart's version to install ("": the engine's default in the catalogue).
    std::string chart_version;
};

inline constexpr const char* kReleaseName = "store";
inline constexpr const char* kCredentialsSecret = "store-credentials";
// A store namespace is the provisioner's record of the store (ADR 0011): the newest
// generation a provisioner started converging, and the one the store converged to.
inline constexpr const char* kGenerationAnnotation = "storefleet.io/generation";
inline constexpr const char* kObservedGenerationAnnotation = "storefleet.io/observed-generation";
// The desired suspended flag of the generation being converged, written with the generation,
// so a drift check (drift.hpp) needs no Helm call: "true" / "false" (ADR 0012).
inline constexpr const char* kSuspendedAnnotation = "storefleet.io/suspended";
// A store's own drift mode (repair, warn, off), overriding STOREFLEET_DRIFT_MODE. Written by
// an operator, never by the provisioner.
inline constexpr const char* kDriftModeAnnotation = "storefleet.io/drift-mode";
// The offset on store-commands of the command the store converged with, written with
// observed-generation: a drift event's sequence sorts after that command's events (ADR 0012).
inline constexpr const char* kObservedCommandOffsetAnnotation =
    "storefleet.io/observed-command-offset";
// Written when a deletion starts (before Helm uninstalls anything): the store's objects going
// away from then on are the deletion's, not drift.
inline constexpr const char* kDeletingAnnotation = "storefleet.io/deleting";
// How many drift events were published since that command (reset to 0 by it).
inline constexpr const char* kDriftEventsAnnotation = "storefleet.io/drift-events";
// A digest of the out-of-sync text the last drift event published ("" or absent: in sync), so
// every replica, and one restarted, reports the same drift once (reset to "" by a command).
inline constexpr const char* kDriftReportedAnnotation = "storefleet.io/drift-reported";
// What the store's release rendered when it converged, as drift judges it (ReleaseExpectation
// in drift.hpp): its watched objects and their containers' images and resources, with the
// generation it was recorded for. Written with observed-generation (ADR 0012).
inline constexpr const char* kReleaseObjectsAnnotation = "storefleet.io/release-objects";

// From a StoreRequested (generation 1) or a StoreChangeRequested (its facts and its whole
// desired state); anything else, or a command that names no valid store, is a bad_command.
Result<StoreSpec> SpecFromEvent(const v1::Envelope& envelope);

// What a store namespace says about its store, read before a command changes anything.
struct StoreRecord {
    bool exists = false;
    bool terminating = false;          // an earlier deletion is removing it
    uint64_t generation = 0;           // storefleet.io/generation (0: none)
    uint64_t observed_generation = 0;  // storefleet.io/observed-generation (0: never converged)
};
// `ns` as the API server returned it; absent or malformed annotations read as 0.
StoreRecord RecordFromNamespace(const nlohmann::json& ns);

// What a command of `spec.generation` does to a store whose record is `record`.
enum class Convergence {
    kConverge,  // run the steps
    kStale,     // a newer generation was started already: finish, write and emit nothing
    kConverged  // already converged to this generation and no retry: finish likewise
};
Convergence Decide(const StoreSpec& spec, const StoreRecord& record);
// The failure status of a command: DEGRADED when a change (generation >= 2) of a store that
// had converged failed (it keeps serving what it served), FAILED otherwise.
v1::StoreStatus FailureStatus(uint64_t command_generation, const StoreRecord& record);
// A JSON merge patch that sets storefleet.io/observed-generation and, with a command offset
// (>= 0), storefleet.io/observed-command-offset, and resets storefleet.io/drift-events.
nlohmann::json ObservedGenerationPatch(uint64_t generation, int64_t command_offset = -1);

// "store-<store id>": one namespace per store, 42 characters, a valid DNS label.
std::string NamespaceFor(const std::string& store_id);

// The store namespace with its labels, storefleet.io/generation = spec.generation and
// storefleet.io/suspended = spec.suspended.
nlohmann::json NamespaceObject(const StoreSpec& spec, const std::string& ns);
nlohmann::json ResourceQuotaObject(const StoreSpec& spec, const std::string& ns);
nlohmann::json LimitRangeObject(const StoreSpec& spec, const std::string& ns);
// The web pods' port (the charts' container port "http"): 80 WordPress, 9000 Medusa.
int WebPort(const std::string& engine);
// The store database's port: PostgreSQL (Medusa) or MariaDB (WooCommerce).
int DatabasePort(const std::string& engine);
// Carried by the pods of a backup or restore Job (decision 14): its own NetworkPolicy
// (data-job-to-database) and none of default-deny's.
inline constexpr const char* kDataJobLabel = "storefleet.io/data-job";
// Three policies: default-deny (every pod, both directions; only in-namespace traffic and DNS
// to the kube-dns pods), allow-from-ingress-controller (that namespace to the web pods on
// WebPort only) and allow-web-egress (80/443 to public addresses, only for pods labelled
// storefleet.io/internet-egress=true: setup jobs that download plugins).
nlohmann::json::array_t NetworkPolicyObjects(const StoreSpec& spec, const std::string& ns,
                                             const std::string& ingress_namespace);

// The provisioner's own ServiceAccount and the ClusterRole with its in-store verbs, which it
// binds in each store namespace it creates (empty name: a credential that needs no binding,
// e.g. the admin certificate).
struct ProvisionerIdentity {
    std::string ns;
    std::string name;
    std::string store_role;
};
// RoleBinding <identity.name> in `ns`: identity.store_role to that ServiceAccount, nothing else
// (the admission fence refuses any other roleRef or subject).
nlohmann::json RoleBindingObject(const std::string& store_id, const std::string& ns,
                                 const ProvisionerIdentity& identity);
// "May I get secrets in ns?": true once this API server's RBAC cache has the RoleBinding.
nlohmann::json AccessReviewObject(const std::string& ns);
// The credentials Secret with freshly generated values; created once, never replaced.
nlohmann::json CredentialsSecretObject(const StoreSpec& spec, const std::string& ns);
nlohmann::json ChartValues(const StoreSpec& spec, const std::string& ingress_class);

}  // namespace storefleet::provisioner
