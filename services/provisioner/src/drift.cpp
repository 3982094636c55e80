#include "drift.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
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

// The kinds of a release's objects that the watches see, by kind to API collection.
const std::map<std::string, std::string, std::less<>>& ReleaseKinds() {
    static const std::map<std::string, std::string, std::less<>> kKinds = {
        {"Deployment", "deployments"},
        {"StatefulSet", "statefulsets"},
        {"Service", "services"},
        {"Ingress", "ingresses"}};
    return kKinds;
}

bool IsWorkload(std::string_view kind) { return kind == "Deployment" || kind == "StatefulSet"; }

// A container as drift compares it: name, image, and resources' requests and limits (claims
// and the rest are not judged).
json ContainerFacts(const json& container) {
    json facts = {{"name", container.value("name", "")}};
    if (container.contains("image") && container["image"].is_string())
        facts["image"] = container["image"];
    const auto resources = container.value("resources", json::object());
    if (resources.is_object()) {
        json kept = json::object();
        for (const char* section : {"requests", "limits"}) {
            if (resources.contains(section) && resources[section].is_object() &&
                !resources[section].empty())
                kept[section] = resources[section];
        }
        if (!kept.empty()) facts["resources"] = std::move(kept);
    }
    return facts;
}

json ContainersFacts(const json& containers) {
    json out = json::array();
    if (!containers.is_array()) return out;
    for (const auto& container : containers) {
        if (container.is_object()) out.push_back(ContainerFacts(container));
    }
    return out;
}

std::string QuantityText(const json& quantity) {
    return quantity.is_string() ? quantity.get<std::string>() : quantity.dump();
}

bool SameQuantity(const json& live, const json& wanted) {
    if (live == wanted) return true;
    const auto a = ParseQuantity(live);
    const auto b = ParseQuantity(wanted);
    if (!a || !b) return false;
    // The API server writes a quantity in its canonical form ("0.5" -> "500m", "1024Mi" ->
    // "1Gi"): equal values, possibly a rounding apart once parsed.
    return std::fabs(*a - *b) <= 1e-9L * std::max(std::fabs(*a), std::fabs(*b));
}

// What differs between the resources the release renders and the live ones: "limits.cpu 2 (the
// release has 500m)", "requests.memory removed (the release has 256Mi)". Keys only live has are
// not judged (Helm's three-way merge does not remove them).
std::string ResourceDifferences(const json& live, const json& wanted) {
    std::string out;
    for (const auto& [section, quantities] : wanted.items()) {
        if (!quantities.is_object()) continue;
        const json live_section =
            live.is_object() ? live.value(section, json::object()) : json::object();
        for (const auto& [resource, quantity] : quantities.items()) {
            const bool present = live_section.is_object() && live_section.contains(resource);
            if (present && SameQuantity(live_section[resource], quantity)) continue;
            if (!out.empty()) out += ", ";
            out += section + "." + resource + " " +
                   (present ? QuantityText(live_section[resource]) : std::string("removed")) +
                   " (the release has " + QuantityText(quantity) + ")";
        }
    }
    return out;
}

// The containers of one list ("containers", "initContainers") against what the release renders.
void ContainerDrift(const std::string& kind, const std::string& name, const std::string& list,
                    const json& live_template_spec, const json& wanted, std::vector<Drift>& out) {
    const json live = live_template_spec.value(list, json::array());
    const std::string noun = list == "containers" ? "container " : "init container ";
    for (const auto& expected : wanted) {
        const std::string container = expected.value("name", "");
        const std::string field = "spec.template.spec." + list + "[" + container + "]";
        const std::string who = kind + " " + name + " " + noun + container;
        const json* found = nullptr;
        if (live.is_array()) {
            for (const auto& candidate : live) {
                if (candidate.is_object() && candidate.value("name", "") == container)
                    found = &candidate;
            }
        }
        if (found == nullptr) {
            out.push_back({kind, name, field, who + " was removed"});
            continue;
        }
        if (expected.contains("image") && found->value("image", json()) != expected["image"]) {
            out.push_back({kind, name, field + ".image",
                           who + " image was changed to " +
                               found->value("image", json("nothing")).dump() +
                               " (the release has " + expected["image"].dump() + ")"});
        }
        if (expected.contains("resources")) {
            const std::string differences = ResourceDifferences(
                found->value("resources", json::object()), expected["resources"]);
            if (!differences.empty()) {
                out.push_back({kind, name, field + ".resources",
                               who + " resources were changed: " + differences});
            }
        }
    }
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
    const std::string release = Annotation(metadata, kReleaseObjectsAnnotation);
    if (!release.empty() && record.observed_generation >= 1) {
        const json parsed = json::parse(release, nullptr, false);
        // Recorded for another generation (a convergence that could not read the manifest, a
        // safety net's record overtaken by a change): not judged against, never a false drift.
        if (parsed.is_object() &&
            parsed.value("generation", json()) == record.observed_generation &&
            parsed.contains("objects") && parsed["objects"].is_object())
            record.release = parsed["objects"];
    }
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

json ReleaseExpectation(const json& manifest, uint64_t generation, const std::string& ns) {
    if (!manifest.is_object() || !manifest.contains("objects") || !manifest["objects"].is_array())
        return nullptr;
    json objects = json::object();
    const json& listed = manifest["objects"];
    for (const auto& object : listed) {
        if (!object.is_object()) continue;
        const std::string kind = object.value("kind", "");
        const std::string name = object.value("name", "");
        const std::string in = object.value("namespace", "");
        // Only what the watches see: a kind they watch, labelled as they select, in the store.
        if (ReleaseKinds().count(kind) == 0U || name.empty() ||
            object.value("instance", "") != kReleaseName || (!in.empty() && in != ns))
            continue;
        json facts = json::object();
        if (IsWorkload(kind)) {
            for (const char* list : {"containers", "initContainers"}) {
                json containers = ContainersFacts(object.value(list, json::array()));
                if (!containers.empty()) facts[list] = std::move(containers);
            }
        }
        objects[kind + "/" + name] = std::move(facts);
    }
    return {{"generation", generation}, {"objects", std::move(objects)}};
}

std::vector<ExpectedObject> ExpectedObjects(const DriftRecord& record,
                                            const std::string& ingress_namespace,
                                            const std::string& rolebinding) {
    std::vector<ExpectedObject> expected = ExpectedGuardrails(record, ingress_namespace);
    if (record.release.is_object()) {
        for (const auto& [key, facts] : record.release.items()) {
            const auto slash = key.find('/');
            if (slash == std::string::npos) continue;
            const std::string kind = key.substr(0, slash);
            const auto collection = ReleaseKinds().find(kind);
            if (collection == ReleaseKinds().end()) continue;
            expected.push_back({collection->second, kind, key.substr(slash + 1)});
        }
    }
    if (!rolebinding.empty()) expected.push_back({"rolebindings", "RoleBinding", rolebinding});
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
    if (IsWorkload(drift.kind)) {
        const auto now = WorkloadDrift(drift.kind, live, record);
        return std::any_of(now.begin(), now.end(),
                           [&](const Drift& found) { return found.field == drift.field; });
    }
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
    if (!record.converged) return drifts;
    const auto spec = object.value("spec", json::object());
    const std::string name = object.value("metadata", json::object()).value("name", "");
    // Unknown (a store converged before the annotation existed) is no drift: it may be suspended.
    if (record.suspended.has_value() && !*record.suspended) {
        const auto replicas = spec.value("replicas", json(1));
        if (replicas.is_number_integer() && replicas.get<int64_t>() == 0) {
            drifts.push_back(
                {kind, name, "spec.replicas",
                 kind + " " + name + " was scaled to 0 while the store is not suspended"});
        }
    }
    // The pod template against what the release rendered (nothing recorded: not judged).
    const std::string key = kind + "/" + name;
    if (!record.release.is_object() || !record.release.contains(key)) return drifts;
    const json& wanted = record.release[key];
    const json template_spec = spec.value("template", json::object()).value("spec", json::object());
    for (const char* list : {"containers", "initContainers"}) {
        if (wanted.contains(list) && wanted[list].is_array())
            ContainerDrift(kind, name, list, template_spec, wanted[list], drifts);
    }
    return drifts;
}

json WorkloadFacts(const json& object) {
    const auto spec = object.value("spec", json::object());
    const auto template_spec = spec.value("template", json::object()).value("spec", json::object());
    json pod = json::object();
    for (const char* list : {"containers", "initContainers"}) {
        if (template_spec.contains(list)) pod[list] = ContainersFacts(template_spec[list]);
    }
    return {
        {"metadata", {{"name", object.value("metadata", json::object()).value("name", "")}}},
        {"spec", {{"replicas", spec.value("replicas", json(1))}, {"template", {{"spec", pod}}}}}};
}

std::optional<long double> ParseQuantity(const json& quantity) {
    if (quantity.is_number()) return quantity.get<long double>();
    if (!quantity.is_string()) return std::nullopt;
    const std::string text = quantity.get<std::string>();
    std::size_t at = 0;
    bool negative = false;
    if (at < text.size() && (text[at] == '+' || text[at] == '-')) negative = text[at++] == '-';
    // The digits as one integer and how many of them are decimals, so that "0.5" and "500m" are
    // both 5 / 10 and 500 / 1000: the same long double, each division correctly rounded.
    long double digits = 0;
    long double decimals = 1;
    bool any = false;
    bool point = false;
    for (; at < text.size(); ++at) {
        const char c = text[at];
        if (c == '.' && !point) {
            point = true;
            continue;
        }
        if (std::isdigit(static_cast<unsigned char>(c)) == 0) break;
        digits = digits * 10 + (c - '0');
        if (point) decimals *= 10;
        any = true;
    }
    if (!any) return std::nullopt;
    const std::string suffix = text.substr(at);
    // suffix -> (multiplier, divisor)
    static const std::map<std::string, std::pair<long double, long double>, std::less<>> kSuffixes =
        {{"", {1.0L, 1.0L}},      {"n", {1.0L, 1e9L}},     {"u", {1.0L, 1e6L}},
         {"m", {1.0L, 1e3L}},     {"k", {1e3L, 1.0L}},     {"M", {1e6L, 1.0L}},
         {"G", {1e9L, 1.0L}},     {"T", {1e12L, 1.0L}},    {"P", {1e15L, 1.0L}},
         {"E", {1e18L, 1.0L}},    {"Ki", {0x1p10L, 1.0L}}, {"Mi", {0x1p20L, 1.0L}},
         {"Gi", {0x1p30L, 1.0L}}, {"Ti", {0x1p40L, 1.0L}}, {"Pi", {0x1p50L, 1.0L}},
         {"Ei", {0x1p60L, 1.0L}}};
    long double multiplier = 1;
    long double divisor = 1;
    if (const auto found = kSuffixes.find(suffix); found != kSuffixes.end()) {
        multiplier = found->second.first;
        divisor = found->second.second;
    } else if (suffix.size() >= 2 && (suffix[0] == 'e' || suffix[0] == 'E')) {
        // A decimal exponent: "2e3", "5E-1".
        const std::string exponent = suffix.substr(1);
        const std::size_t sign = exponent[0] == '+' || exponent[0] == '-' ? 1 : 0;
        if (exponent.size() == sign || exponent.size() > sign + 3 ||
            exponent.find_first_not_of("0123456789", sign) != std::string::npos)
            return std::nullopt;
        const int power = std::stoi(exponent);
        (power >= 0 ? multiplier : divisor) =
            std::pow(10.0L, static_cast<long double>(std::abs(power)));
    } else {
        return std::nullopt;
    }
    const long double value = digits * multiplier / (decimals * divisor);
    return negative ? -value : value;
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
