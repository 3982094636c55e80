#pragma once

#include <chrono>
#include <string>

#include "storefleet/common/config.hpp"

namespace storefleet::provisioner {

struct ProvisionerConfig {
    std::string kafka_brokers;
    std::string consumer_group = "provisioner";
    std::string kubeconfig;  // empty: in-cluster service account
    std::string helm_binary;
    std::string helm_home;
    std::string charts_dir;
    std::string ingress_class;
    std::string url_scheme = "http";
    bool cluster_simulated = false;
    bool helm_openapi_validation = false;
    int max_in_flight = 32;
    std::chrono::seconds store_deadline{900};
    // This replica's stable name: Kafka static membership (a restarted replica gets its
    // partitions back at once) and the prefix of its store-lease identity. Empty: dynamic.
    std::string instance_id;
    std::chrono::seconds session_timeout{10};
    std::string lease_namespace = "storefleet-system";
    std::chrono::seconds lease_duration{15};
    // Handler failures before a command goes to the dead-letter topic.
    int max_attempts = 5;
    std::chrono::seconds namespace_stuck_after{20};
    std::string http_address = "127.0.0.1";
    int http_port = 8084;

    static ProvisionerConfig FromEnv(const EnvConfig& env);
};

// The absolute path of `program`, searched in PATH like a shell would; throws ConfigError.
std::string FindExecutable(const std::string& program);

}  // namespace storefleet::provisioner
