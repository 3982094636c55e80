#include "process.hpp"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace storefleet::provisioner
