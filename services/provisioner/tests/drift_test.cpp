#include "drift.hpp"

#include <gtest/gtest.h>

#include "store_plan.hpp"

namespace storefleet::provisioner {
namespace {

using nlohmann::json;

constexpr const char* kId = "123e4567-e89b-42d3-a456-426614174000";

StoreSpec Spec(const std::string& plan = "small", bool suspended = false) {
    StoreSpec spec;
    spec.store_id = kId;
    spec.tenant_id = "acme";
    spec.engine = "woocommerce";
    spec.plan = plan;
    spec.generation = 2;
    spec.suspended = suspended;
    return spec;
}

// The namespace as the provisioner leaves it after converging `spec` (observed = generation).
json Namespace(const StoreSpec& spec, uint64_t observed = 2) {
    json ns = NamespaceObject(spec, NamespaceFor(spec.store_id));
    if (observed != 0)
        ns["metadata"]["annotations"][kObservedGenerationAnnotation] = std::to_string(observed);
    return ns;
}

DriftRecord Record(const StoreSpec& spec, uint64_t observed = 2) {
    return DriftRecordFromNamespace(Namespace(spec, observed));
}

json Deployment(int replicas) {
    return {{"metadata", {{"name", "web"}}}, {"spec", {{"replicas", replicas}}}};
}

TEST(DriftTest, ModesParseAndAStoreOverridesThePlatform) {
    EXPECT_EQ(ParseDriftMode("repair"), DriftMode::kRepair);
    EXPECT_EQ(ParseDriftMode("warn"), DriftMode::kWarn);
    EXPECT_EQ(ParseDriftMode("off"), DriftMode::kOff);
    EXPECT_FALSE(ParseDriftMode("Repair").has_value());
    auto ns = Namespace(Spec());
    EXPECT_EQ(EffectiveMode(DriftMode::kRepair, DriftRecordFromNamespace(ns)), DriftMode::kRepair);
    ns["metadata"]["annotations"][kDriftModeAnnotation] = "warn";
    EXPECT_EQ(EffectiveMode(DriftMode::kRepair, DriftRecordFromNamespace(ns)), DriftMode::kWarn);
    ns["metadata"]["annotations"][kDriftModeAnnotation] = "bogus";  // ignored: the platform's
    EXPECT_EQ(EffectiveMode(DriftMode::kOff, DriftRecordFromNamespace(ns)), DriftMode::kOff);
}

TEST(DriftTest, TheNamespaceRecordsTheSuspendedFlagOfItsGeneration) {
    EXPECT_EQ(
        NamespaceObject(Spec("small", true), "ns")["metadata"]["annotations"][kSuspendedAnnotation],
        "true");
    const auto record = Record(Spec("medium"));
    EXPECT_TRUE(record.converged);
    ASSERT_TRUE(record.suspended.has_value());
    EXPECT_FALSE(*record.suspended);
    EXPECT_EQ(record.plan, "medium");
    EXPECT_EQ(record.engine, "woocommerce");
    EXPECT_EQ(record.store_id, kId);
}

TEST(DriftTest, OnlyAConvergedStoreThatNothingConvergesCanDrift) {
    EXPECT_TRUE(DeletedDrift("NetworkPolicy", "default-deny", Record(Spec())).has_value());
    // Never converged (a create in flight) or converging a newer generation: not drift.
    EXPECT_FALSE(DeletedDrift("NetworkPolicy", "default-deny", Record(Spec(), 0)).has_value());
    EXPECT_FALSE(DeletedDrift("NetworkPolicy", "default-deny", Record(Spec(), 1)).has_value());
    // Being deleted.
    auto terminating = Namespace(Spec());
    terminating["metadata"]["deletionTimestamp"] = "2026-12-07T13:00:00Z";
    EXPECT_FALSE(DeletedDrift("Service", "web", DriftRecordFromNamespace(terminating)));
    // A deletion started (Helm uninstalls before the namespace terminates).
    auto deleting = Namespace(Spec());
    deleting["metadata"]["annotations"][kDeletingAnnotation] = "true";
    EXPECT_FALSE(DeletedDrift("Deployment", "web", DriftRecordFromNamespace(deleting)));
    // No namespace at all.
    EXPECT_FALSE(DeletedDrift("Service", "web", DriftRecordFromNamespace(json())));
    EXPECT_EQ(DeletedDrift("NetworkPolicy", "default-deny", Record(Spec()))->what,
              "NetworkPolicy default-deny was deleted");
}

TEST(DriftTest, ScaledToZeroIsDriftOnlyWhenTheStoreIsNotSuspended) {
    const auto running = Record(Spec());
    auto drifts = WorkloadDrift("Deployment", Deployment(0), running);
    ASSERT_EQ(drifts.size(), 1U);
    EXPECT_EQ(drifts[0].field, "spec.replicas");
    EXPECT_EQ(drifts[0].what, "Deployment web was scaled to 0 while the store is not suspended");
    EXPECT_TRUE(WorkloadDrift("Deployment", Deployment(1), running).empty());
    EXPECT_TRUE(WorkloadDrift("Deployment", Deployment(3), running).empty());  // an autoscaler's
    // No replicas field: the API default is 1.
    EXPECT_TRUE(WorkloadDrift("StatefulSet", {{"metadata", {{"name", "db"}}}}, running).empty());
    // Suspended: 0 is what it wants.
    EXPECT_TRUE(WorkloadDrift("Deployment", Deployment(0), Record(Spec("small", true))).empty());
    // Converged before the annotation was written: unknown, so no judgement.
    auto old = Namespace(Spec());
    old["metadata"]["annotations"].erase(kSuspendedAnnotation);
    EXPECT_TRUE(WorkloadDrift("Deployment", Deployment(0), DriftRecordFromNamespace(old)).empty());
    // Mid-convergence (a suspend being applied): the provisioner's, not drift.
    EXPECT_TRUE(WorkloadDrift("Deployment", Deployment(0), Record(Spec(), 1)).empty());
}

TEST(DriftTest, GuardrailsAreComparedWithThePlanOfTheNamespace) {
    const auto spec = Spec("medium");
    const auto record = Record(spec);
    const std::string ns = NamespaceFor(kId);
    auto quota = ResourceQuotaObject(spec, ns);
    EXPECT_TRUE(GuardrailDrift("ResourceQuota", quota, record, "ingress-nginx").empty());
    // The small plan's quota in a medium store: drift.
    auto small = ResourceQuotaObject(Spec("small"), ns);
    auto drifts = GuardrailDrift("ResourceQuota", small, record, "ingress-nginx");
    ASSERT_EQ(drifts.size(), 1U);
    EXPECT_EQ(drifts[0].what,
              "ResourceQuota store-quota was changed (its spec is not the medium "
              "plan's)");
    auto limits = LimitRangeObject(spec, ns);
    EXPECT_TRUE(GuardrailDrift("LimitRange", limits, record, "ingress-nginx").empty());
    limits["spec"]["limits"][0]["max"]["cpu"] = "8";
    EXPECT_EQ(GuardrailDrift("LimitRange", limits, record, "ingress-nginx").size(), 1U);
    // Not ours (a chart's own policy, another name): never judged.
    EXPECT_TRUE(
        GuardrailDrift("LimitRange", {{"metadata", {{"name", "other"}}}}, record, "x").empty());
}

TEST(DriftTest, ANetworkPolicyToleratesServerDefaultsButNotAChangedRule) {
    const auto spec = Spec();
    const auto record = Record(spec);
    auto policies = NetworkPolicyObjects(spec, NamespaceFor(kId), "ingress-nginx");
    for (auto policy : policies) {
        EXPECT_TRUE(GuardrailDrift("NetworkPolicy", policy, record, "ingress-nginx").empty())
            << policy["metadata"]["name"];
        // What the API server adds (a defaulted field) is not drift.
        if (!policy["spec"]["podSelector"].contains("matchExpressions"))
            policy["spec"]["podSelector"]["matchExpressions"] = json::array();
        EXPECT_TRUE(GuardrailDrift("NetworkPolicy", policy, record, "ingress-nginx").empty());
    }
    auto deny = policies[0];
    ASSERT_EQ(deny["metadata"]["name"], "default-deny");
    deny["spec"]["egress"].push_back({{"to", json::array()}});  // allow all egress
    auto drifts = GuardrailDrift("NetworkPolicy", deny, record, "ingress-nginx");
    ASSERT_EQ(drifts.size(), 1U);
    EXPECT_EQ(drifts[0].kind, "NetworkPolicy");
    EXPECT_EQ(drifts[0].name, "default-deny");
    // The ingress controller's namespace is part of what is wanted.
    EXPECT_EQ(GuardrailDrift("NetworkPolicy", policies[1], record, "traefik").size(), 1U);
}

TEST(DriftTest, PodSecurityLabelsOfTheNamespace) {
    auto ns = Namespace(Spec());
    EXPECT_TRUE(NamespaceDrift(ns).empty());
    ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] = "privileged";
    ns["metadata"]["labels"].erase("pod-security.kubernetes.io/audit");
    auto drifts = NamespaceDrift(ns);
    ASSERT_EQ(drifts.size(), 2U);
    EXPECT_EQ(drifts[0].what, "Namespace store-" + std::string(kId) +
                                  " label pod-security.kubernetes.io/enforce was changed to "
                                  "\"privileged\"");
    EXPECT_EQ(drifts[1].field, "metadata.labels[pod-security.kubernetes.io/audit]");
}

TEST(DriftTest, IgnoreRulesCoverAFieldAndWhatIsUnderIt) {
    auto rules = ParseIgnoreRules("Deployment/spec.replicas, StatefulSet/spec.template  */deleted");
    ASSERT_TRUE(rules.ok()) << rules.error().message;
    ASSERT_EQ(rules->size(), 3U);
    EXPECT_TRUE(Ignored(*rules, "Deployment", "spec.replicas"));
    EXPECT_FALSE(Ignored(*rules, "StatefulSet", "spec.replicas"));
    EXPECT_TRUE(Ignored(*rules, "StatefulSet", "spec.template.spec.containers[0].image"));
    EXPECT_FALSE(Ignored(*rules, "StatefulSet", "spec.templateX"));
    EXPECT_TRUE(Ignored(*rules, "Service", "deleted"));
    EXPECT_FALSE(ParseIgnoreRules("spec.replicas").ok());
    EXPECT_FALSE(ParseIgnoreRules("Deployment/").ok());
    EXPECT_TRUE(ParseIgnoreRules("").ok());

    // Replicas under an autoscaler: scaled to 0 by hand is then not drift either.
    const auto record = Record(Spec());
    auto only_replicas = *ParseIgnoreRules("Deployment/spec.replicas");
    EXPECT_TRUE(Relevant(WorkloadDrift("Deployment", Deployment(0), record), only_replicas, record)
                    .empty());
    EXPECT_EQ(
        Relevant(WorkloadDrift("StatefulSet", Deployment(0), record), only_replicas, record).size(),
        1U);
}

TEST(DriftTest, TheTimelineTextNamesTheObjectAndWhatWasDone) {
    const auto record = Record(Spec());
    std::vector<Drift> drifts = {*DeletedDrift("NetworkPolicy", "default-deny", record)};
    EXPECT_EQ(DriftText(drifts, DriftMode::kRepair),
              "NetworkPolicy default-deny was deleted; re-created");
    auto scaled = WorkloadDrift("Deployment", Deployment(0), record);
    drifts.insert(drifts.end(), scaled.begin(), scaled.end());
    EXPECT_EQ(DriftText(drifts, DriftMode::kWarn),
              "NetworkPolicy default-deny was deleted; not repaired (drift mode warn). Deployment "
              "web was scaled to 0 while the store is not suspended; not repaired (drift mode "
              "warn)");
    EXPECT_EQ(DriftText(scaled, DriftMode::kRepair),
              "Deployment web was scaled to 0 while the store is not suspended; restored");
}

TEST(DriftTest, TheDriftKinds) {
    EXPECT_EQ(KindOfCollection("networkpolicies"), "NetworkPolicy");
    EXPECT_EQ(KindOfCollection("rolebindings"), "RoleBinding");
    EXPECT_FALSE(KindOfCollection("configmaps").has_value());
}

TEST(DriftTest, ContainsIsSubsetForObjectsAndExactLengthForLists) {
    EXPECT_TRUE(Contains(json::parse(R"({"a":1,"b":[1,{"c":2,"d":3}]})"),
                         json::parse(R"({"b":[1,{"c":2}]})")));
    EXPECT_FALSE(
        Contains(json::parse(R"({"b":[1,{"c":2},3]})"), json::parse(R"({"b":[1,{"c":2}]})")));
    EXPECT_FALSE(Contains(json::parse(R"({"a":"1"})"), json::parse(R"({"a":1})")));
    EXPECT_FALSE(Contains(json::parse(R"({})"), json::parse(R"({"a":1})")));
}

}  // namespace
}  // namespace storefleet::provisioner
