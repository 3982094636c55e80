#include "drift.hpp"

#include <algorithm>
#include <cctype>
#include <map>

#include "store_plan.hpp"
#include "storefleet/common/ids.hpp"
#include "storefleet/events/sequence.hpp"

namespace storefleet::provisioner {
namespace {

using nlohmann::json;

std::string Label(const json& metadata, const char* key) {
    const auto labels = metadata.value("labels", json::object());
    if (!labels.is_object() || !labels.contains(key) || !labels[key].is_string()) return "";
    return labels[key].get<std::string>();
}

std::string Annotation(const json& metadata, const char* key) {
    const auto annotations = metadata.value("annotations", json::object());
    if (!annotations.is_object() || !annotations.contains(key) || !annotations[key].is_string())
        return "";
    return annotations[key].get<std::string>();
}

int64_t OffsetAnnotation(const json& metadata) {
    const std::string text = Annotation(metadata, kObservedCommandOffsetAnnotation);
    if (text.empty() || text.size() > 18 ||
        text.find_first_not_of("0123456789") != std::string::npos)
        return -1;
    return std::stoll(text);
}

uint64_t CountAnnotation(const json& metadata) {
    const std::string text = Annotation(metadata, kDriftEventsAnnotation);
    if (text.empty() || text.size() > 18 ||
        text.find_first_not_of("0123456789") != std::string::npos)
        return 0;
    return std::stoull(text);
}

bool FieldCovers(std::string_view rule, std::string_view field) {
    if (rule == field) return true;
    return field.size() > rule.size() && field.substr(0, rule.size()) == rule &&
           (field[rule.size()] == '.' || field[rule.size()] == '[');
}

}  // namespace

std::optional<DriftMode> ParseDriftMode(std::string_view text) {
    if (text == "repair") return DriftMode::kRepair;
    if (text == "warn") return DriftMode::kWarn;
    if (text == "off") return DriftMode::kOff;
    return std::nullopt;
}

std::string_view DriftModeName(DriftMode mode) {
    switch (mode) {
        case DriftMode::kRepair:
            return "repair";
        case DriftMode::kWarn:
            return "warn";
        case DriftMode::kOff:
            return "off";
    }
    return "repair";
}

Result<std::vector<IgnoreRule>> ParseIgnoreRules(std::string_view text) {
    std::vector<IgnoreRule> rules;
    std::string current;
    auto flush = [&]() -> Status {
        if (current.empty()) return Status::Ok();
        const auto slash = current.find('/');
        if (slash == std::string::npos || slash == 0 || slash + 1 == current.size()) {
            return Error::Permanent("bad_config", "drift ignore rule '" + current +
                                                      "' is not Kind/field (e.g. "
                                                      "Deployment/spec.replicas)");
        }
        rules.push_back({current.substr(0, slash), current.substr(slash + 1)});
        current.clear();
        return Status::Ok();
    };
    for (const char c : text) {
        if (c == ',' || std::isspace(static_cast<unsigned char>(c)) != 0) {
            if (auto s = flush(); !s.ok()) return s.error();
        } else {
            current += c;
        }
    }
    if (auto s = flush(); !s.ok()) return s.error();
    return rules;
}

bool Ignored(const std::vector<IgnoreRule>& rules, std::string_view kind, std::string_view field) {
    return std::any_of(rules.begin(), rules.end(), [&](const IgnoreRule& rule) {
        return (rule.kind == "*" || rule.kind == kind) && FieldCovers(rule.field, field);
    });
}

DriftRecord DriftRecordFromNamespace(const json& ns) {
    DriftRecord record;
    if (!ns.is_object()) return record;
    record.exists = true;
    const StoreRecord store = RecordFromNamespace(ns);
    const auto metadata = ns.value("metadata", json::object());
    record.converged = !store.terminating && store.observed_generation >= 1 &&
                       store.observed_generation == store.generation &&
                       Annotation(metadata, kDeletingAnnotation).empty();
    const std::string suspended = Annotation(metadata, kSuspendedAnnotation);
    if (suspended == "true") record.suspended = true;
    if (suspended == "false") record.suspended = false;
    record.mode = ParseDriftMode(Annotation(metadata, kDriftModeAnnotation));
    record.store_id = Label(metadata, "storefleet.io/store-id");
    record.tenant_id = Label(metadata, "storefleet.io/tenant");
    record.engine = Label(metadata, "storefleet.io/engine");
    record.plan = Label(metadata, "storefleet.io/plan");
    record.generation = store.generation;
    record.observed_generation = store.observed_generation;
    record.command_offset = OffsetAnnotation(metadata);
    record.drift_events = CountAnnotation(metadata);
    record.reported = Annotation(metadata, kDriftReportedAnnotation);
    return record;
}

StoreSpec SpecFromRecord(const DriftRecord& record) {
    StoreSpec spec;
    spec.store_id = record.store_id;
    spec.tenant_id = record.tenant_id;
    spec.engine = record.engine;
    spec.plan = record.plan.empty() ? "small" : record.plan;
    spec.generation = record.generation;
    spec.suspended = record.suspended.value_or(false);
    return spec;
}

std::string DriftDigest(const std::string& out_of_sync) {
    return out_of_sync.empty() ? "" : Sha256Hex(out_of_sync).substr(0, 16);
}

uint64_t DriftSequence(int64_t command_offset, uint64_t n) {
    n = std::min(n, kMaxDriftEvents - 1);
    return events::StatusSequence(command_offset,
                                  kDriftFirstStepIndex + static_cast<uint32_t>(n >> 8),
                                  static_cast<uint32_t>(n & 0xFF));
}

DriftMode EffectiveMode(DriftMode platform, const DriftRecord& record) {
    return record.mode.value_or(platform);
}

std::optional<std::string> KindOfCollection(std::string_view collection) {
    static const std::map<std::string, std::string, std::less<>> kKinds = {
        {"deployments", "Deployment"},
        {"statefulsets", "StatefulSet"},
        {"services", "Service"},
        {"ingresses", "Ingress"},
        {"secrets", "Secret"},
        {"networkpolicies", "NetworkPolicy"},
        {"resourcequotas", "ResourceQuota"},
        {"limitranges", "LimitRange"},
        {"rolebindings", "RoleBinding"}};
    const auto it = kKinds.find(collection);
    if (it == kKinds.end()) return std::nullopt;
    return it->second;
}

std::optional<Drift> DeletedDrift(const std::string& kind, const std::string& name,
                                  const DriftRecord& record) {
    if (!record.exists || !record.converged) return std::nullopt;
    return Drift{kind, name, "deleted", kind + " " + name + " was deleted"};
}

std::vector<ExpectedObject> ExpectedGuardrails(const DriftRecord& record,
                                               const std::string& ingress_namespace) {
    std::vector<ExpectedObject> expected = {{"resourcequotas", "ResourceQuota", "store-quota"},
                                            {"limitranges", "LimitRange", "store-limits"}};
    const StoreSpec spec = SpecFromRecord(record);
    for (const auto& policy :
         NetworkPolicyObjects(spec, NamespaceFor(record.store_id), ingress_namespace)) {
        expected.push_back(
            {"networkpolicies", "NetworkPolicy", policy["metadata"].value("name", "")});
    }
    return expected;
}

std::optional<Drift> MissingDrift(const std::string& kind, const std::string& name,
                                  const DriftRecord& record) {
    if (!record.exists || !record.converged) return std::nullopt;
    return Drift{kind, name, "deleted", kind + " " + name + " is missing"};
}

std::optional<std::string> CollectionPath(const std::string& kind, const std::string& ns) {
    static const std::map<std::string, std::string, std::less<>> kPaths = {
        {"Deployment", "/apis/apps/v1/namespaces/{}/deployments"},
        {"StatefulSet", "/apis/apps/v1/namespaces/{}/statefulsets"},
        {"Service", "/api/v1/namespaces/{}/services"},
        {"Ingress", "/apis/networking.k8s.io/v1/namespaces/{}/ingresses"},
        {"NetworkPolicy", "/apis/networking.k8s.io/v1/namespaces/{}/networkpolicies"},
        {"ResourceQuota", "/api/v1/namespaces/{}/resourcequotas"},
        {"LimitRange", "/api/v1/namespaces/{}/limitranges"},
        {"RoleBinding", "/apis/rbac.authorization.k8s.io/v1/namespaces/{}/rolebindings"}};
    const auto it = kPaths.find(kind);
    if (it == kPaths.end()) return std::nullopt;
    std::string path = it->second;
    path.replace(path.find("{}"), 2, ns);
    return path;
}

bool StillDrifts(const Drift& drift, const json& live, const DriftRecord& record,
                 const std::string& ingress_namespace) {
    if (drift.field == "deleted" || live.is_null()) return live.is_null();
    if (drift.kind == "Deployment" || drift.kind == "StatefulSet")
        return !WorkloadDrift(drift.kind, live, record).empty();
    if (drift.kind == "NetworkPolicy" || drift.kind == "ResourceQuota" ||
        drift.kind == "LimitRange")
        return !GuardrailDrift(drift.kind, live, record, ingress_namespace).empty();
    if (drift.kind == "Namespace") {
        const auto now = NamespaceDrift(live);
        return std::any_of(now.begin(), now.end(),
                           [&](const Drift& found) { return found.field == drift.field; });
    }
    return true;
}

std::vector<Drift> WorkloadDrift(const std::string& kind, const json& object,
                                 const DriftRecord& record) {
    std::vector<Drift> drifts;
    // Unknown (a store converged before the annotation existed) is no drift: it may be suspended.
    if (!record.converged || !record.suspended.has_value() || *record.suspended) return drifts;
    const auto spec = object.value("spec", json::object());
    const auto replicas = spec.value("replicas", json(1));
    if (replicas.is_number_integer() && replicas.get<int64_t>() == 0) {
        const std::string name = object.value("metadata", json::object()).value("name", "");
        drifts.push_back({kind, name, "spec.replicas",
                          kind + " " + name + " was scaled to 0 while the store is not suspended"});
    }
    return drifts;
}

bool Contains(const json& live, const json& wanted) {
    if (wanted.is_object()) {
        if (!live.is_object()) return false;
        for (const auto& [key, value] : wanted.items()) {
            if (!live.contains(key) || !Contains(live[key], value)) return false;
        }
        return true;
    }
    if (wanted.is_array()) {
        if (!live.is_array() || live.size() != wanted.size()) return false;
        for (std::size_t i = 0; i < wanted.size(); ++i) {
            if (!Contains(live[i], wanted[i])) return false;
        }
        return true;
    }
    return live == wanted;
}

std::vector<Drift> GuardrailDrift(const std::string& kind, const json& object,
                                  const DriftRecord& record, const std::string& ingress_namespace) {
    std::vector<Drift> drifts;
    if (!record.converged) return drifts;
    const std::string name = object.value("metadata", json::object()).value("name", "");
    const StoreSpec spec = SpecFromRecord(record);
    const std::string ns = NamespaceFor(record.store_id);
    std::optional<json> wanted;
    if (kind == "ResourceQuota" && name == "store-quota") {
        wanted = ResourceQuotaObject(spec, ns)["spec"];
    } else if (kind == "LimitRange" && name == "store-limits") {
        wanted = LimitRangeObject(spec, ns)["spec"];
    } else if (kind == "NetworkPolicy") {
        for (const auto& policy : NetworkPolicyObjects(spec, ns, ingress_namespace)) {
            if (policy["metadata"]["name"] == name) wanted = policy["spec"];
        }
    }
    if (!wanted) return drifts;  // not one of ours: the chart's, or someone else's
    if (!Contains(object.value("spec", json::object()), *wanted)) {
        drifts.push_back(
            {kind, name, "spec",
             kind + " " + name + " was changed (its spec is not the " + spec.plan + " plan's)"});
    }
    return drifts;
}

std::vector<Drift> NamespaceDrift(const json& ns) {
    std::vector<Drift> drifts;
    const auto metadata = ns.value("metadata", json::object());
    const std::string name = metadata.value("name", "");
    for (const auto& [key, value] :
         {std::pair<const char*, const char*>{"pod-security.kubernetes.io/enforce", "restricted"},
          {"pod-security.kubernetes.io/enforce-version", "latest"},
          {"pod-security.kubernetes.io/warn", "restricted"},
          {"pod-security.kubernetes.io/audit", "restricted"}}) {
        const std::string live = Label(metadata, key);
        if (live == value) continue;
        drifts.push_back(
            {"Namespace", name, std::string("metadata.labels[") + key + "]",
             "Namespace " + name + " label " + key + " was " +
                 (live.empty() ? std::string("removed") : "changed to \"" + live + "\"")});
    }
    return drifts;
}

std::vector<Drift> Relevant(std::vector<Drift> drifts, const std::vector<IgnoreRule>& rules,
                            const DriftRecord& record) {
    if (!record.exists || !record.converged) return {};
    drifts.erase(
        std::remove_if(drifts.begin(), drifts.end(),
                       [&](const Drift& drift) { return Ignored(rules, drift.kind, drift.field); }),
        drifts.end());
    return drifts;
}

bool IsRepairable(const Drift& drift) {
    return !(drift.kind == "Secret" && drift.name == kCredentialsSecret);
}

std::string DriftText(const std::vector<Drift>& drifts, DriftMode mode) {
    std::string text;
    for (const auto& drift : drifts) {
        if (!text.empty()) text += ". ";
        text += drift.what;
        if (!IsRepairable(drift)) {
            text +=
                "; not re-created: the store's data was initialised with its values, restore "
                "it from a backup";
        } else if (mode == DriftMode::kRepair) {
            text += drift.field == "deleted" ? "; re-created" : "; restored";
        } else {
            text += "; not repaired (drift mode " + std::string(DriftModeName(mode)) + ")";
        }
    }
    return text;
}

}  // namespace storefleet::provisioner
