#include "helm.hpp"

#include <unistd.h>

#include <filesystem>

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <mutex>

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

// A stand-in for the Helm CLI: the first upgrade finds a release left pending (`status`
// answers `status_json`: by default a first install) by a killed provisioner; every command
// is logged to a file.
std::string FakeHelm(const std::string& dir,
                     const std::string& status_json = R"({"info":{"status":"pending-install"},"version":1})") {
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

TEST(HelmTest, AnInterruptedFirstInstallIsRecoveredByDroppingItsRecordNotByUninstalling) {
    const std::string dir = testing::TempDir() + "/fake-helm-" + std::to_string(getpid());
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    RecordingKube kube;
    HelmCli helm({FakeHelm(dir), "", dir + "/home", std::chrono::seconds(10), false}, &kube);
    ShutdownFlag shutdown;
    CancelToken cancel(shutdown);
    auto status = helm.UpgradeInstall("store", "store-x", "/charts/w", {}, {{"a", 1}}, cancel);
    ASSERT_TRUE(status.ok()) << status.error().message;
    std::ifstream calls_file(dir + "/calls");
    std::string calls;
    for (std::string line; std::getline(calls_file, line);) calls += line + "\n";
    EXPECT_EQ(calls, "upgrade\nstatus\nupgrade\n") << "no uninstall: the objects the install made stay in use";
    ASSERT_EQ(kube.calls.size(), 1U);
    EXPECT_EQ(kube.calls[0], "DELETE /api/v1/namespaces/store-x/secrets/sh.helm.release.v1.store.v1");
    std::filesystem::remove_all(dir);
}

TEST(HelmTest, AnInterruptedUpgradeIsRecoveredByDroppingItsPendingRevisionNotByRollingBack) {
    const std::string dir = testing::TempDir() + "/fake-helm-upgrade-" + std::to_string(getpid());
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    RecordingKube kube;
    HelmCli helm({FakeHelm(dir, R"({"info":{"status":"pending-upgrade"},"version":3})"), "", dir + "/home",
                  std::chrono::seconds(10), false},
                 &kube);
    ShutdownFlag shutdown;
    CancelToken cancel(shutdown);
    auto status = helm.UpgradeInstall("store", "store-x", "/charts/w", {}, {{"a", 1}}, cancel);
    ASSERT_TRUE(status.ok()) << status.error().message;
    std::ifstream calls_file(dir + "/calls");
    std::string calls;
    for (std::string line; std::getline(calls_file, line);) calls += line + "\n";
    EXPECT_EQ(calls, "upgrade\nstatus\nupgrade\n") << "no rollback: its revision would be one nobody asked for";
    ASSERT_EQ(kube.calls.size(), 1U);
    EXPECT_EQ(kube.calls[0], "DELETE /api/v1/namespaces/store-x/secrets/sh.helm.release.v1.store.v3");
    std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace storefleet::provisioner
