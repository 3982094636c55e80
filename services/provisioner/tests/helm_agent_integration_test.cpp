// storefleet-helm-agent on the local real stack (tests/with-stack): its releases are the Helm
// CLI's own (list, history, rollback), a second install is an upgrade, uninstall removes
// objects and records, and a kill -9 of the agent during an install leaves nothing the next
// call cannot finish.
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <thread>
#include <vector>

#include "config.hpp"
#include "helm_agent.hpp"
#include "run_command.hpp"
#include "store_plan.hpp"
#include "storefleet/common/ids.hpp"
#include "storefleet/kube/client.hpp"
#include "storefleet/kube/kubeconfig.hpp"
#include "storefleet/test_support/env.hpp"

namespace storefleet::provisioner {
namespace {

using test_support::Env;

// The agent the build made (the helm_agent target), unless STOREFLEET_HELM_AGENT says.
std::string AgentBinary() {
    if (auto set = Env("STOREFLEET_HELM_AGENT"); !set.empty()) return set;
    return HELM_AGENT_BINARY;
}

class HelmAgentIntegrationTest : public testing::Test {
protected:
    void SetUp() override {
        kubeconfig_ = Env("KUBECONFIG");
        ASSERT_FALSE(kubeconfig_.empty()) << "run under tests/with-stack (KUBECONFIG)";
        ASSERT_EQ(access(AgentBinary().c_str(), X_OK), 0)
            << AgentBinary() << " is missing: the build's helm_agent target makes it";
        helm_ = FindExecutable("helm");
        kubectl_ = FindExecutable("kubectl");
        home_ = testing::TempDir() + "/helm-agent-it-" + std::to_string(getpid());
        std::filesystem::create_directories(home_);
        ns_ = "helm-agent-it-" + NewUuid().substr(0, 8);
        ASSERT_EQ(Kubectl({"create", "namespace", ns_}).exit_code, 0);
        kube_ = std::make_unique<kube::KubeClient>(kube::LoadKubeconfig(kubeconfig_));
        agent_ = std::make_unique<HelmAgent>(HelmAgent::Options{.agent_binary = AgentBinary(),
                                                                .kubeconfig = kubeconfig_,
                                                                .helm_home = home_ + "/helm",
                                                                .timeout = std::chrono::seconds(60),
                                                                .openapi_validation = false});
    }
    void TearDown() override {
        agent_.reset();
        Kubectl({"delete", "namespace", ns_, "--wait=false"});
        std::filesystem::remove_all(home_);
    }
    CommandResult Run(const std::string& binary, std::vector<std::string> args) {
        args.insert(args.begin(), binary);
        return RunCommand(args,
                          {"PATH=" + Env("PATH"), "HOME=" + home_, "KUBECONFIG=" + kubeconfig_});
    }
    // The Helm CLI, to check that the agent's releases are its own.
    CommandResult Helm(std::vector<std::string> args) { return Run(helm_, std::move(args)); }
    CommandResult Kubectl(std::vector<std::string> args) { return Run(kubectl_, std::move(args)); }
    nlohmann::json HelmJson(std::vector<std::string> args) {
        args.emplace_back("-o");
        args.emplace_back("json");
        auto out = Helm(args);
        EXPECT_EQ(out.exit_code, 0) << out.output;
        return nlohmann::json::parse(out.output, nullptr, false);
    }
    static std::string Chart(const std::string& name) {
        return std::string(STOREFLEET_SOURCE_DIR) + "/charts/" + name;
    }
    // Whether an interrupted install of the store release got through anyway: its call answered ok,
    // or its last write was already on its way (the record reads deployed at once). Such a try
    // is undone, for the caller to try again; the interruption lost a race, nothing more.
    bool InstallWonTheRace(const Status& outcome) {
        if (!outcome.ok() &&
            HelmJson({"status", "store", "-n", ns_})["info"]["status"] != "deployed")
            return false;
        CancelToken undo(shutdown_);
        EXPECT_TRUE(agent_->Uninstall(kReleaseName, ns_, undo).ok());
        return true;
    }

    std::string kubeconfig_, helm_, kubectl_, home_, ns_;
    std::unique_ptr<kube::KubeClient> kube_;
    std::unique_ptr<HelmAgent> agent_;
    ShutdownFlag shutdown_;
};

TEST_F(HelmAgentIntegrationTest, ItsReleasesAreTheClisListHistoryRollbackUpgradeAndUninstall) {
    CancelToken cancel(shutdown_);
    auto installed =
        agent_->UpgradeInstall("smoke", ns_, Chart("smoke"), {}, nlohmann::json::object(), cancel);
    ASSERT_TRUE(installed.ok()) << installed.error().message;

    auto list = HelmJson({"list", "-n", ns_});
    ASSERT_EQ(list.size(), 1U) << list.dump();
    EXPECT_EQ(list[0]["name"], "smoke");
    EXPECT_EQ(list[0]["status"], "deployed");
    EXPECT_EQ(list[0]["revision"], "1");
    const auto deployments = Kubectl({"get", "deployments", "-n", ns_, "-o", "name"});
    EXPECT_NE(deployments.output.find("deployment.apps/"), std::string::npos) << deployments.output;
    // The objects' field manager is the CLI's, so `helm upgrade` by the CLI patches them cleanly.
    const auto managers = Kubectl({"get", "deployments", "-n", ns_, "--show-managed-fields", "-o",
                                   "jsonpath={.items[0].metadata.managedFields[0].manager}"});
    EXPECT_EQ(managers.output, "helm");

    // The same chart and values again (a replayed command): no revision (skip_if_unchanged).
    auto replayed =
        agent_->UpgradeInstall("smoke", ns_, Chart("smoke"), {}, nlohmann::json::object(), cancel);
    ASSERT_TRUE(replayed.ok()) << replayed.error().message;
    ASSERT_EQ(HelmJson({"history", "smoke", "-n", ns_}).size(), 1U);

    // Other values on the same release are an upgrade: revision 2.
    const nlohmann::json port81 = {{"service", {{"port", 81}}}};
    auto upgraded = agent_->UpgradeInstall("smoke", ns_, Chart("smoke"), {}, port81, cancel);
    ASSERT_TRUE(upgraded.ok()) << upgraded.error().message;
    auto history = HelmJson({"history", "smoke", "-n", ns_});
    ASSERT_EQ(history.size(), 2U) << history.dump();
    EXPECT_EQ(history[0]["status"], "superseded");
    EXPECT_EQ(history[1]["revision"], 2);
    EXPECT_EQ(history[1]["status"], "deployed");
    // Read back from the release record (JSON in a Secret), the values still compare equal.
    ASSERT_TRUE(agent_->UpgradeInstall("smoke", ns_, Chart("smoke"), {}, port81, cancel).ok());
    ASSERT_EQ(HelmJson({"history", "smoke", "-n", ns_}).size(), 2U);

    // The CLI rolls the agent's release back, and the agent upgrades the CLI's (revision 4).
    auto rollback = Helm({"rollback", "smoke", "1", "-n", ns_});
    ASSERT_EQ(rollback.exit_code, 0) << rollback.output;
    auto again = agent_->UpgradeInstall("smoke", ns_, Chart("smoke"), {}, port81, cancel);
    ASSERT_TRUE(again.ok()) << again.error().message;
    history = HelmJson({"history", "smoke", "-n", ns_});
    ASSERT_EQ(history.size(), 4U) << history.dump();
    EXPECT_EQ(history[2]["description"], "Rollback to 1");
    EXPECT_EQ(history[3]["status"], "deployed");

    // Uninstall removes the objects and every record; a second one is a no-op.
    auto removed = agent_->Uninstall("smoke", ns_, cancel);
    ASSERT_TRUE(removed.ok()) << removed.error().message;
    EXPECT_EQ(HelmJson({"list", "-a", "-n", ns_}).size(), 0U);
    EXPECT_EQ(Kubectl({"get", "secrets", "-n", ns_, "-l", "owner=helm", "-o", "name"}).output, "");
    EXPECT_EQ(Kubectl({"get", "deployments,services", "-n", ns_, "-o", "name"}).output, "");
    EXPECT_TRUE(agent_->Uninstall("smoke", ns_, cancel).ok());
    // A failure carries Helm's own text and is classified like the CLI's.
    auto refused =
        agent_->UpgradeInstall("smoke", ns_, Chart("smoke"), {}, {{"no_such_value", 1}}, cancel);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().code, "helm_failed");
    EXPECT_NE(refused.error().message.find("schema"), std::string::npos) << refused.error().message;
    EXPECT_EQ(agent_->Starts(), 1);
}

// The agent is killed -9 as soon as the install's release record exists (pending-install):
// the call fails Retryable, and the next call (a new agent, which finds the release pending
// and recovers it with recover_pending) leaves it deployed with every object.
// Runs an install of `chart` on a thread and calls `at_record` once, as soon
// as the install's first release record exists (the install is then under way). Returns the
// install's outcome and whether `at_record` ran before the install finished.
struct InterruptedInstall {
    Status outcome = Status::Ok();
    bool interrupted = false;
};
InterruptedInstall InstallAndInterruptAtItsRecord(HelmAgent& agent, kube::KubeApi& kube,
                                                  const std::string& ns, const std::string& chart,
                                                  const nlohmann::json& values,
                                                  const CancelToken& cancel,
                                                  const std::function<bool()>& at_record) {
    InterruptedInstall result;
    std::atomic<bool> done{false};
    std::thread install([&] {
        result.outcome = agent.UpgradeInstall(kReleaseName, ns, chart, {}, values, cancel);
        done = true;
    });
    const std::string record = "/api/v1/namespaces/" + ns + "/secrets/sh.helm.release.v1.store.v1";
    while (!done) {
        if (kube.Get(record).ok()) {
            result.interrupted = at_record();
            break;
        }
    }
    install.join();
    return result;
}

TEST_F(HelmAgentIntegrationTest, AKillNineDuringAnInstallIsFinishedByTheNextCall) {
    const StoreSpec spec{NewUuid(),
                         "tenant-it",
                         "agent-kill",
                         "woocommerce",
                         "small",
                         "agent-kill.example.test",
                         "admin@agent-kill.example.test"};
    const auto values = ChartValues(spec, "");
    CancelToken cancel(shutdown_);
    // A fast install can still write its last record between the test seeing its first one and
    // the kill landing (a race the kill loses): then the release is uninstalled and the whole
    // thing tried again with the next agent, up to 5 times.
    Status first = Status::Ok();
    int kills = 0;
    for (int attempt = 0; attempt < 5 && first.ok(); ++attempt) {
        // Warm: the agent runs and has discovered the API, so the kill lands in the install itself.
        ASSERT_TRUE(agent_->Uninstall("warm-up", ns_, cancel).ok());
        const pid_t pid = agent_->AgentPid();
        ASSERT_GT(pid, 0);
        const auto tried =
            InstallAndInterruptAtItsRecord(*agent_, *kube_, ns_, Chart("woocommerce-store"), values,
                                           cancel, [pid] { return kill(pid, SIGKILL) == 0; });
        ASSERT_TRUE(tried.interrupted) << "the install finished before its record could be seen";
        ++kills;
        first = tried.outcome;
        if (InstallWonTheRace(first)) first = Status::Ok();
    }
    ASSERT_FALSE(first.ok()) << "5 installs in a row were deployed before their kill landed";
    EXPECT_TRUE(first.error().retryable());
    EXPECT_EQ(first.error().code, "helm_agent_died");

    auto next =
        agent_->UpgradeInstall(kReleaseName, ns_, Chart("woocommerce-store"), {}, values, cancel);
    ASSERT_TRUE(next.ok()) << next.error().message;
    EXPECT_EQ(agent_->Starts(), kills + 1) << "each kill costs one start, and nothing else does";
    auto list = HelmJson({"list", "-n", ns_});
    ASSERT_EQ(list.size(), 1U) << list.dump();
    EXPECT_EQ(list[0]["status"], "deployed");
    // The interrupted first install's record was dropped, not rolled back or upgraded over.
    EXPECT_EQ(list[0]["revision"], "1");
    const auto objects =
        Kubectl({"get", "deployments,statefulsets,services", "-n", ns_, "-o", "name"});
    EXPECT_NE(objects.output.find("deployment.apps/"), std::string::npos) << objects.output;
    EXPECT_NE(objects.output.find("statefulset.apps/"), std::string::npos) << objects.output;
}

// A cancel as soon as the install's release record exists: the call returns "cancelled", and
// the agent writes nothing more for it (Helm's install goroutine outlives RunWithContext, but
// its API requests fail after the cancel), so the release stays pending-install as a killed
// CLI leaves it, and the next call recovers and installs it.
TEST_F(HelmAgentIntegrationTest, ACancelledInstallWritesNothingAfterTheCancel) {
    const StoreSpec spec{NewUuid(),
                         "tenant-it",
                         "agent-cancel",
                         "woocommerce",
                         "small",
                         "agent-cancel.example.test",
                         "admin@agent-cancel.example.test"};
    const auto values = ChartValues(spec, "");
    CancelToken warm(shutdown_);
    ASSERT_TRUE(agent_->Uninstall("warm-up", ns_, warm).ok());

    // A fast install can still finish between its record and the cancel reaching the agent
    // (a race the cancel loses, not a write after it): then the release is uninstalled and
    // the install tried again, up to 5 times. So can its last write, sent before the cancel
    // and landing just after the call answered "cancelled": the record then reads deployed at
    // once, where a write made after the cancel would come later, in the watch below.
    Status first = Status::Ok();
    for (int attempt = 0; attempt < 5 && first.ok(); ++attempt) {
        CancelToken cancel(shutdown_);
        const auto tried = InstallAndInterruptAtItsRecord(
            *agent_, *kube_, ns_, Chart("woocommerce-store"), values, cancel, [&cancel] {
                cancel.Supersede();
                return true;
            });
        ASSERT_TRUE(tried.interrupted) << "the install finished before its record could be seen";
        first = tried.outcome;
        if (InstallWonTheRace(first)) first = Status::Ok();
    }
    ASSERT_FALSE(first.ok())
        << "5 installs in a row finished before their cancel reached the agent";
    EXPECT_EQ(first.error().code, "cancelled");
    // Watched for 3 s, long enough for the rest of the install to have happened had it gone
    // on: the record stays pending-install the whole time.
    const auto watch_until = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    do {
        const auto status = HelmJson({"status", "store", "-n", ns_});
        ASSERT_EQ(status["info"]["status"], "pending-install")
            << "the install went on after its cancel";
    } while (std::chrono::steady_clock::now() < watch_until);
    EXPECT_EQ(agent_->Starts(), 1) << "a cancel does not cost the agent";

    CancelToken fresh(shutdown_);
    auto next =
        agent_->UpgradeInstall(kReleaseName, ns_, Chart("woocommerce-store"), {}, values, fresh);
    ASSERT_TRUE(next.ok()) << next.error().message;
    EXPECT_EQ(HelmJson({"status", "store", "-n", ns_})["info"]["status"], "deployed");
}

}  // namespace
}  // namespace storefleet::provisioner
