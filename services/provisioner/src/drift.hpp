#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store_plan.hpp"
#include "storefleet/common/result.hpp"

namespace storefleet::provisioner {

// Drift: a converged store's objects no longer say what its release and guardrails say
// (docs/decisions/0012-drift-repair.md). Everything here is pure, so each rule is unit-tested;
// the watches that feed it and the repair that acts on it are elsewhere.

// repair (default): re-create and re-apply; warn: report only (the store shows out of sync);
// off: neither.
enum class DriftMode { kRepair, kWarn, kOff };
std::optional<DriftMode> ParseDriftMode(std::string_view text);
std::string_view DriftModeName(DriftMode mode);

// "Kind/field.path" (e.g. "Deployment/spec.replicas"): a field others own, never drift. The
// kind may be "*"; a field rule also covers the fields under it ("Deployment/spec.template"
// covers the image and resources). "NetworkPolicy/deleted" ignores deletions of that kind.
struct IgnoreRule {
    std::string kind;
    std::string field;
};
// Comma- or whitespace-separated rules; a rule without "Kind/" is a ConfigError-worthy error.
Result<std::vector<IgnoreRule>> ParseIgnoreRules(std::string_view text);
bool Ignored(const std::vector<IgnoreRule>& rules, std::string_view kind, std::string_view field);

// What a store namespace says for drift checks (labels and annotations the provisioner wrote).
struct DriftRecord {  // NOLINT(bugprone-exception-escape): json's implicit members; nothing
                      // here throws on move
    bool exists = false;
    // Converged and nothing converging it: observed-generation >= 1, equal to generation, the
    // namespace is not terminating and no deletion started (storefleet.io/deleting). Anything
    // else is the provisioner's business, not drift.
    bool converged = false;
    std::optional<bool> suspended;  // storefleet.io/suspended; none: written before drift
    std::optional<DriftMode> mode;  // storefleet.io/drift-mode, when valid
    std::string store_id, tenant_id, engine, plan;
    uint64_t generation = 0, observed_generation = 0;
    // storefleet.io/observed-command-offset (-1: none, a store converged before drift) and
    // storefleet.io/drift-events: where a drift event's sequence goes (DriftSequence).
    int64_t command_offset = -1;
    uint64_t drift_events = 0;
    std::string reported;  // storefleet.io/drift-reported: DriftDigest of the last report
    // storefleet.io/release-objects' "objects" ("Kind/name" -> {"containers": [...],
    // "initContainers": [...]} for workloads, {} otherwise), only when it was recorded for the
    // generation the store converged to; null otherwise (nothing judged against the release).
    nlohmann::json release;
};
DriftRecord DriftRecordFromNamespace(const nlohmann::json& ns);
DriftMode EffectiveMode(DriftMode platform, const DriftRecord& record);

// One difference, in words that name the object and what changed.
struct Drift {
    std::string kind;   // "NetworkPolicy", "Deployment", "Namespace", ...
    std::string name;   // the object's name
    std::string field;  // "deleted", "spec.replicas", "spec", "metadata.labels[...]", ...
    std::string what;   // "NetworkPolicy default-deny was deleted"
};

// The kinds whose deletion is drift, by API collection ("networkpolicies") to kind.
std::optional<std::string> KindOfCollection(std::string_view collection);

// A store object deleted (DELETED from a watch, or missing at a safety-net GET).
std::optional<Drift> DeletedDrift(const std::string& kind, const std::string& name,
                                  const DriftRecord& record);
// The guardrail objects a converged store must have, as (API collection, kind, name): its
// ResourceQuota, LimitRange and NetworkPolicies (store_plan). The chart's objects are not
// here: their names are the release's, which only Helm knows.
struct ExpectedObject {
    std::string collection, kind, name;
};
std::vector<ExpectedObject> ExpectedGuardrails(const DriftRecord& record,
                                               const std::string& ingress_namespace);
// What the release rendered, from the helm agent's `manifest` summary ({"revision": N,
// "objects": [{"kind", "name", "namespace", "instance", "containers", "initContainers"}]}): the
// value of storefleet.io/release-objects for `generation`. Only what the watches can see and a
// Helm repair can undo is kept: Deployments, StatefulSets, Services and Ingresses labelled
// app.kubernetes.io/instance=store in namespace `ns`, and of each workload's containers their
// name, image and resources' requests and limits.
nlohmann::json ReleaseExpectation(const nlohmann::json& manifest, uint64_t generation,
                                  const std::string& ns);
// Everything a converged store must have that the watches can see: its guardrails, the
// release's objects (when recorded for its generation) and, when `rolebinding` is not empty,
// the provisioner's RoleBinding of that name.
std::vector<ExpectedObject> ExpectedObjects(const DriftRecord& record,
                                            const std::string& ingress_namespace,
                                            const std::string& rolebinding);
// An expected object that the watch's list does not have (deleted while no provisioner ran).
std::optional<Drift> MissingDrift(const std::string& kind, const std::string& name,
                                  const DriftRecord& record);
// The namespaced collection path of a kind whose drift a repair confirms first
// ("/apis/networking.k8s.io/v1/namespaces/<ns>/networkpolicies"); none for the others.
std::optional<std::string> CollectionPath(const std::string& kind, const std::string& ns);
// Whether `drift`, found in the watches' cache, still holds against the object as the API has
// it now (`live` null: it does not exist). The cache of one replica may lag behind another
// replica's repair; a repair acts only on what is confirmed.
bool StillDrifts(const Drift& drift, const nlohmann::json& live, const DriftRecord& record,
                 const std::string& ingress_namespace);

// A Deployment or StatefulSet (whole object, or WorkloadFacts of it) of a converged store: at
// 0 replicas while the store is not suspended; a container the release renders gone; an image
// or a resource request or limit the release renders changed. Only what the release rendered
// is compared (record.release), and only what Helm's three-way merge puts back: a container,
// resource or annotation added by hand (kubectl rollout restart's restartedAt) is no drift,
// and quantities are compared by value ("0.5" is "500m"), as the API server writes them.
std::vector<Drift> WorkloadDrift(const std::string& kind, const nlohmann::json& object,
                                 const DriftRecord& record);
// What the watch keeps of a workload, in the object's own shape: its name, spec.replicas and
// its pod template's containers' and init containers' name, image and resources.
nlohmann::json WorkloadFacts(const nlohmann::json& object);
// A Kubernetes quantity ("500m", "1.5Gi", "2e3", or a JSON number) as a number; none when it is
// not one.
std::optional<long double> ParseQuantity(const nlohmann::json& quantity);
// A ResourceQuota, LimitRange or NetworkPolicy (whole object) whose spec is not what
// store_plan makes for the store's plan. Fields the API server defaults are tolerated: the
// wanted spec must be contained in the live one, and lists must have the same length.
std::vector<Drift> GuardrailDrift(const std::string& kind, const nlohmann::json& object,
                                  const DriftRecord& record, const std::string& ingress_namespace);
// The store namespace's Pod Security labels are not restricted/latest.
std::vector<Drift> NamespaceDrift(const nlohmann::json& ns);
// `drifts` without what `rules` ignore, and none at all for a store not converged.
std::vector<Drift> Relevant(std::vector<Drift> drifts, const std::vector<IgnoreRule>& rules,
                            const DriftRecord& record);

// What a repair may undo: all but a deleted credentials Secret, whose values the store's data
// was initialised with (a new one would lock the store out of its own database).
bool IsRepairable(const Drift& drift);

// The timeline text: "NetworkPolicy default-deny was deleted; re-created" (repair) or
// "...; not repaired (drift mode warn)" (warn), several joined by ". ".
std::string DriftText(const std::vector<Drift>& drifts, DriftMode mode);

// A short digest of an out-of-sync text for storefleet.io/drift-reported ("" for "").
std::string DriftDigest(const std::string& out_of_sync);

// The sequence of the `n`th drift event (0-based) after the command at `command_offset`: above
// every step of that command (its steps use small indexes) and below its given-up report
// (events::kMaxStepIndex), so it sorts after the command's events and before the next command.
inline constexpr uint32_t kDriftFirstStepIndex = 0x800;
uint64_t DriftSequence(int64_t command_offset, uint64_t n);
// How many drift events fit after one command before the given-up index.
inline constexpr uint64_t kMaxDriftEvents = uint64_t{0xFFF - kDriftFirstStepIndex} << 8;

// The StoreSpec fields a store namespace records (ids, engine, plan, generation, suspended):
// enough for its namespace and guardrail objects.
StoreSpec SpecFromRecord(const DriftRecord& record);

// True when `wanted` is contained in `live`: every key of an object equal, lists of the same
// length element by element; scalars equal.
bool Contains(const nlohmann::json& live, const nlohmann::json& wanted);

}  // namespace storefleet::provisioner
