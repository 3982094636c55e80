#include "store_plan.hpp"

#include <gtest/gtest.h>

#include "storefleet/kafka/events.hpp"

namespace storefleet::provisioner {
namespace {

v1::Envelope Requested(const std::string& plan = "small") {
    auto envelope = kafka::NewEnvelope("acme", "123e4567-e89b-42d3-a456-426614174000", "c1");
    auto* r = envelope.mutable_store_requested();
    r->set_name("shop");
    r->set_engine(v1::ENGINE_WOOCOMMERCE);
    r->set_plan(plan);
    r->set_host("shop.acme.stores.localtest.me");
    r->set_admin_email("owner@acme.test");
    kafka::SetTypeFromPayload(envelope);
    return envelope;
}

TEST(StorePlanTest, SpecAndNamespaceFromEvent) {
    auto spec = SpecFromEvent(Requested());
    ASSERT_TRUE(spec.ok()) << spec.error().message;
    EXPECT_EQ(spec->engine, "woocommerce");
    EXPECT_EQ(NamespaceFor(spec->store_id), "store-123e4567-e89b-42d3-a456-426614174000");
    EXPECT_LE(NamespaceFor(spec->store_id).size(), 63U);
    auto ns = NamespaceObject(*spec, "store-x");
    EXPECT_EQ(ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"], "baseline");
    EXPECT_EQ(ns["metadata"]["labels"]["storefleet.io/tenant"], "acme");
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

TEST(StorePlanTest, NetworkPoliciesDenyByDefault) {
    auto policies = NetworkPolicyObjects(*SpecFromEvent(Requested()), "ns", "ingress-nginx");
    ASSERT_FALSE(policies.empty());
    const auto& deny = policies.front();
    EXPECT_EQ(deny["metadata"]["name"], "default-deny");
    EXPECT_TRUE(deny["spec"]["podSelector"].empty());
    EXPECT_EQ(deny["spec"]["policyTypes"], nlohmann::json::array({"Ingress", "Egress"}));
    EXPECT_FALSE(deny["spec"].contains("ingress"));
    EXPECT_FALSE(deny["spec"].contains("egress"));
    // Web egress only for pods that ask for it, and never to private ranges.
    const auto& web = policies.back();
    EXPECT_EQ(web["spec"]["podSelector"]["matchLabels"]["storefleet.io/internet-egress"], "true");
    EXPECT_EQ(web["spec"]["egress"][0]["to"][0]["ipBlock"]["except"].size(), 4U);
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
