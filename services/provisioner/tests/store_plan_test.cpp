#include "store_plan.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

#include "storefleet/events/envelope.hpp"
#include "storefleet/events/status.hpp"

namespace storefleet::provisioner {
namespace {

v1::Envelope Requested(const std::string& plan = "small") {
    auto envelope = events::NewEnvelope("acme", "123e4567-e89b-42d3-a456-426614174000", "c1");
    auto* r = envelope.mutable_store_requested();
    r->set_name("shop");
    r->set_engine(v1::ENGINE_WOOCOMMERCE);
    r->set_plan(plan);
    r->set_host("shop.acme.stores.localtest.me");
    r->set_admin_email("owner@acme.test");
    events::SetTypeFromPayload(envelope);
    return envelope;
}

TEST(StorePlanTest, SpecAndNamespaceFromEvent) {
    auto spec = SpecFromEvent(Requested());
    ASSERT_TRUE(spec.ok()) << spec.error().message;
    EXPECT_EQ(spec->engine, "woocommerce");
    EXPECT_EQ(NamespaceFor(spec->store_id), "store-123e4567-e89b-42d3-a456-426614174000");
    EXPECT_LE(NamespaceFor(spec->store_id).size(), 63U);
    auto ns = NamespaceObject(*spec, "store-x");
    EXPECT_EQ(ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"], "restricted");
    EXPECT_EQ(ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce-version"], "latest");
    EXPECT_EQ(ns["metadata"]["labels"]["storefleet.io/tenant"], "acme");
}

v1::Envelope Changed(uint64_t generation, bool retry = false) {
    auto envelope = events::NewEnvelope("acme", "123e4567-e89b-42d3-a456-426614174000", "c2");
    auto* change = envelope.mutable_store_change_requested();
    change->set_generation(generation);
    change->set_retry(retry);
    change->mutable_desired()->set_plan("medium");
    change->mutable_desired()->set_suspended(true);
    change->mutable_desired()->set_admin_email("new@acme.test");
    change->set_name("shop");
    change->set_engine(v1::ENGINE_MEDUSA);
    change->set_host("shop.acme.stores.localtest.me");
    change->set_placement("real-node");
    events::SetTypeFromPayload(envelope);
    return envelope;
}

TEST(StorePlanTest, AChangeGivesItsFactsItsWholeDesiredStateAndItsGeneration) {
    auto spec = SpecFromEvent(Changed(3));
    ASSERT_TRUE(spec.ok()) << spec.error().message;
    EXPECT_EQ(spec->engine, "medusa");
    EXPECT_EQ(spec->plan, "medium");
    EXPECT_TRUE(spec->suspended);
    EXPECT_TRUE(spec->real_node);
    EXPECT_EQ(spec->admin_email, "new@acme.test");
    EXPECT_EQ(spec->generation, 3U);
    EXPECT_FALSE(spec->retry);
    EXPECT_EQ(NamespaceObject(*spec, "ns")["metadata"]["annotations"][kGenerationAnnotation], "3");
    const auto values = ChartValues(*spec, "");
    EXPECT_EQ(values["plan"], "medium");
    EXPECT_EQ(values["suspended"], true);
    auto create = SpecFromEvent(Requested());
    EXPECT_EQ(create->generation, 1U);
    EXPECT_FALSE(create->suspended);
    EXPECT_EQ(ChartValues(*create, "")["suspended"], false);
    EXPECT_FALSE(SpecFromEvent(Changed(0)).ok()) << "a change without a generation";
}

TEST(StorePlanTest, TheRecordIsReadFromTheNamespacesAnnotations) {
    EXPECT_FALSE(RecordFromNamespace(nullptr).exists);
    auto record = RecordFromNamespace(nlohmann::json::parse(R"({"metadata":{"annotations":{
        "storefleet.io/generation":"4","storefleet.io/observed-generation":"3"}}})"));
    EXPECT_TRUE(record.exists);
    EXPECT_FALSE(record.terminating);
    EXPECT_EQ(record.generation, 4U);
    EXPECT_EQ(record.observed_generation, 3U);
    auto odd = RecordFromNamespace(nlohmann::json::parse(R"({"metadata":{"annotations":{
        "storefleet.io/generation":"-1","storefleet.io/observed-generation":"x"},
        "deletionTimestamp":"2026-12-07T10:00:00Z"}})"));
    EXPECT_EQ(odd.generation, 0U);
    EXPECT_EQ(odd.observed_generation, 0U);
    EXPECT_TRUE(odd.terminating);
}

// Which generation wins (ADR 0011): the newest started; a converged one is not run again
// unless retried.
TEST(StorePlanTest, StaleConvergedOrConverge) {
    auto spec = [](uint64_t generation, bool retry) {
        StoreSpec s;
        s.generation = generation;
        s.retry = retry;
        return s;
    };
    const StoreRecord none{};
    const StoreRecord started3{true, false, 3, 2};  // 3 started, 2 converged
    const StoreRecord converged3{true, false, 3, 3};
    EXPECT_EQ(Decide(spec(1, false), none), Convergence::kConverge) << "a new store";
    EXPECT_EQ(Decide(spec(2, false), started3), Convergence::kStale);
    EXPECT_EQ(Decide(spec(2, true), started3), Convergence::kStale) << "a retry of an old one";
    EXPECT_EQ(Decide(spec(3, false), started3), Convergence::kConverge) << "interrupted: again";
    EXPECT_EQ(Decide(spec(4, false), started3), Convergence::kConverge) << "newer";
    EXPECT_EQ(Decide(spec(3, false), converged3), Convergence::kConverged) << "a replay";
    EXPECT_EQ(Decide(spec(3, true), converged3), Convergence::kConverge) << "a retry";
    EXPECT_EQ(Decide(spec(1, false), StoreRecord{true, true, 3, 3}), Convergence::kConverge)
        << "a terminating namespace records nothing; the namespace step waits for it to go";
    EXPECT_EQ(Decide(spec(1, false), StoreRecord{true, false, 0, 0}), Convergence::kConverge)
        << "a store from before generations";
}

TEST(StorePlanTest, AChangeWithoutAnAdminAddressGetsIntakesDefaultNotAnEmptyOne) {
    auto envelope = Changed(2);
    envelope.mutable_store_change_requested()->mutable_desired()->clear_admin_email();
    auto spec = SpecFromEvent(envelope);
    ASSERT_TRUE(spec.ok()) << spec.error().message;
    EXPECT_EQ(spec->admin_email, "admin@shop.acme.stores.localtest.me");
    EXPECT_EQ(ChartValues(*spec, "")["adminEmail"], "admin@shop.acme.stores.localtest.me");
}

TEST(StorePlanTest, AFailedChangeOfAConvergedStoreIsDegraded) {
    EXPECT_EQ(FailureStatus(2, StoreRecord{true, false, 2, 1}), v1::STORE_STATUS_DEGRADED);
    EXPECT_EQ(FailureStatus(2, StoreRecord{true, false, 2, 0}), v1::STORE_STATUS_FAILED)
        << "never converged";
    EXPECT_EQ(FailureStatus(1, StoreRecord{true, false, 1, 1}), v1::STORE_STATUS_FAILED)
        << "a create (or its retry)";
    EXPECT_EQ(FailureStatus(5, StoreRecord{}), v1::STORE_STATUS_FAILED) << "no namespace";
    EXPECT_EQ(ObservedGenerationPatch(7)["metadata"]["annotations"][kObservedGenerationAnnotation],
              "7");
}

TEST(StorePlanTest, RejectsUnknownPlan) {
    auto spec = SpecFromEvent(Requested("huge"));
    ASSERT_FALSE(spec.ok());
    EXPECT_FALSE(spec.error().retryable());
}

TEST(StorePlanTest, QuotaScalesWithPlan) {
    auto small = ResourceQuotaObject(*SpecFromEvent(Requested("small")), "ns");
    auto large = ResourceQuotaObject(*SpecFromEvent(Requested("large")), "ns");
    EXPECT_EQ(small["spec"]["hard"]["requests.cpu"], "1");
    EXPECT_EQ(large["spec"]["hard"]["requests.cpu"], "4");
    EXPECT_EQ(large["spec"]["hard"]["limits.memory"], "16Gi");
    EXPECT_EQ(small["spec"]["hard"]["services.loadbalancers"], "0");
}

const nlohmann::json& PolicyNamed(const nlohmann::json::array_t& policies,
                                  const std::string& name) {
    for (const auto& policy : policies) {
        if (policy["metadata"]["name"] == name) return policy;
    }
    throw std::runtime_error("no NetworkPolicy " + name);
}

TEST(StorePlanTest, NetworkPoliciesDenyByDefaultAndAllowOnlyInNamespaceTrafficAndDns) {
    auto policies = NetworkPolicyObjects(*SpecFromEvent(Requested()), "ns", "ingress-nginx");
    ASSERT_EQ(policies.size(), 4U);
    const auto& deny = PolicyNamed(policies, "default-deny");
    // Every pod but the data Jobs' (decision 14), both directions: what no policy allows is
    // denied.
    EXPECT_EQ(deny["spec"]["podSelector"], nlohmann::json::parse(R"({"matchExpressions":
        [{"key": "storefleet.io/data-job", "operator": "DoesNotExist"}]})"));
    EXPECT_EQ(deny["spec"]["policyTypes"], nlohmann::json::array({"Ingress", "Egress"}));
    EXPECT_EQ(deny["spec"]["ingress"], nlohmann::json::parse(R"([{"from":[{"podSelector":{}}]}])"));
    const auto& egress = deny["spec"]["egress"];
    ASSERT_EQ(egress.size(), 2U);
    EXPECT_EQ(egress[0], nlohmann::json::parse(R"({"to":[{"podSelector":{}}]})"));
    // DNS: the kube-dns pods of kube-system (one peer, both selectors), port 53 only.
    EXPECT_EQ(egress[1], nlohmann::json::parse(R"({
        "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]})"));
    for (const auto& policy : policies) {
        EXPECT_EQ(policy["metadata"]["namespace"], "ns");
        EXPECT_EQ(policy["metadata"]["labels"]["storefleet.io/store-id"],
                  "123e4567-e89b-42d3-a456-426614174000");
    }
}

TEST(StorePlanTest, ADataJobReachesOnlyTheStoreDatabaseAndDns) {
    auto woo = PolicyNamed(NetworkPolicyObjects(*SpecFromEvent(Requested()), "ns", "ingress-nginx"),
                           "data-job-to-database");
    EXPECT_EQ(woo["spec"]["podSelector"], nlohmann::json::parse(R"({"matchExpressions":
        [{"key": "storefleet.io/data-job", "operator": "Exists"}]})"));
    // Nothing reaches it; it reaches the database port of the database pods, and DNS.
    EXPECT_EQ(woo["spec"]["policyTypes"], nlohmann::json::array({"Ingress", "Egress"}));
    EXPECT_FALSE(woo["spec"].contains("ingress"));
    ASSERT_EQ(woo["spec"]["egress"].size(), 2U);
    EXPECT_EQ(woo["spec"]["egress"][0], nlohmann::json::parse(R"({
        "to": [{"podSelector": {"matchLabels": {"app.kubernetes.io/component": "database"}}}],
        "ports": [{"protocol": "TCP", "port": 3306}]})"));
    EXPECT_EQ(woo["spec"]["egress"][1]["ports"][0]["port"], 53);
    auto request = Requested();
    request.mutable_store_requested()->set_engine(v1::ENGINE_MEDUSA);
    auto medusa = PolicyNamed(NetworkPolicyObjects(*SpecFromEvent(request), "ns", "traefik"),
                              "data-job-to-database");
    EXPECT_EQ(medusa["spec"]["egress"][0]["ports"][0]["port"], 5432);
}

TEST(StorePlanTest, IngressControllerReachesOnlyTheWebPodsOnTheirPort) {
    auto woo = PolicyNamed(NetworkPolicyObjects(*SpecFromEvent(Requested()), "ns", "ingress-nginx"),
                           "allow-from-ingress-controller");
    EXPECT_EQ(woo["spec"]["podSelector"],
              nlohmann::json::parse(R"({"matchLabels":{"app.kubernetes.io/component":"web"}})"));
    EXPECT_EQ(woo["spec"]["policyTypes"], nlohmann::json::array({"Ingress"}));
    EXPECT_EQ(woo["spec"]["ingress"], nlohmann::json::parse(R"([{
        "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}],
        "ports": [{"protocol": "TCP", "port": 80}]}])"));
    auto request = Requested();
    request.mutable_store_requested()->set_engine(v1::ENGINE_MEDUSA);
    auto medusa = PolicyNamed(NetworkPolicyObjects(*SpecFromEvent(request), "ns", "traefik"),
                              "allow-from-ingress-controller");
    EXPECT_EQ(medusa["spec"]["ingress"][0]["ports"],
              nlohmann::json::parse(R"([{"protocol":"TCP","port":9000}])"));
    EXPECT_EQ(medusa["spec"]["ingress"][0]["from"][0]["namespaceSelector"]["matchLabels"]
                    ["kubernetes.io/metadata.name"],
              "traefik");
}

TEST(StorePlanTest, WebEgressOnlyForLabelledPodsAndNeverToInternalRanges) {
    auto web = PolicyNamed(NetworkPolicyObjects(*SpecFromEvent(Requested()), "ns", "ingress-nginx"),
                           "allow-web-egress");
    EXPECT_EQ(web["spec"]["podSelector"]["matchLabels"]["storefleet.io/internet-egress"], "true");
    EXPECT_EQ(web["spec"]["policyTypes"], nlohmann::json::array({"Egress"}));
    ASSERT_EQ(web["spec"]["egress"].size(), 1U);
    const auto& rule = web["spec"]["egress"][0];
    EXPECT_EQ(rule["to"], nlohmann::json::parse(R"([
        {"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
                                                     "100.64.0.0/10", "169.254.0.0/16", "127.0.0.0/8", "0.0.0.0/8",
                                                     "198.18.0.0/15", "224.0.0.0/4", "240.0.0.0/4"]}},
        {"ipBlock": {"cidr": "::/0", "except": ["fc00::/7", "fe80::/10", "::1/128", "ff00::/8",
                                                "64:ff9b::/96"]}}])"));
    EXPECT_EQ(
        rule["ports"],
        nlohmann::json::parse(R"([{"protocol":"TCP","port":443},{"protocol":"TCP","port":80}])"));
}

TEST(StorePlanTest, RoleBindingBindsOnlyTheStoreRoleToTheProvisionersOwnAccount) {
    const ProvisionerIdentity identity{"storefleet-system", "storefleet-provisioner",
                                       "storefleet-provisioner-store"};
    auto binding = RoleBindingObject("id-1", "store-id-1", identity);
    EXPECT_EQ(binding["kind"], "RoleBinding");
    EXPECT_EQ(binding["metadata"]["name"], "storefleet-provisioner");
    EXPECT_EQ(binding["metadata"]["namespace"], "store-id-1");
    EXPECT_EQ(binding["metadata"]["labels"]["storefleet.io/store-id"], "id-1");
    EXPECT_EQ(binding["roleRef"], nlohmann::json::parse(R"({"apiGroup":"rbac.authorization.k8s.io",
        "kind":"ClusterRole","name":"storefleet-provisioner-store"})"));
    EXPECT_EQ(binding["subjects"], nlohmann::json::parse(R"([{"kind":"ServiceAccount",
        "name":"storefleet-provisioner","namespace":"storefleet-system"}])"));
    auto review = AccessReviewObject("store-id-1");
    EXPECT_EQ(review["spec"]["resourceAttributes"]["namespace"], "store-id-1");
}

TEST(StorePlanTest, SecretsAreFreshAndValuesCarryNone) {
    auto spec = *SpecFromEvent(Requested());
    auto a = CredentialsSecretObject(spec, "ns");
    auto b = CredentialsSecretObject(spec, "ns");
    EXPECT_NE(a["stringData"]["db-password"], b["stringData"]["db-password"]);
    EXPECT_GE(a["stringData"]["db-password"].get<std::string>().size(), 32U);
    auto values = ChartValues(spec, "nginx").dump();
    EXPECT_EQ(values.find(a["stringData"]["db-password"].get<std::string>()), std::string::npos);
    EXPECT_NE(values.find("\"existingSecret\":\"store-credentials\""), std::string::npos);
}

}  // namespace
}  // namespace storefleet::provisioner
