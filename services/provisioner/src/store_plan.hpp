#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "storefleet/common/result.hpp"
#include "storefleet/v1/events.pb.h"

namespace storefleet::provisioner {

// Everything the provisioner derives from a StoreRequested, as plain data: names, the
// guardrail objects and the chart values. Pure functions, so each rule is unit-tested.
struct StoreSpec {
    std::string store_id;
    std::string tenant_id;
    std::string name;
    std::string engine;  // "woocommerce" | "medusa"
    std::string plan;    // "small" | "medium" | "large"
    std::string host;
    std::string admin_email;
    bool real_node = false;  // placement "real-node": the local stack's real node
};

inline constexpr const char* kReleaseName = "store";
inline constexpr const char* kCredentialsSecret = "store-credentials";

Result<StoreSpec> SpecFromEvent(const v1::Envelope& envelope);

// "store-<store id>": one namespace per store, 42 characters, a valid DNS label.
std::string NamespaceFor(const std::string& store_id);

nlohmann::json NamespaceObject(const StoreSpec& spec, const std::string& ns);
nlohmann::json ResourceQuotaObject(const StoreSpec& spec, const std::string& ns);
nlohmann::json LimitRangeObject(const StoreSpec& spec, const std::string& ns);
// The web pods' port (the charts' container port "http"): 80 WordPress, 9000 Medusa.
int WebPort(const std::string& engine);
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
