#include "storefleet/kube/kubeconfig.hpp"

#include <openssl/evp.h>
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace storefleet::kube {
namespace {

std::string ReadFile(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + path.string());
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

std::string DecodeBase64(const std::string& text) {
    std::string clean;
    for (char c : text) {
        if (c != '\n' && c != '\r' && c != ' ') clean.push_back(c);
    }
    std::string out((clean.size() / 4 + 1) * 3, '\0');
    int size = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                               reinterpret_cast<const unsigned char*>(clean.data()),
                               static_cast<int>(clean.size()));
    if (size < 0) throw std::runtime_error("kubeconfig holds invalid base64 data");
    std::size_t padding = 0;
    if (!clean.empty() && clean.back() == '=') ++padding;
    if (clean.size() > 1 && clean[clean.size() - 2] == '=') ++padding;
    out.resize(static_cast<std::size_t>(size) - padding);
    return out;
}

// "<key>-data" inline (base64) or "<key>" as a path relative to the kubeconfig.
std::string DataOrFile(const YAML::Node& node, const std::string& key,
                       const std::filesystem::path& base) {
    if (node[key + "-data"]) return DecodeBase64(node[key + "-data"].as<std::string>());
    if (node[key]) {
        std::filesystem::path file = node[key].as<std::string>();
        return ReadFile(file.is_absolute() ? file : base / file);
    }
    return "";
}

YAML::Node FindNamed(const YAML::Node& list, const std::string& name, const std::string& what) {
    // As a Node: the iterator's value is a Node plus a key/value pair, empty for a sequence.
    for (const YAML::Node& item : list) {
        if (item["name"] && item["name"].as<std::string>() == name) return item;
    }
    throw std::runtime_error("kubeconfig has no " + what + " named '" + name + "'");
}

}  // namespace

ClusterCredentials LoadKubeconfig(const std::string& path, const std::string& context) {
    YAML::Node root;
    try {
        root = YAML::LoadFile(path);
    } catch (const YAML::Exception& error) {
        throw std::runtime_error("cannot parse kubeconfig " + path + ": " + error.what());
    }
    const std::filesystem::path base = std::filesystem::path(path).parent_path();
    std::string context_name = context;
    if (context_name.empty()) {
        if (!root["current-context"])
            throw std::runtime_error("kubeconfig " + path + " has no current-context");
        context_name = root["current-context"].as<std::string>();
    }
    auto ctx = FindNamed(root["contexts"], context_name, "context")["context"];
    auto cluster =
        FindNamed(root["clusters"], ctx["cluster"].as<std::string>(), "cluster")["cluster"];
    ClusterCredentials creds;
    creds.server = cluster["server"].as<std::string>();
    creds.ca_pem = DataOrFile(cluster, "certificate-authority", base);
    creds.insecure_skip_verify =
        cluster["insecure-skip-tls-verify"] && cluster["insecure-skip-tls-verify"].as<bool>();
    if (ctx["user"]) {
        auto user = FindNamed(root["users"], ctx["user"].as<std::string>(), "user")["user"];
        creds.client_cert_pem = DataOrFile(user, "client-certificate", base);
        creds.client_key_pem = DataOrFile(user, "client-key", base);
        if (user["token"]) creds.bearer_token = user["token"].as<std::string>();
        if (user["tokenFile"]) creds.bearer_token = ReadFile(user["tokenFile"].as<std::string>());
    }
    while (!creds.bearer_token.empty() && (creds.bearer_token.back() == '\n'))
        creds.bearer_token.pop_back();
    return creds;
}

ClusterCredentials LoadInCluster() {
    const char* host = std::getenv("KUBERNETES_SERVICE_HOST");  // NOLINT(concurrency-mt-unsafe)
    const char* port = std::getenv("KUBERNETES_SERVICE_PORT");  // NOLINT(concurrency-mt-unsafe)
    if (host == nullptr || port == nullptr) {
        throw std::runtime_error("not running in a cluster: KUBERNETES_SERVICE_HOST is not set");
    }
    const std::filesystem::path dir = "/var/run/secrets/kubernetes.io/serviceaccount";
    ClusterCredentials creds;
    creds.server = std::string("https://") + host + ":" + port;
    creds.ca_pem = ReadFile(dir / "ca.crt");
    creds.bearer_token = ReadFile(dir / "token");
    return creds;
}

}  // namespace storefleet::kube
