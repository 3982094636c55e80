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
};

inline constexpr const char* kReleaseName = "store";
inline constexpr const char* kCredentialsSecret = "store-credentials";

Result<StoreSpec> SpecFromEvent(const v1::Envelope& envelope);

// "store-<store id>": one namespace per store, 42 characters, a valid DNS label.
std::string NamespaceFor(const std::string& store_id);

nlohmann::json NamespaceObject(const StoreSpec& spec, const std::string& ns);
nlohmann::json ResourceQuotaObject(const StoreSpec& spec, const std::string& ns);
nlohmann::json LimitRangeObject(const StoreSpec& spec, const std::string& ns);
// deny-all, allow within the namespace, allow DNS, allow from the ingress controller, and
// allow web egress only to pods labelled storefleet.io/internet-egress=true (setup jobs
// that download plugins).
nlohmann::json::array_t NetworkPolicyObjects(const StoreSpec& spec, const std::string& ns,
                                             const std::string& ingress_namespace);
// The credentials Secret with freshly generated values; created once, never replaced.
nlohmann::json CredentialsSecretObject(const StoreSpec& spec, const std::string& ns);
nlohmann::json ChartValues(const StoreSpec& spec, const std::string& ingress_class);

}  // namespace storefleet::provisioner
