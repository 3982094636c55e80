#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "drift.hpp"
#include "storefleet/common/config.hpp"
#include "storefleet/events/chart_catalogue.hpp"

namespace storefleet::provisioner {

struct ProvisionerConfig {
    std::string kafka_brokers;
    std::string consumer_group = "provisioner";
    std::string kubeconfig;  // empty: in-cluster service account
    // STOREFLEET_HELM_AGENT: the storefleet-helm-agent binary (HelmAgent), by default the one
    // next to this program's own binary (where the build and the image put it). The
    // provisioner runs no Helm CLI; a missing agent stops it at start-up.
    std::string helm_agent;
    std::string helm_home;
    // The store chart catalogue (STOREFLEET_CHART_CATALOGUE: the folder with index.json that
    // the build writes to build/chart-catalogue; images have it at /opt/storefleet/...).
    events::ChartCatalogue charts;
    std::string ingress_class;
    std::string url_scheme = "http";
    bool cluster_simulated = false;
    // STOREFLEET_REAL_NODE_PLACEMENT: the cluster also has a real node (the local stack's), which
    // stores asking for placement real-node use; their status says simulated: false.
    bool real_node = false;
    // Where the ingress controller's pods run (the stores' NetworkPolicies admit web traffic
    // from there only): STOREFLEET_INGRESS_NAMESPACE.
    std::string ingress_namespace = "ingress-nginx";
    bool helm_openapi_validation = false;
    int max_in_flight = 32;
    // Admission control (src/admission.hpp): STOREFLEET_ADMISSION (on), the p90 API latency
    // above which the in-flight limit is cut (STOREFLEET_ADMISSION_LATENCY_TARGET_MS), the
    // floor of the limit (STOREFLEET_ADMISSION_MIN_IN_FLIGHT) and the measuring window
    // (STOREFLEET_ADMISSION_WINDOW_MS).
    bool admission = true;
    std::chrono::milliseconds admission_latency_target{250};
    int admission_min_in_flight = 4;
    std::chrono::milliseconds admission_window{2000};
    std::chrono::seconds store_deadline{900};
    // This replica's stable name: Kafka static membership (a restarted replica gets its
    // partitions back at once) and the prefix of its store-lease identity. Empty: dynamic.
    std::string instance_id;
    std::chrono::seconds session_timeout{10};
    std::string lease_namespace = "storefleet-leases";
    // STOREFLEET_PROVISIONER_SERVICE_ACCOUNT=namespace:name: the ServiceAccount this provisioner
    // runs as, which it binds in each store namespace to STOREFLEET_PROVISIONER_STORE_ROLE (default
    // <name>-store, the chart's in-store ClusterRole). Unset: no RoleBinding (a credential that
    // needs none, such as the admin certificate).
    std::string service_account_namespace;
    std::string service_account_name;
    std::string store_role;
    std::chrono::seconds lease_duration{15};
    // Handler failures before a command goes to the dead-letter topic.
    int max_attempts = 5;
    std::chrono::seconds namespace_stuck_after{20};
    // Drift (docs/decisions/0012-drift-repair.md): STOREFLEET_DRIFT_MODE (repair, warn, off;
    // a store's storefleet.io/drift-mode annotation overrides it), STOREFLEET_DRIFT_IGNORE
    // ("Kind/field" rules, e.g. Deployment/spec.replicas under an autoscaler),
    // STOREFLEET_DRIFT_MAX_REPAIRS (stores acted on at once), STOREFLEET_DRIFT_RESYNC_SECONDS
    // (the safety net: each store compared once per period; 0: off) and
    // STOREFLEET_DRIFT_RESYNC_RATE (at most that many stores compared a second).
    DriftMode drift_mode = DriftMode::kRepair;
    std::vector<IgnoreRule> drift_ignore;
    int drift_max_repairs = 4;
    std::chrono::seconds drift_resync{3600};
    int drift_resync_rate = 5;
    std::string http_address = "127.0.0.1";
    int http_port = 8084;

    // `own_binary`: this program's path, whose folder holds the default helm agent.
    static ProvisionerConfig FromEnv(const EnvConfig& env,
                                     const std::string& own_binary = OwnBinary());
    // This process's own executable (/proc/self/exe).
    static std::string OwnBinary();
};

// The absolute path of `program`, searched in PATH like a shell would; throws ConfigError.
std::string FindExecutable(const std::string& program);

}  // namespace storefleet::provisioner
