#include "storefleet/kube/kubeconfig.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "storefleet/kube/client.hpp"

namespace storefleet::kube {
namespace {

std::string WriteTemp(const std::string& name, const std::string& text) {
    auto path = std::filesystem::temp_directory_path() / name;
    std::ofstream(path) << text;
    return path.string();
}

TEST(KubeconfigTest, ReadsInlineCertificatesOfTheCurrentContext) {
    // "Y2E=" is base64 for "ca", "Y2VydA==" for "cert", "a2V5" for "key".
    auto path = WriteTemp("sf-kubeconfig-test.yaml", R"(apiVersion: v1
kind: Config
current-context: local
clusters:
- name: other
  cluster: {server: https://10.0.0.1:6443}
- name: c1
  cluster:
    server: https://127.0.0.1:6443
    certificate-authority-data: Y2E=
contexts:
- name: local
  context: {cluster: c1, user: admin}
users:
- name: admin
  user:
    client-certificate-data: Y2VydA==
    client-key-data: a2V5
)");
    auto creds = LoadKubeconfig(path);
    EXPECT_EQ(creds.server, "https://127.0.0.1:6443");
    EXPECT_EQ(creds.ca_pem, "ca");
    EXPECT_EQ(creds.client_cert_pem, "cert");
    EXPECT_EQ(creds.client_key_pem, "key");
    EXPECT_TRUE(creds.bearer_token.empty());
}

TEST(KubeconfigTest, ReadsTokenAndNamesMissingContext) {
    auto path = WriteTemp("sf-kubeconfig-token.yaml", R"(current-context: a
clusters: [{name: c, cluster: {server: "https://h:1"}}]
contexts: [{name: a, context: {cluster: c, user: u}}]
users: [{name: u, user: {token: abc}}]
)");
    EXPECT_EQ(LoadKubeconfig(path).bearer_token, "abc");
    try {
        (void)LoadKubeconfig(path, "missing");
        FAIL();
    } catch (const std::runtime_error& error) {
        EXPECT_NE(std::string(error.what()).find("no context named 'missing'"), std::string::npos);
    }
}

TEST(ApiErrorTest, ClassifiesStatusCodes) {
    ApiResponse forbidden{403, R"({"kind":"Status","message":"namespaces is forbidden"})"};
    auto error = ApiError("GET", "/api/v1/namespaces", forbidden);
    EXPECT_FALSE(error.retryable());
    EXPECT_EQ(error.code, "k8s_forbidden");
    EXPECT_NE(error.message.find("namespaces is forbidden"), std::string::npos);
    EXPECT_TRUE(ApiError("GET", "/x", {503, ""}).retryable());
    EXPECT_TRUE(ApiError("GET", "/x", {429, ""}).retryable());
    EXPECT_EQ(ApiError("GET", "/x", {404, "{}"}).code, "not_found");
}

}  // namespace
}  // namespace storefleet::kube
