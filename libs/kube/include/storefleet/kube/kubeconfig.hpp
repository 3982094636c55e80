#pragma once

#include <string>

namespace storefleet::kube {

// Where and how to reach one API server. PEM material is held in memory only.
struct ClusterCredentials {
    std::string server;  // https://127.0.0.1:6443
    std::string ca_pem;  // empty: system CAs
    std::string client_cert_pem;
    std::string client_key_pem;
    std::string bearer_token;
    bool insecure_skip_verify = false;
};

// Reads the current context (or `context` if given) of a kubeconfig file. Throws
// std::runtime_error naming what is missing.
ClusterCredentials LoadKubeconfig(const std::string& path, const std::string& context = "");

// The pod's service account: KUBERNETES_SERVICE_HOST/PORT and /var/run/secrets/...
ClusterCredentials LoadInCluster();

}  // namespace storefleet::kube
