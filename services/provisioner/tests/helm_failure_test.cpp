#include "helm_failure.hpp"

#include <gtest/gtest.h>

#include <string>

namespace storefleet::provisioner {
namespace {

TEST(HelmFailureTest, ClassifiesFailures) {
    EXPECT_EQ(
        ClassifyHelmFailure(
            "upgrade",
            "Error: UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress")
            .code,
        "helm_pending");
    EXPECT_TRUE(
        ClassifyHelmFailure("upgrade", "dial tcp 127.0.0.1:6443: connect: connection refused")
            .retryable());
    auto schema = ClassifyHelmFailure(
        "upgrade", "Error: values don't meet the specifications of the schema(s)");
    EXPECT_FALSE(schema.retryable());
    EXPECT_NE(schema.message.find("schema"), std::string::npos);
}

TEST(HelmFailureTest, AQuotaCountedTooHighAfterACrashIsRetried) {
    const auto error = ClassifyHelmFailure(
        "upgrade",
        "Error: services \"store-web\" is forbidden: exceeded quota: store-quota, requested: "
        "services=1, used: services=5, limited: services=5");
    EXPECT_TRUE(error.retryable());
    EXPECT_EQ(error.code, "helm_quota");
}

TEST(HelmFailureTest, LongOutputIsTrimmedToItsEnd) {
    std::string output(5000, 'x');
    output += "the real reason";
    auto error = ClassifyHelmFailure("upgrade", output);
    EXPECT_LT(error.message.size(), 700U);
    EXPECT_NE(error.message.find("the real reason"), std::string::npos);
}

TEST(HelmFailureTest, InterruptedUninstallsAndDeletionsDuringAnApiOutageAreRetried) {
    EXPECT_TRUE(
        ClassifyHelmFailure("uninstall", "Error: failed to delete release: store").retryable());
    EXPECT_EQ(
        ClassifyHelmFailure("upgrade", "Error: UPGRADE FAILED: \"store\" has no deployed releases")
            .code,
        "helm_not_deployed");
}

}  // namespace
}  // namespace storefleet::provisioner
