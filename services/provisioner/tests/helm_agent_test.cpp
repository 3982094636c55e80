#include "helm_agent.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "storefleet/test_support/wait.hpp"

namespace storefleet::provisioner {
namespace {

std::string ReadAll(const std::string& path) {
    std::ifstream file(path);
    std::stringstream text;
    text << file.rdbuf();
    return text.str();
}

class HelmAgentTest : public testing::Test {
protected:
    // Polls (5 s deadline) until the fake agent has received `count` requests.
    bool WaitForRequests(std::size_t count) {
        return test_support::WaitUntil(
            [&] {
                const auto requests = ReadAll(Home() + "/fake-agent-requests");
                return static_cast<std::size_t>(
                           std::count(requests.begin(), requests.end(), '\n')) >= count;
            },
            std::chrono::seconds(5), std::chrono::milliseconds(10));
    }

    void SetUp() override {
        dir_ = testing::TempDir() + "/helm-agent-" + std::to_string(getpid()) + "-" +
               testing::UnitTest::GetInstance()->current_test_info()->name();
        std::filesystem::remove_all(dir_);
        std::filesystem::create_directories(dir_);
        options_ = {.agent_binary = HELM_AGENT_FAKE,
                    .kubeconfig = "",
                    .helm_home = dir_ + "/home",
                    .timeout = std::chrono::seconds(10),
                    .openapi_validation = false};
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }
    [[nodiscard]] std::string Home() const { return dir_ + "/home"; }

    std::string dir_;
    HelmAgent::Options options_;
    ShutdownFlag shutdown_;
};

TEST_F(HelmAgentTest, AnswersOutOfOrderReachTheirOwnCallersThroughOneAgent) {
    HelmAgent agent(options_);
    std::atomic<int> finished{0};
    int slow_rank = 0;
    int fast_rank = 0;
    Status slow_status = Status::Ok();
    Status fast_status = Error::Permanent("unset", "unset");
    std::thread slow([&] {
        CancelToken cancel(shutdown_);
        slow_status =
            agent.UpgradeInstall("slow-3000", "ns-a", "/charts/w", {}, {{"a", 1}}, cancel);
        slow_rank = ++finished;
    });
    ASSERT_TRUE(WaitForRequests(1));  // the slow request is in the agent first
    std::thread fast([&] {
        CancelToken cancel(shutdown_);
        fast_status = agent.UpgradeInstall("fast", "ns-b", "/charts/w", {}, {{"b", 2}}, cancel);
        fast_rank = ++finished;
    });
    slow.join();
    fast.join();
    EXPECT_TRUE(slow_status.ok());
    EXPECT_TRUE(fast_status.ok());
    EXPECT_EQ(fast_rank, 1) << "the fast call waited for the slow one";
    EXPECT_EQ(slow_rank, 2);
    EXPECT_EQ(agent.Starts(), 1);
}

TEST_F(HelmAgentTest, ValuesAndValuesFilesTravelInTheRequestAndFailuresAreClassified) {
    HelmAgent agent(options_);
    CancelToken cancel(shutdown_);
    auto status =
        agent.UpgradeInstall("echo", "ns", "/charts/w", {"/charts/w/values-real-node.yaml"},
                             {{"secret", "s3cr3t-value"}}, cancel);
    ASSERT_FALSE(status.ok());
    EXPECT_EQ(status.error().code, "helm_failed");
    EXPECT_FALSE(status.error().retryable());
    EXPECT_NE(status.error().message.find("s3cr3t-value"), std::string::npos)
        << status.error().message;
    EXPECT_NE(status.error().message.find("values-real-node.yaml"), std::string::npos);
    // Always asked: a replayed install must not become another revision (PROTOCOL.md).
    EXPECT_NE(status.error().message.find("skip_if_unchanged=true"), std::string::npos)
        << status.error().message;
}

TEST_F(HelmAgentTest, ACancelledCallReturnsCancelledAtOnceAndCancelsTheRequestInTheAgent) {
    HelmAgent agent(options_);
    CancelToken cancel(shutdown_);
    std::thread canceller([&] {
        WaitForRequests(1);  // cancel once the request is in the agent
        cancel.Supersede();
    });
    const auto start = std::chrono::steady_clock::now();
    auto status = agent.UpgradeInstall("hang", "ns", "/charts/w", {}, {}, cancel);
    const auto took = std::chrono::steady_clock::now() - start;
    canceller.join();
    ASSERT_FALSE(status.ok());
    EXPECT_EQ(status.error().code, "cancelled");
    EXPECT_LT(took, std::chrono::seconds(3));
    // The agent got the cancel; a call after it works on the same agent.
    CancelToken fresh(shutdown_);
    EXPECT_TRUE(agent.Uninstall("other", "ns", fresh).ok());
    EXPECT_NE(ReadAll(Home() + "/fake-agent-requests").find("cancel "), std::string::npos);
    EXPECT_EQ(agent.Starts(), 1);
}

TEST_F(HelmAgentTest, AKilledAgentFailsEveryWaitingCallRetryableAndTheNextCallStartsAnother) {
    HelmAgent agent(options_);
    Status first = Status::Ok();
    Status second = Status::Ok();
    std::thread a([&] {
        CancelToken cancel(shutdown_);
        first = agent.UpgradeInstall("hang", "ns-a", "/charts/w", {}, {}, cancel);
    });
    std::thread b([&] {
        CancelToken cancel(shutdown_);
        second = agent.Uninstall("hang", "ns-b", cancel);
    });
    ASSERT_TRUE(WaitForRequests(2));  // both requests are in the agent before it is killed
    const pid_t pid = agent.AgentPid();
    ASSERT_GT(pid, 0);
    ASSERT_EQ(kill(pid, SIGKILL), 0);
    a.join();
    b.join();
    ASSERT_FALSE(first.ok());
    ASSERT_FALSE(second.ok());
    EXPECT_TRUE(first.error().retryable());
    EXPECT_EQ(first.error().code, "helm_agent_died");
    EXPECT_TRUE(second.error().retryable());
    EXPECT_NE(first.error().message.find("signal 9"), std::string::npos) << first.error().message;

    CancelToken cancel(shutdown_);
    auto next = agent.UpgradeInstall("store", "ns-a", "/charts/w", {}, {}, cancel);
    EXPECT_TRUE(next.ok()) << next.error().message;
    EXPECT_EQ(agent.Starts(), 2);
    EXPECT_NE(agent.AgentPid(), pid);
}

TEST_F(HelmAgentTest, AnAgentThatExitsMidCallFailsTheOtherCallsRetryable) {
    HelmAgent agent(options_);
    Status slow = Status::Ok();
    std::thread waiting([&] {
        CancelToken cancel(shutdown_);
        slow = agent.UpgradeInstall("slow-5000", "ns-a", "/charts/w", {}, {}, cancel);
    });
    ASSERT_TRUE(WaitForRequests(1));
    CancelToken cancel(shutdown_);
    auto died = agent.UpgradeInstall("die", "ns-b", "/charts/w", {}, {}, cancel);
    waiting.join();
    ASSERT_FALSE(died.ok());
    EXPECT_EQ(died.error().code, "helm_agent_died");
    ASSERT_FALSE(slow.ok());
    EXPECT_EQ(slow.error().code, "helm_agent_died");
    EXPECT_NE(slow.error().message.find("status 3"), std::string::npos) << slow.error().message;
}

TEST_F(HelmAgentTest, AMissingAgentBinaryIsARetryableFailureThatSaysWhy) {
    options_.agent_binary = dir_ + "/no-such-agent";
    HelmAgent agent(options_);
    CancelToken cancel(shutdown_);
    auto status = agent.UpgradeInstall("store", "ns", "/charts/w", {}, {}, cancel);
    ASSERT_FALSE(status.ok());
    EXPECT_TRUE(status.error().retryable());
    EXPECT_NE(status.error().message.find("no-such-agent"), std::string::npos)
        << status.error().message;
}

// An install that meets a pending release asks the agent to recover it, then installs again:
// three requests, in that order, on the one agent.
TEST_F(HelmAgentTest, APendingReleaseIsRecoveredByTheAgentThenInstalled) {
    HelmAgent agent(options_);
    CancelToken cancel(shutdown_);
    auto status = agent.UpgradeInstall("pending", "ns", "/charts/w", {}, {{"a", 1}}, cancel);
    ASSERT_TRUE(status.ok()) << status.error().message;
    EXPECT_EQ(ReadAll(Home() + "/fake-agent-requests"),
              "upgrade_install pending\nrecover_pending pending\nupgrade_install pending\n");
    EXPECT_EQ(agent.Starts(), 1);
}

// A recovery that cannot proceed (another operation on the release is still under way) fails
// the call as retryable helm_pending, and nothing is installed over it.
TEST_F(HelmAgentTest, ARecoveryThatCannotProceedIsRetryableAndInstallsNothing) {
    HelmAgent agent(options_);
    CancelToken cancel(shutdown_);
    auto status = agent.UpgradeInstall("stuck", "ns", "/charts/w", {}, {}, cancel);
    ASSERT_FALSE(status.ok());
    EXPECT_EQ(status.error().code, "helm_pending");
    EXPECT_TRUE(status.error().retryable());
    EXPECT_EQ(ReadAll(Home() + "/fake-agent-requests"),
              "upgrade_install stuck\nrecover_pending stuck\n");
}

// Other failures go back as they are: no recovery asked for.
TEST_F(HelmAgentTest, OtherFailuresAreNotRecovered) {
    HelmAgent agent(options_);
    CancelToken cancel(shutdown_);
    auto status = agent.UpgradeInstall("echo", "ns", "/charts/w", {}, {}, cancel);
    ASSERT_FALSE(status.ok());
    EXPECT_EQ(status.error().code, "helm_failed");
    EXPECT_EQ(ReadAll(Home() + "/fake-agent-requests"), "upgrade_install echo\n");
}

}  // namespace
}  // namespace storefleet::provisioner
