// The test support library's own checks: no stack needed.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "storefleet/test_support/env.hpp"
#include "storefleet/test_support/http.hpp"
#include "storefleet/test_support/platform.hpp"
#include "storefleet/test_support/process.hpp"
#include "storefleet/test_support/scope_exit.hpp"
#include "storefleet/test_support/wait.hpp"

namespace storefleet::test_support {
namespace {

using namespace std::chrono_literals;

TEST(TestSupportWaitUntil, ReturnsTrueOnceTheConditionHoldsAndFalseAtTheDeadline) {
    int polls = 0;
    EXPECT_TRUE(WaitUntil([&] { return ++polls == 3; }, 5s, 1ms));
    EXPECT_EQ(polls, 3);
    const auto start = Clock::now();
    EXPECT_FALSE(WaitUntil([] { return false; }, 50ms, 5ms));
    EXPECT_GE(Clock::now() - start, 50ms);
}

TEST(TestSupportEnv, FallbackWhenUnsetAndAClearErrorWhenRequired) {
    EXPECT_EQ(Env("STOREFLEET_TEST_SUPPORT_UNSET", "fallback"), "fallback");
    try {
        (void)RequireEnv("STOREFLEET_TEST_SUPPORT_UNSET");
        ADD_FAILURE() << "RequireEnv of an unset variable returned";
    } catch (const MissingEnv& missing) {
        EXPECT_STREQ(
            missing.what(),
            "STOREFLEET_TEST_SUPPORT_UNSET is not set: run the test through tests/with-stack");
    }
}

TEST(TestSupportHttpReply, HeadersAreFoundInAnyCaseAndTrimmed) {
    HttpReply reply;
    reply.headers =
        "HTTP/1.1 503 Service Unavailable\r\nretry-after:  2 \r\nContent-Type: "
        "application/json\r\n";
    EXPECT_EQ(reply.Header("Retry-After"), "2");
    EXPECT_EQ(reply.Header("content-type"), "application/json");
    EXPECT_EQ(reply.Header("Location"), "");
    reply.body = "not json";
    EXPECT_TRUE(reply.Json().is_discarded());
}

TEST(TestSupportHttpClient, NoServerIsCodeMinusOneWithCurlsReason) {
    // Port 1 on loopback: nothing listens there.
    auto reply = HttpClient::Local(1).Get("/");
    EXPECT_EQ(reply.code, -1);
    EXPECT_FALSE(reply.error.empty());
}

TEST(TestSupportRunShell, ExitStatusAndBothStreams) {
    auto result = RunShell("echo out; echo err >&2; exit 3");
    EXPECT_EQ(result.rc, 3);
    EXPECT_EQ(result.output, "out\nerr\n");
}

TEST(TestSupportReadEnvFile, KeyValueLines) {
    const std::string path = ::testing::TempDir() + "/support_env_file";
    {
        std::ofstream out(path);
        out << "A=1\nB=x=y\nnot a pair\n";
    }
    ScopeExit remove([&] { std::remove(path.c_str()); });
    auto values = ReadEnvFile(path);
    EXPECT_EQ(values.size(), 2U);
    EXPECT_EQ(values["A"], "1");
    EXPECT_EQ(values["B"], "x=y");
    EXPECT_TRUE(ReadEnvFile(path + ".absent").empty());
}

}  // namespace
}  // namespace storefleet::test_support
