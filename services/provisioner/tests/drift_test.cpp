#include "drift.hpp"

#include <gtest/gtest.h>

#include <algorithm>

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

// What the helm agent's manifest op says of a WooCommerce store's release (abridged).
json Manifest() {
    return json::parse(R"({"revision": 3, "objects": [
      {"apiVersion": "v1", "kind": "Secret", "name": "store-salts", "instance": "store"},
      {"apiVersion": "v1", "kind": "Service", "name": "store-web", "instance": "store"},
      {"apiVersion": "v1", "kind": "Service", "name": "unlabelled"},
      {"apiVersion": "v1", "kind": "Service", "name": "elsewhere", "instance": "store",
       "namespace": "kube-system"},
      {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "name": "store", "instance": "store"},
      {"apiVersion": "batch/v1", "kind": "Job", "name": "store-setup", "instance": "store",
       "containers": [{"name": "setup", "image": "wp-cli:2"}]},
      {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "instance": "store",
       "initContainers": [{"name": "copy", "image": "busybox:1.36"}],
       "containers": [{"name": "wordpress", "image": "wordpress:6.4",
                       "resources": {"requests": {"cpu": 0.5, "memory": "256Mi"},
                                     "limits": {"cpu": "1000m", "memory": "1024Mi"},
                                     "claims": [{"name": "gpu"}]}}]},
      {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db", "instance": "store",
       "containers": [{"name": "mariadb", "image": "mariadb:11"}]}]})");
}

// The namespace with the release's record of `recorded_for` (the store converged to 2).
DriftRecord ReleaseRecord(uint64_t recorded_for = 2) {
    auto ns = Namespace(Spec());
    ns["metadata"]["annotations"][kReleaseObjectsAnnotation] =
        ReleaseExpectation(Manifest(), recorded_for, NamespaceFor(kId)).dump();
    return DriftRecordFromNamespace(ns);
}

// The Deployment as the API server has it after Helm applied the manifest: quantities in their
// canonical form, defaulted fields everywhere, a controller's status and annotations.
json LiveWeb() {
    return json::parse(R"({
      "metadata": {"name": "web", "generation": 4,
                   "annotations": {"deployment.kubernetes.io/revision": "2",
                                   "meta.helm.sh/release-name": "store"}},
      "spec": {"replicas": 1, "revisionHistoryLimit": 3, "progressDeadlineSeconds": 600,
        "strategy": {"type": "Recreate"},
        "template": {"metadata": {"labels": {"app": "web"}},
          "spec": {"restartPolicy": "Always", "dnsPolicy": "ClusterFirst",
            "schedulerName": "default-scheduler", "terminationGracePeriodSeconds": 30,
            "securityContext": {},
            "initContainers": [{"name": "copy", "image": "busybox:1.36",
              "imagePullPolicy": "IfNotPresent", "resources": {},
              "terminationMessagePath": "/dev/termination-log",
              "terminationMessagePolicy": "File"}],
            "containers": [{"name": "wordpress", "image": "wordpress:6.4",
              "imagePullPolicy": "IfNotPresent",
              "ports": [{"containerPort": 80, "name": "http", "protocol": "TCP"}],
              "resources": {"requests": {"cpu": "500m", "memory": "256Mi"},
                            "limits": {"cpu": "1", "memory": "1Gi"}},
              "terminationMessagePath": "/dev/termination-log",
              "terminationMessagePolicy": "File"}]}}},
      "status": {"replicas": 1, "availableReplicas": 1, "observedGeneration": 4}})");
}

json& Wordpress(json& deployment) {
    return deployment["spec"]["template"]["spec"]["containers"][0];
}

TEST(DriftTest, TheReleaseRecordKeepsWhatTheWatchesSeeAndAHelmRepairUndoes) {
    const json record = ReleaseExpectation(Manifest(), 2, NamespaceFor(kId));
    EXPECT_EQ(record["generation"], 2);
    // Watched kinds labelled app.kubernetes.io/instance=store in the store's namespace only:
    // no Secret (never watched), Job, unlabelled or other namespace's object.
    std::vector<std::string> keys;
    for (const auto& [key, facts] : record["objects"].items()) keys.push_back(key);
    EXPECT_EQ(keys, (std::vector<std::string>{"Deployment/web", "Ingress/store",
                                              "Service/store-web", "StatefulSet/db"}));
    const auto& wordpress = record["objects"]["Deployment/web"]["containers"][0];
    EXPECT_EQ(wordpress["image"], "wordpress:6.4");
    EXPECT_FALSE(wordpress["resources"].contains("claims"));
    EXPECT_EQ(record["objects"]["Deployment/web"]["initContainers"][0]["name"], "copy");
    EXPECT_TRUE(ReleaseExpectation(json::object(), 2, "ns").is_null());

    // Judged only for the generation the store converged to.
    EXPECT_TRUE(ReleaseRecord(2).release.is_object());
    EXPECT_TRUE(ReleaseRecord(1).release.is_null());
    auto garbled = Namespace(Spec());
    garbled["metadata"]["annotations"][kReleaseObjectsAnnotation] = "{not json";
    EXPECT_TRUE(DriftRecordFromNamespace(garbled).release.is_null());

    std::vector<std::string> expected;
    for (const auto& object :
         ExpectedObjects(ReleaseRecord(), "ingress-nginx", "storefleet-provisioner"))
        expected.push_back(object.collection + " " + object.kind + "/" + object.name);
    for (const auto* want :
         {"deployments Deployment/web", "statefulsets StatefulSet/db", "services Service/store-web",
          "ingresses Ingress/store", "rolebindings RoleBinding/storefleet-provisioner",
          "resourcequotas ResourceQuota/store-quota"}) {
        EXPECT_NE(std::find(expected.begin(), expected.end(), want), expected.end()) << want;
    }
    // Nothing recorded and no identity: the guardrails only, as before.
    EXPECT_EQ(ExpectedObjects(Record(Spec()), "ingress-nginx", "").size(),
              ExpectedGuardrails(Record(Spec()), "ingress-nginx").size());
}

TEST(DriftTest, AWorkloadAsTheApiServerDefaultsItIsNoDrift) {
    const auto record = ReleaseRecord();
    EXPECT_TRUE(WorkloadDrift("Deployment", LiveWeb(), record).empty());
    // kubectl rollout restart: a template annotation. Not drift: it asks for new pods, not for
    // another spec, and Helm's three-way merge would not remove it (a repair would change
    // nothing and be asked again).
    auto restarted = LiveWeb();
    restarted["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"] =
        "2026-12-07T18:00:00Z";
    EXPECT_TRUE(WorkloadDrift("Deployment", restarted, record).empty());
    // Added by hand where the release sets nothing (a sidecar, an ephemeral-storage limit, an
    // env var): Helm leaves those, so they are not judged either.
    auto added = LiveWeb();
    Wordpress(added)["resources"]["limits"]["ephemeral-storage"] = "1Gi";
    Wordpress(added)["env"] = json::array({{{"name", "DEBUG"}, {"value", "1"}}});
    added["spec"]["template"]["spec"]["containers"].push_back(
        {{"name", "sidecar"}, {"image", "envoy:1"}});
    EXPECT_TRUE(WorkloadDrift("Deployment", added, record).empty());
    // The same quantities written otherwise.
    auto other_forms = LiveWeb();
    Wordpress(other_forms)["resources"]["requests"] = {{"cpu", 0.5}, {"memory", "268435456"}};
    Wordpress(other_forms)["resources"]["limits"] = {{"cpu", "1000m"}, {"memory", "1024Mi"}};
    EXPECT_TRUE(WorkloadDrift("Deployment", other_forms, record).empty());
    // What the watch keeps of it judges the same.
    EXPECT_TRUE(WorkloadDrift("Deployment", WorkloadFacts(LiveWeb()), record).empty());
    EXPECT_EQ(WorkloadFacts(LiveWeb())["spec"]["template"]["spec"]["containers"][0].size(), 3U);
    // No record (converged before it existed, or recorded for another generation): not judged.
    auto changed = LiveWeb();
    Wordpress(changed)["image"] = "nginx:1.27";
    EXPECT_TRUE(WorkloadDrift("Deployment", changed, Record(Spec())).empty());
    EXPECT_TRUE(WorkloadDrift("Deployment", changed, ReleaseRecord(1)).empty());
    // Mid-convergence: the provisioner's, not drift.
    auto converging = Namespace(Spec(), 1);
    converging["metadata"]["annotations"][kReleaseObjectsAnnotation] =
        ReleaseExpectation(Manifest(), 1, NamespaceFor(kId)).dump();
    EXPECT_TRUE(WorkloadDrift("Deployment", changed, DriftRecordFromNamespace(converging)).empty());
}

TEST(DriftTest, AnImageOrAResourceChangedByHandIsDrift) {
    const auto record = ReleaseRecord();
    auto image = LiveWeb();
    Wordpress(image)["image"] = "nginx:1.27";  // kubectl set image deploy/web wordpress=nginx:1.27
    auto drifts = WorkloadDrift("Deployment", image, record);
    ASSERT_EQ(drifts.size(), 1U);
    EXPECT_EQ(drifts[0].field, "spec.template.spec.containers[wordpress].image");
    EXPECT_EQ(drifts[0].what,
              "Deployment web container wordpress image was changed to \"nginx:1.27\" (the "
              "release has \"wordpress:6.4\")");
    EXPECT_EQ(DriftText(drifts, DriftMode::kRepair), drifts[0].what + "; restored");
    // The watch's facts say the same, and the live object confirms it.
    EXPECT_EQ(WorkloadDrift("Deployment", WorkloadFacts(image), record).size(), 1U);
    EXPECT_TRUE(StillDrifts(drifts[0], image, record, "ingress-nginx"));
    EXPECT_FALSE(StillDrifts(drifts[0], LiveWeb(), record, "ingress-nginx"));

    // kubectl set resources deploy/web --limits=cpu=2: a value the release sets, changed.
    auto resources = LiveWeb();
    Wordpress(resources)["resources"]["limits"]["cpu"] = "2";
    Wordpress(resources)["resources"]["requests"].erase("memory");
    drifts = WorkloadDrift("Deployment", resources, record);
    ASSERT_EQ(drifts.size(), 1U);
    EXPECT_EQ(drifts[0].field, "spec.template.spec.containers[wordpress].resources");
    EXPECT_EQ(drifts[0].what,
              "Deployment web container wordpress resources were changed: limits.cpu 2 (the "
              "release has 1000m), requests.memory removed (the release has 256Mi)");

    // An init container's image, a container of the release removed.
    auto init = LiveWeb();
    init["spec"]["template"]["spec"]["initContainers"][0]["image"] = "busybox:latest";
    drifts = WorkloadDrift("Deployment", init, record);
    ASSERT_EQ(drifts.size(), 1U);
    EXPECT_EQ(drifts[0].field, "spec.template.spec.initContainers[copy].image");
    auto removed = LiveWeb();
    removed["spec"]["template"]["spec"]["containers"] = json::array();
    drifts = WorkloadDrift("Deployment", removed, record);
    ASSERT_EQ(drifts.size(), 1U);
    EXPECT_EQ(drifts[0].what, "Deployment web container wordpress was removed");

    // The image and the replicas together: both named. A StatefulSet of the release too.
    Wordpress(image)["resources"]["limits"]["memory"] = "2Gi";
    image["spec"]["replicas"] = 0;
    EXPECT_EQ(WorkloadDrift("Deployment", image, record).size(), 3U);
    const json db = {
        {"metadata", {{"name", "db"}}},
        {"spec",
         {{"template",
           {{"spec", {{"containers", {{{"name", "mariadb"}, {"image", "mysql:8"}}}}}}}}}}};
    EXPECT_EQ(WorkloadDrift("StatefulSet", db, record).size(), 1U);

    // An ignore rule over the template (an image updater owns it): nothing.
    const auto rules = *ParseIgnoreRules("Deployment/spec.template");
    auto only_image = LiveWeb();
    Wordpress(only_image)["image"] = "nginx:1.27";
    EXPECT_TRUE(Relevant(WorkloadDrift("Deployment", only_image, record), rules, record).empty());
}

TEST(DriftTest, QuantitiesAreComparedByValue) {
    EXPECT_EQ(*ParseQuantity("500m"), 0.5L);
    EXPECT_EQ(*ParseQuantity(json(2)), 2.0L);
    EXPECT_EQ(*ParseQuantity("1Gi"), *ParseQuantity("1024Mi"));
    EXPECT_EQ(*ParseQuantity("1.5Gi"), *ParseQuantity("1536Mi"));
    EXPECT_EQ(*ParseQuantity("2e3"), 2000.0L);
    EXPECT_EQ(*ParseQuantity("1k"), 1000.0L);
    EXPECT_EQ(*ParseQuantity("100m"), *ParseQuantity("0.1"));
    EXPECT_EQ(*ParseQuantity("5E-1"), 0.5L);
    EXPECT_FALSE(ParseQuantity("").has_value());
    EXPECT_FALSE(ParseQuantity("1Qi").has_value());
    EXPECT_FALSE(ParseQuantity("m").has_value());
    EXPECT_FALSE(ParseQuantity(json::object()).has_value());
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
