#include "config.hpp"

#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <sstream>

namespace storefleet::provisioner {

std::string FindExecutable(const std::string& program) {
    if (program.find('/') != std::string::npos) {
        if (std::filesystem::is_regular_file(program) && access(program.c_str(), X_OK) == 0)
            return program;
        throw ConfigError(program + " is not an executable file");
    }
    const char* path = std::getenv("PATH");  // NOLINT(concurrency-mt-unsafe)
    std::stringstream dirs(path != nullptr ? path : "");
    std::string dir;
    while (std::getline(dirs, dir, ':')) {
        const auto candidate = std::filesystem::path(dir) / program;
        if (std::filesystem::is_regular_file(candidate) && access(candidate.c_str(), X_OK) == 0) {
            return candidate.string();
        }
    }
    throw ConfigError(program + " was not found in PATH");
}

std::string ProvisionerConfig::OwnBinary() {
    std::error_code error;
    const auto self = std::filesystem::read_symlink("/proc/self/exe", error);
    return error ? std::string() : self.string();
}

namespace {

// A Kubernetes object name of the DNS-subdomain kind ServiceAccounts and ClusterRoles use:
// lowercase letters, digits, '-' and '.', starting and ending alphanumeric, at most 253.
bool IsDnsName(const std::string& name) {
    if (name.empty() || name.size() > 253) return false;
    for (char c : name) {
        if (!(std::islower(static_cast<unsigned char>(c)) ||
              std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '.')) {
            return false;
        }
    }
    return std::isalnum(static_cast<unsigned char>(name.front())) &&
           std::isalnum(static_cast<unsigned char>(name.back()));
}

}  // namespace

ProvisionerConfig ProvisionerConfig::FromEnv(const EnvConfig& env, const std::string& own_binary) {
    ProvisionerConfig config;
    config.kafka_brokers = env.Required("STOREFLEET_KAFKA_BROKERS");
    config.consumer_group = env.String("STOREFLEET_CONSUMER_GROUP", config.consumer_group);
    config.kubeconfig = env.String("STOREFLEET_KUBECONFIG", env.String("KUBECONFIG", ""));
    const std::string beside_us =
        (std::filesystem::path(own_binary).parent_path() / "storefleet-helm-agent").string();
    const std::string agent = env.String("STOREFLEET_HELM_AGENT", beside_us);
    try {
        config.helm_agent = FindExecutable(agent);
    } catch (const ConfigError& error) {
        throw ConfigError(
            "the helm agent is missing: " + std::string(error.what()) +
            " (set STOREFLEET_HELM_AGENT, or build it: cmake --build <build> --target helm_agent "
            "puts it next to storefleet-provisioner)");
    }
    config.helm_home =
        env.String("STOREFLEET_HELM_HOME",
                   (std::filesystem::temp_directory_path() / "storefleet-helm").string());
    auto charts = events::ChartCatalogue::Load(
        env.String("STOREFLEET_CHART_CATALOGUE", std::string(events::kImageChartCatalogue)));
    if (!charts.ok()) throw ConfigError("STOREFLEET_CHART_CATALOGUE: " + charts.error().message);
    if (!charts->Offers("woocommerce")) {
        throw ConfigError(
            "STOREFLEET_CHART_CATALOGUE: the catalogue has no woocommerce-store chart");
    }
    config.charts = std::move(*charts);
    config.ingress_class = env.String("STOREFLEET_INGRESS_CLASS", "");
    config.ingress_namespace = env.String("STOREFLEET_INGRESS_NAMESPACE", config.ingress_namespace);
    if (config.ingress_namespace.empty() || config.ingress_namespace.size() > 63) {
        throw ConfigError("STOREFLEET_INGRESS_NAMESPACE must be a namespace name");
    }
    config.url_scheme = env.String("STOREFLEET_URL_SCHEME", config.url_scheme);
    if (config.url_scheme != "http" && config.url_scheme != "https") {
        throw ConfigError("STOREFLEET_URL_SCHEME must be http or https");
    }
    config.cluster_simulated = env.Bool("STOREFLEET_CLUSTER_SIMULATED", false);
    config.real_node = env.Bool("STOREFLEET_REAL_NODE_PLACEMENT", false);
    config.helm_openapi_validation = env.Bool("STOREFLEET_HELM_OPENAPI_VALIDATION", false);
    config.max_in_flight =
        static_cast<int>(env.Int("STOREFLEET_MAX_IN_FLIGHT", config.max_in_flight, 1, 1024));
    config.admission = env.Bool("STOREFLEET_ADMISSION", config.admission);
    config.admission_latency_target =
        std::chrono::milliseconds(env.Int("STOREFLEET_ADMISSION_LATENCY_TARGET_MS",
                                          config.admission_latency_target.count(), 1, 600'000));
    config.admission_min_in_flight = static_cast<int>(env.Int(
        "STOREFLEET_ADMISSION_MIN_IN_FLIGHT",
        std::min(config.admission_min_in_flight, config.max_in_flight), 1, config.max_in_flight));
    config.admission_window = std::chrono::milliseconds(
        env.Int("STOREFLEET_ADMISSION_WINDOW_MS", config.admission_window.count(), 100, 600'000));
    config.store_deadline =
        std::chrono::seconds(env.Int("STOREFLEET_STORE_DEADLINE_SECONDS", 900, 10, 86'400));
    config.instance_id = env.String("STOREFLEET_INSTANCE_ID", "");
    for (char c : config.instance_id) {
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) {
            throw ConfigError(
                "STOREFLEET_INSTANCE_ID may hold only letters, digits, '-', '_' and '.'");
        }
    }
    config.session_timeout =
        std::chrono::seconds(env.Int("STOREFLEET_KAFKA_SESSION_TIMEOUT_SECONDS", 10, 6, 300));
    config.lease_namespace = env.String("STOREFLEET_LEASE_NAMESPACE", config.lease_namespace);
    if (const auto account = env.String("STOREFLEET_PROVISIONER_SERVICE_ACCOUNT", "");
        !account.empty()) {
        const auto colon = account.find(':');
        config.service_account_namespace = account.substr(0, colon);
        config.service_account_name = colon == std::string::npos ? "" : account.substr(colon + 1);
        if (!IsDnsName(config.service_account_namespace) ||
            !IsDnsName(config.service_account_name)) {
            throw ConfigError(
                "STOREFLEET_PROVISIONER_SERVICE_ACCOUNT must be namespace:name (e.g. "
                "storefleet-system:storefleet-provisioner), not '" +
                account + "'");
        }
        config.store_role =
            env.String("STOREFLEET_PROVISIONER_STORE_ROLE", config.service_account_name + "-store");
        if (!IsDnsName(config.store_role)) {
            throw ConfigError("STOREFLEET_PROVISIONER_STORE_ROLE must be a ClusterRole name");
        }
    }
    config.lease_duration =
        std::chrono::seconds(env.Int("STOREFLEET_LEASE_DURATION_SECONDS", 15, 3, 600));
    config.max_attempts =
        static_cast<int>(env.Int("STOREFLEET_MAX_ATTEMPTS", config.max_attempts, 1, 100));
    config.namespace_stuck_after =
        std::chrono::seconds(env.Int("STOREFLEET_NAMESPACE_STUCK_AFTER_SECONDS", 20, 1, 3600));
    const std::string drift_mode = env.String("STOREFLEET_DRIFT_MODE", "repair");
    const auto mode = ParseDriftMode(drift_mode);
    if (!mode) throw ConfigError("STOREFLEET_DRIFT_MODE must be repair, warn or off");
    config.drift_mode = *mode;
    auto ignore = ParseIgnoreRules(env.String("STOREFLEET_DRIFT_IGNORE", ""));
    if (!ignore.ok()) throw ConfigError("STOREFLEET_DRIFT_IGNORE: " + ignore.error().message);
    config.drift_ignore = *ignore;
    config.drift_max_repairs =
        static_cast<int>(env.Int("STOREFLEET_DRIFT_MAX_REPAIRS", config.drift_max_repairs, 1, 256));
    config.drift_resync = std::chrono::seconds(
        env.Int("STOREFLEET_DRIFT_RESYNC_SECONDS", config.drift_resync.count(), 0, 7 * 86'400));
    config.drift_resync_rate = static_cast<int>(
        env.Int("STOREFLEET_DRIFT_RESYNC_RATE", config.drift_resync_rate, 1, 1000));
    config.http_address = env.String("STOREFLEET_HTTP_ADDRESS", config.http_address);
    config.http_port =
        static_cast<int>(env.Int("STOREFLEET_HTTP_PORT", config.http_port, 0, 65535));
    return config;
}

}  // namespace storefleet::provisioner
