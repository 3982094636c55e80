#include "helm.hpp"

#include <unistd.h>

#include <filesystem>

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <mutex>
#include <string>
#include <vector>

namespace storefleet::provisioner {
namespace {

TEST(HelmTest, ClassifiesFailures) {
    EXPECT_EQ(ClassifyHelmFailure("upgrade", "Error: UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress").code,
              "helm_pending");
    EXPECT_TRUE(ClassifyHelmFailure("upgrade", "dial tcp 127.0.0.1:6443: connect: connection refused").retryable());
    auto schema = ClassifyHelmFailure("upgrade", "Error: values don't meet the specifications of the schema(s)");
    EXPECT_FALSE(schema.retryable());
    EXPECT_NE(schema.message.find("schema"), std::string::npos);
}

TEST(HelmTest, LongOutputIsTrimmedToItsEnd) {
    std::string output(5000, 'x');
    output += "the real reason";
    auto error = ClassifyHelmFailure("upgrade", output);
    EXPECT_LT(error.message.size(), 700U);
    EXPECT_NE(error.message.find("the real reason"), std::string::npos);
}

TEST(HelmTest, InterruptedUninstallsAndDeletionsDuringAnApiOutageAreRetried) {
    EXPECT_TRUE(ClassifyHelmFailure("uninstall", "Error: failed to delete release: store").retryable());
    EXPECT_EQ(ClassifyHelmFailure("upgrade", "Error: UPGRADE FAILED: \"store\" has no deployed releases").code,
              "helm_not_deployed");
}

// Records what the recovery asks of the API.
class RecordingKube : public kube::KubeApi {
public:
    Result<kube::ApiResponse> Call(const std::string& method, const std::string& path, const std::string&,
                                   const std::string&) override {
        std::lock_guard lock(mutex);
        calls.push_back(method + " " + path);
        return kube::ApiResponse{200, "{}"};
    }
    std::mutex mutex;
    std::vector<std::string> calls;
};

// A stand-in for the Helm CLI: the first upgrade finds a release left pending by a killed
// provisioner (`status` answers `status_json`); every command is logged to a file.
std::string FakeHelm(const std::string& dir, const std::string& status_json) {
    const std::string path = dir + "/helm";
    std::ofstream script(path);
    script << "#!/bin/sh\n"
           << "echo \"$1\" >> " << dir << "/calls\n"
           << "case \"$1\" in\n"
           << "  upgrade) if [ ! -e " << dir << "/recovered ]; then touch " << dir << "/recovered;"
           << " echo 'Error: UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress' >&2; exit 1; fi;"
           << " echo installed ;;\n"
           << "  status) echo '" << status_json << "' ;;\n"
           << "  *) echo unexpected >&2; exit 3 ;;\n"
           << "esac\n";
    script.close();
    chmod(path.c_str(), 0755);
    return path;
}

// What an `upgrade --install` that first finds the release pending (`status` answers
// `status_json`) runs: the CLI's commands, one per line, and the Kubernetes calls.
struct Recovery {
    std::string cli_calls;
    std::vector<std::string> kube_calls;
};
Recovery RecoverFrom(const std::string& status_json) {
    const std::string dir = testing::TempDir() + "/fake-helm-" + std::to_string(getpid());
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    RecordingKube kube;
    HelmCli helm({FakeHelm(dir, status_json), "", dir + "/home", std::chrono::seconds(10), false}, &kube);
    ShutdownFlag shutdown;
    CancelToken cancel(shutdown);
    auto status = helm.UpgradeInstall("store", "store-x", "/charts/w", {}, {{"a", 1}}, cancel);
    EXPECT_TRUE(status.ok()) << status.error().message;
    Recovery recovery;
    std::ifstream calls_file(dir + "/calls");
    for (std::string line; std::getline(calls_file, line);) recovery.cli_calls += line + "\n";
    recovery.kube_calls = kube.calls;
    std::filesystem::remove_all(dir);
    return recovery;
}

TEST(HelmTest, AnInterruptedFirstInstallIsRecoveredByDroppingItsRecordNotByUninstalling) {
    const auto recovery = RecoverFrom(R"({"info":{"status":"pending-install"},"version":1})");
    EXPECT_EQ(recovery.cli_calls, "upgrade\nstatus\nupgrade\n") << "no uninstall: the objects the install made stay in use";
    EXPECT_EQ(recovery.kube_calls,
              std::vector<std::string>{"DELETE /api/v1/namespaces/store-x/secrets/sh.helm.release.v1.store.v1"});
}

TEST(HelmTest, AnInterruptedUpgradeIsRecoveredByDroppingItsPendingRevisionNotByRollingBack) {
    const auto recovery = RecoverFrom(R"({"info":{"status":"pending-upgrade"},"version":3})");
    EXPECT_EQ(recovery.cli_calls, "upgrade\nstatus\nupgrade\n") << "no rollback: its revision would be one nobody asked for";
    EXPECT_EQ(recovery.kube_calls,
              std::vector<std::string>{"DELETE /api/v1/namespaces/store-x/secrets/sh.helm.release.v1.store.v3"});
}

}  // namespace
}  // namespace storefleet::provisioner
