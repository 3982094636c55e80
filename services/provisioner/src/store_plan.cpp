#include "store_plan.hpp"

#include "storefleet/common/ids.hpp"
#include "storefleet/events/envelope.hpp"
#include "storefleet/events/status.hpp"

namespace storefleet::provisioner {
namespace {

using nlohmann::json;

int FactorOf(const std::string& plan) {
    if (plan == "medium") return 2;
    if (plan == "large") return 4;
    return 1;
}

json Labels(const StoreSpec& spec) {
    return {
        {"app.kubernetes.io/managed-by", "storefleet"}, {"app.kubernetes.io/part-of", "storefleet"},
        {"storefleet.io/store-id", spec.store_id},      {"storefleet.io/tenant", spec.tenant_id},
        {"storefleet.io/engine", spec.engine},          {"storefleet.io/plan", spec.plan}};
}

json Meta(const StoreSpec& spec, const std::string& name, const std::string& ns) {
    return {{"name", name}, {"namespace", ns}, {"labels", Labels(spec)}};
}

std::string Cpu(int millis) {
    return millis % 1000 == 0 ? std::to_string(millis / 1000) : std::to_string(millis) + "m";
}
std::string Gi(int gi) { return std::to_string(gi) + "Gi"; }

json NetworkPolicy(const StoreSpec& spec, const std::string& ns, const std::string& name,
                   json policy_spec) {
    return {{"apiVersion", "networking.k8s.io/v1"},
            {"kind", "NetworkPolicy"},
            {"metadata", Meta(spec, name, ns)},
            {"spec", std::move(policy_spec)}};
}

}  // namespace

Result<StoreSpec> SpecFromEvent(const v1::Envelope& envelope) {
    StoreSpec spec;
    spec.store_id = envelope.store_id();
    spec.tenant_id = envelope.tenant_id();
    std::string placement;
    if (envelope.has_store_requested()) {
        const auto& request = envelope.store_requested();
        spec.name = request.name();
        spec.engine = events::EngineName(request.engine());
        spec.plan = request.plan();
        spec.host = request.host();
        spec.admin_email = request.admin_email();
        spec.chart_version = request.chart_version();
        placement = request.placement();
    } else if (envelope.has_store_change_requested()) {
        // The facts as the store's StoreRequested stated them, the desired state as changed.
        const auto& change = envelope.store_change_requested();
        spec.name = change.name();
        spec.engine = events::EngineName(change.engine());
        spec.plan = change.desired().plan();
        spec.host = change.host();
        spec.admin_email = change.desired().admin_email();
        // A store created before intake kept the address has none in its changes: the
        // default intake gives a create without one, rather than an empty value.
        if (spec.admin_email.empty()) spec.admin_email = "admin@" + spec.host;
        spec.suspended = change.desired().suspended();
        spec.chart_version = change.desired().chart_version();
        spec.retry = change.retry();
        placement = change.placement();
        if (change.generation() == 0)
            return Error::Permanent("bad_command", "the change carries no generation");
    } else {
        return Error::Permanent("bad_command", "not a StoreRequested or StoreChangeRequested");
    }
    spec.generation = events::CommandGeneration(envelope);
    if (spec.plan.empty()) spec.plan = "small";
    if (!IsUuid(spec.store_id)) return Error::Permanent("bad_command", "store id is not a UUID");
    if (spec.engine == "unknown") return Error::Permanent("bad_command", "unknown engine");
    if (spec.plan != "small" && spec.plan != "medium" && spec.plan != "large") {
        return Error::Permanent("bad_command", "unknown plan '" + spec.plan + "'");
    }
    if (spec.host.empty()) return Error::Permanent("bad_command", "the request carries no host");
    if (placement == "real-node") {
        spec.real_node = true;
    } else if (!placement.empty() && placement != "any") {
        return Error::Permanent("bad_command", "unknown placement '" + placement + "'");
    }
    return spec;
}

namespace {

uint64_t GenerationAnnotation(const json& annotations, const char* key) {
    if (!annotations.is_object() || !annotations.contains(key) || !annotations[key].is_string())
        return 0;
    const std::string text = annotations[key].get<std::string>();
    if (text.empty() || text.size() > 19 ||
        text.find_first_not_of("0123456789") != std::string::npos)
        return 0;
    return std::stoull(text);
}

}  // namespace

StoreRecord RecordFromNamespace(const json& ns) {
    StoreRecord record;
    if (!ns.is_object()) return record;
    record.exists = true;
    const auto metadata = ns.value("metadata", json::object());
    record.terminating = metadata.contains("deletionTimestamp") ||
                         ns.value("status", json::object()).value("phase", "") == "Terminating";
    const auto annotations = metadata.value("annotations", json::object());
    record.generation = GenerationAnnotation(annotations, kGenerationAnnotation);
    record.observed_generation = GenerationAnnotation(annotations, kObservedGenerationAnnotation);
    return record;
}

Convergence Decide(const StoreSpec& spec, const StoreRecord& record) {
    // A namespace being deleted is no record of this store any more: the namespace step
    // waits for it to go, as it always did.
    if (!record.exists || record.terminating) return Convergence::kConverge;
    if (spec.generation < record.generation) return Convergence::kStale;
    if (!spec.retry && spec.generation <= record.observed_generation)
        return Convergence::kConverged;
    return Convergence::kConverge;
}

v1::StoreStatus FailureStatus(uint64_t command_generation, const StoreRecord& record) {
    return command_generation >= 2 && record.observed_generation >= 1 ? v1::STORE_STATUS_DEGRADED
                                                                      : v1::STORE_STATUS_FAILED;
}

json ObservedGenerationPatch(uint64_t generation, int64_t command_offset) {
    json patch = {
        {"metadata",
         {{"annotations", {{kObservedGenerationAnnotation, std::to_string(generation)}}}}}};
    if (command_offset >= 0) {
        patch["metadata"]["annotations"][kObservedCommandOffsetAnnotation] =
            std::to_string(command_offset);
        patch["metadata"]["annotations"][kDriftEventsAnnotation] = "0";
        patch["metadata"]["annotations"][kDriftReportedAnnotation] = "";
    }
    return patch;
}

std::string NamespaceFor(const std::string& store_id) { return "store-" + store_id; }

json NamespaceObject(const StoreSpec& spec, const std::string& ns) {
    json labels = Labels(spec);
    // Pod Security restricted, at the API server's own version of the profile (both store
    // charts run non-root, seccomp RuntimeDefault, all capabilities dropped; tests/charts and
    // tests/rbac/pod_security.sh dry-run their pods here). The admission fence refuses a store
    // namespace labelled anything else. warn/audit say the same so clients see why at once.
    labels["pod-security.kubernetes.io/enforce"] = "restricted";
    labels["pod-security.kubernetes.io/enforce-version"] = "latest";
    labels["pod-security.kubernetes.io/warn"] = "restricted";
    labels["pod-security.kubernetes.io/audit"] = "restricted";
    // The generation and its suspended flag (drift checks read it, ADR 0012): observed-generation
    // is written by its own merge patch once the store converged, and this apply (field manager
    // storefleet) never owns it, so it never removes it either.
    return {{"apiVersion", "v1"},
            {"kind", "Namespace"},
            {"metadata",
             {{"name", ns},
              {"labels", labels},
              {"annotations",
               {{kGenerationAnnotation, std::to_string(spec.generation)},
                {kSuspendedAnnotation, spec.suspended ? "true" : "false"}}}}}};
}

json ResourceQuotaObject(const StoreSpec& spec, const std::string& ns) {
    const int f = FactorOf(spec.plan);
    return {{"apiVersion", "v1"},
            {"kind", "ResourceQuota"},
            {"metadata", Meta(spec, "store-quota", ns)},
            {"spec",
             {{"hard",
               {{"requests.cpu", Cpu(1000 * f)},
                {"requests.memory", Gi(2 * f)},
                {"limits.cpu", Cpu(2000 * f)},
                {"limits.memory", Gi(4 * f)},
                {"requests.storage", Gi(10 * f)},
                {"persistentvolumeclaims", "4"},
                {"pods", std::to_string(10 * f)},
                {"services", "5"},
                {"services.loadbalancers", "0"},
                {"services.nodeports", "0"},
                {"secrets", "20"},
                {"configmaps", "20"}}}}}};
}

json LimitRangeObject(const StoreSpec& spec, const std::string& ns) {
    const int f = FactorOf(spec.plan);
    return {{"apiVersion", "v1"},
            {"kind", "LimitRange"},
            {"metadata", Meta(spec, "store-limits", ns)},
            {"spec",
             {{"limits", json::array({{{"type", "Container"},
                                       {"default", {{"cpu", "500m"}, {"memory", "512Mi"}}},
                                       {"defaultRequest", {{"cpu", "100m"}, {"memory", "128Mi"}}},
                                       {"max", {{"cpu", Cpu(1000 * f)}, {"memory", Gi(2 * f)}}}},
                                      {{"type", "PersistentVolumeClaim"},
                                       {"max", {{"storage", Gi(10 * f)}}}}})}}}};
}

int WebPort(const std::string& engine) { return engine == "medusa" ? 9000 : 80; }

int DatabasePort(const std::string& engine) { return engine == "medusa" ? 5432 : 3306; }

json::array_t NetworkPolicyObjects(const StoreSpec& spec, const std::string& ns,
                                   const std::string& ingress_namespace) {
    const json all_pods = json::object();
    const json tcp_udp_53 =
        json::array({{{"protocol", "UDP"}, {"port", 53}}, {{"protocol", "TCP"}, {"port", 53}}});
    // The cluster DNS pods only (CoreDNS and kube-dns both carry k8s-app=kube-dns), not every
    // pod of kube-system: one peer with both selectors means "these pods in that namespace".
    const json dns_pods = {
        {"namespaceSelector", {{"matchLabels", {{"kubernetes.io/metadata.name", "kube-system"}}}}},
        {"podSelector", {{"matchLabels", {{"k8s-app", "kube-dns"}}}}}};
    // Internet egress never reaches the cluster's or the host's own networks: private ranges,
    // carrier-grade NAT (also Tailscale and some providers' internal networks), link-local
    // (cloud metadata at 169.254.169.254), loopback, "this network", the benchmarking range
    // some providers use inside (198.18/15), multicast and reserved; likewise for IPv6 on
    // dual-stack clusters (unique-local, link-local, loopback, multicast, and the NAT64 prefix,
    // which would reach the IPv4 ranges above by another name).
    const json v4_except = json::array(
        {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16",
         "127.0.0.0/8", "0.0.0.0/8", "198.18.0.0/15", "224.0.0.0/4", "240.0.0.0/4"});
    const json v6_except =
        json::array({"fc00::/7", "fe80::/10", "::1/128", "ff00::/8", "64:ff9b::/96"});
    // A backup or restore Job's pod (label storefleet.io/data-job, decision 14) is left out of
    // default-deny, so the store's other pods are not its peers: data-job-to-database lets it
    // reach the store's database port and DNS only.
    const json not_data_jobs = {
        {"matchExpressions",
         json::array({{{"key", kDataJobLabel}, {"operator", "DoesNotExist"}}})}};
    const json data_jobs = {
        {"matchExpressions", json::array({{{"key", kDataJobLabel}, {"operator", "Exists"}}})}};
    return {
        // Selects every pod (but the data Jobs') for both directions, so whatever no store
        // policy allows is denied (deny by default); allows only the store's own pods among
        // themselves and DNS.
        NetworkPolicy(
            spec, ns, "default-deny",
            {{"podSelector", not_data_jobs},
             {"policyTypes", json::array({"Ingress", "Egress"})},
             {"ingress", json::array({{{"from", json::array({{{"podSelector", all_pods}}})}}})},
             {"egress", json::array({{{"to", json::array({{{"podSelector", all_pods}}})}},
                                     {{"to", json::array({dns_pods})}, {"ports", tcp_udp_53}}})}}),
        // The ingress controller's namespace reaches the web pods (WordPress, Medusa: the
        // charts' component=web) on their web port only; databases and caches stay unreachable.
        NetworkPolicy(
            spec, ns, "allow-from-ingress-controller",
            {{"podSelector", {{"matchLabels", {{"app.kubernetes.io/component", "web"}}}}},
             {"policyTypes", json::array({"Ingress"})},
             {"ingress",
              json::array(
                  {{{"from",
                     json::array({{{"namespaceSelector",
                                    {{"matchLabels",
                                      {{"kubernetes.io/metadata.name", ingress_namespace}}}}}}})},
                    {"ports",
                     json::array({{{"protocol", "TCP"}, {"port", WebPort(spec.engine)}}})}}})}}),
        // A data Job (backup, restore) reaches the store's database on its port, and DNS;
        // nothing reaches it. The database's own ingress (default-deny) admits the store's pods.
        NetworkPolicy(
            spec, ns, "data-job-to-database",
            {{"podSelector", data_jobs},
             // Ingress listed with no rule: nothing reaches it (an empty "ingress" would be
             // dropped by the API server, and then seen as drift).
             {"policyTypes", json::array({"Ingress", "Egress"})},
             {"egress",
              json::array(
                  {{{"to", json::array({{{"podSelector",
                                          {{"matchLabels",
                                            {{"app.kubernetes.io/component", "database"}}}}}}})},
                    {"ports",
                     json::array({{{"protocol", "TCP"}, {"port", DatabasePort(spec.engine)}}})}},
                   {{"to", json::array({dns_pods})}, {"ports", tcp_udp_53}}})}}),
        // Web egress (80/443) only for pods labelled storefleet.io/internet-egress=true (the
        // setup Jobs that download plugins), and only to public addresses.
        NetworkPolicy(
            spec, ns, "allow-web-egress",
            {{"podSelector", {{"matchLabels", {{"storefleet.io/internet-egress", "true"}}}}},
             {"policyTypes", json::array({"Egress"})},
             {"egress",
              json::array(
                  {{{"to",
                     json::array({{{"ipBlock", {{"cidr", "0.0.0.0/0"}, {"except", v4_except}}}},
                                  {{"ipBlock", {{"cidr", "::/0"}, {"except", v6_except}}}}})},
                    {"ports", json::array({{{"protocol", "TCP"}, {"port", 443}},
                                           {{"protocol", "TCP"}, {"port", 80}}})}}})}}),
    };
}

json RoleBindingObject(const std::string& store_id, const std::string& ns,
                       const ProvisionerIdentity& identity) {
    return {
        {"apiVersion", "rbac.authorization.k8s.io/v1"},
        {"kind", "RoleBinding"},
        {"metadata",
         {{"name", identity.name},
          {"namespace", ns},
          {"labels",
           {{"app.kubernetes.io/managed-by", "storefleet"},
            {"app.kubernetes.io/part-of", "storefleet"},
            {"storefleet.io/store-id", store_id}}}}},
        {"roleRef",
         {{"apiGroup", "rbac.authorization.k8s.io"},
          {"kind", "ClusterRole"},
          {"name", identity.store_role}}},
        {"subjects",
         json::array(
             {{{"kind", "ServiceAccount"}, {"name", identity.name}, {"namespace", identity.ns}}})}};
}

json AccessReviewObject(const std::string& ns) {
    return {
        {"apiVersion", "authorization.k8s.io/v1"},
        {"kind", "SelfSubjectAccessReview"},
        {"spec",
         {{"resourceAttributes", {{"namespace", ns}, {"verb", "get"}, {"resource", "secrets"}}}}}};
}

json CredentialsSecretObject(const StoreSpec& spec, const std::string& ns) {
    return {{"apiVersion", "v1"},
            {"kind", "Secret"},
            {"type", "Opaque"},
            {"metadata", Meta(spec, kCredentialsSecret, ns)},
            {"stringData",
             {{"db-root-password", RandomHex(24)},
              {"db-password", RandomHex(24)},
              {"admin-password", RandomHex(16)},
              {"jwt-secret", RandomHex(32)},
              {"cookie-secret", RandomHex(32)}}}};
}

json ChartValues(const StoreSpec& spec, const std::string& ingress_class) {
    json values = {{"storeId", spec.store_id},
                   {"storeName", spec.name},
                   {"host", spec.host},
                   {"plan", spec.plan},
                   {"suspended", spec.suspended},
                   {"adminEmail", spec.admin_email},
                   {"credentials", {{"existingSecret", kCredentialsSecret}}}};
    if (!ingress_class.empty()) values["ingress"] = {{"className", ingress_class}};
    return values;
}

}  // namespace storefleet::provisioner
