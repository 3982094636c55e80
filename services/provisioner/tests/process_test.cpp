#include "process.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <thread>

namespace storefleet::provisioner {
namespace {

TEST(ProcessTest, CapturesOutputAndExitCodeWithoutAShell) {
    auto result = RunProcess({"/bin/echo", "a b", "$HOME;", "`x`"}, {}, std::chrono::seconds(5));
    EXPECT_EQ(result.exit_code, 0);
    EXPECT_EQ(result.output, "a b $HOME; `x`\n") << "arguments reach the program verbatim";
    auto failed = RunProcess({"/bin/sh", "-c", "echo oops >&2; exit 3"}, {}, std::chrono::seconds(5));
    EXPECT_EQ(failed.exit_code, 3);
    EXPECT_EQ(failed.output, "oops\n");
}

TEST(ProcessTest, PassesOnlyTheGivenEnvironment) {
    auto result = RunProcess({"/usr/bin/env"}, {"ONLY=this"}, std::chrono::seconds(5));
    EXPECT_EQ(result.output, "ONLY=this\n");
}

TEST(ProcessTest, KillsAtTheDeadline) {
    const auto start = std::chrono::steady_clock::now();
    auto result = RunProcess({"/bin/sleep", "30"}, {}, std::chrono::milliseconds(300));
    EXPECT_TRUE(result.timed_out);
    EXPECT_EQ(result.exit_code, -1);
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST(ProcessTest, MissingProgramIsReported) {
    auto result = RunProcess({"/nonexistent/helm"}, {}, std::chrono::seconds(5));
    EXPECT_EQ(result.exit_code, -1);
    EXPECT_NE(result.output.find("cannot start"), std::string::npos);
}

bool Alive(pid_t pid) { return kill(pid, 0) == 0; }

// Polls until `pid` is gone (or a zombie nobody reaps: not ours), up to 5 s.
bool GoneWithin5s(pid_t pid) {
    for (int i = 0; i < 500; ++i) {
        if (!Alive(pid)) return true;
        std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
        std::string skip, state;
        stat >> skip >> skip >> state;
        if (state == "Z") return true;
        usleep(10'000);
    }
    return false;
}

pid_t ReadPid(const std::string& path) {
    for (int i = 0; i < 500; ++i) {
        std::ifstream in(path);
        pid_t pid = 0;
        if (in >> pid && pid > 0) return pid;
        usleep(10'000);
    }
    return 0;
}

TEST(ProcessTest, CancelKillsTheWholeProcessGroup) {
    const std::string pid_file = testing::TempDir() + "/grandchild-" + std::to_string(getpid());
    std::remove(pid_file.c_str());
    std::atomic<bool> cancel{false};
    std::thread canceller([&] {
        ReadPid(pid_file);
        cancel = true;
    });
    const auto start = std::chrono::steady_clock::now();
    // A child that starts a grandchild (as Helm could) and waits for it.
    auto result = RunProcess({"/bin/sh", "-c", "sleep 30 & echo $! > " + pid_file + "; wait"}, {},
                             std::chrono::seconds(30), [&] { return cancel.load(); });
    canceller.join();
    EXPECT_TRUE(result.cancelled);
    EXPECT_EQ(result.exit_code, -1);
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
    const pid_t grandchild = ReadPid(pid_file);
    ASSERT_GT(grandchild, 0);
    EXPECT_TRUE(GoneWithin5s(grandchild)) << "the grandchild in the child's group was killed too";
    std::remove(pid_file.c_str());
}

TEST(ProcessTest, TheChildDiesWhenItsParentIsKilled) {
    const std::string pid_file = testing::TempDir() + "/orphan-" + std::to_string(getpid());
    std::remove(pid_file.c_str());
    // A stand-in for the provisioner: a process that runs a long child, then gets kill -9.
    const pid_t service = fork();
    ASSERT_GE(service, 0);
    if (service == 0) {
        RunProcess({"/bin/sh", "-c", "echo $$ > " + pid_file + "; exec sleep 30"}, {}, std::chrono::seconds(30));
        _exit(0);
    }
    const pid_t child = ReadPid(pid_file);
    ASSERT_GT(child, 0);
    ASSERT_TRUE(Alive(child));
    kill(service, SIGKILL);
    waitpid(service, nullptr, 0);
    EXPECT_TRUE(GoneWithin5s(child)) << "no Helm may outlive a killed provisioner";
    if (Alive(child)) kill(child, SIGKILL);
    std::remove(pid_file.c_str());
}

}  // namespace
}  // namespace storefleet::provisioner
