// SseServer against a fake handler: the request parsing and its refusals, the handler's
// answers, keep-alives, slow clients, the connection limit, the request timeout, running
// out of descriptors, and the check against the OpenAPI document.
#include "storefleet/http/sse_server.hpp"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "storefleet/http/testing/raw_client.hpp"
#include "storefleet/test_support/wait.hpp"

namespace storefleet::http {
namespace {

using namespace std::chrono_literals;
using testing::RawClient;

constexpr const char* kPath = "/api/v1/things/events";

// Accepts every request unless it carries `X-Refuse: <status>`; an accepted stream gets
// "event: open" once opened. Each wake-up sends `chunks_per_wake` chunks of 32 KiB to every
// open stream. Records what it was told.
class FakeHandler final : public SseHandler {
public:
    FakeHandler() : wake_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}
    ~FakeHandler() override { ::close(wake_); }

    SseServer* server = nullptr;
    std::size_t chunks_per_wake = 0;

    void Wake() {
        const uint64_t one = 1;
        [[maybe_unused]] auto written = ::write(wake_, &one, sizeof(one));
    }
    std::vector<SseRequest> Requests() {
        std::lock_guard lock(mutex_);
        return requests_;
    }
    std::size_t Closed() {
        std::lock_guard lock(mutex_);
        return closed_.size();
    }
    std::size_t Open() {
        std::lock_guard lock(mutex_);
        return open_.size();
    }
    int Polls() {
        std::lock_guard lock(mutex_);
        return polls_;
    }

    [[nodiscard]] std::set<int> RefusalStatuses() const override { return {401, 429}; }
    SseAnswer OnRequest(const SseRequest& request) override {
        std::lock_guard lock(mutex_);
        requests_.push_back(request);
        if (const std::string refuse = request.Header("x-refuse"); !refuse.empty()) {
            return SseRefusal{std::stoi(refuse), "refused", "as asked", {{"Retry-After", "7"}}};
        }
        return SseAcceptance{"retry: 2000\n\n"};
    }
    void OnOpened(SseStreamId id) override {
        {
            std::lock_guard lock(mutex_);
            open_.push_back(id);
        }
        server->Send(id, "event: open\ndata: {}\n\n");
    }
    void OnClosed(SseStreamId id) override {
        std::lock_guard lock(mutex_);
        closed_.push_back(id);
        open_.erase(std::remove(open_.begin(), open_.end(), id), open_.end());
    }
    int WakeFd() override { return wake_; }
    void OnWake() override {
        uint64_t value = 0;
        [[maybe_unused]] auto got = ::read(wake_, &value, sizeof(value));
    }
    void OnPoll() override {
        std::vector<SseStreamId> open;
        {
            std::lock_guard lock(mutex_);
            ++polls_;
            open = open_;
        }
        const std::string chunk(32 * 1024, 'x');
        for (std::size_t i = 0; i < chunks_per_wake; ++i) {
            for (SseStreamId id : open) server->Send(id, chunk);
        }
    }
    void OnSweep(std::chrono::steady_clock::time_point) override {}

private:
    int wake_;
    std::mutex mutex_;
    std::vector<SseRequest> requests_;
    std::vector<SseStreamId> open_;
    std::vector<SseStreamId> closed_;
    int polls_ = 0;
};

std::string Request(const std::string& extra_headers = "", const std::string& method = "GET",
                    const std::string& path = kPath) {
    return method + " " + path + " HTTP/1.1\r\nHost: test\r\nAccept: text/event-stream\r\n" +
           extra_headers + "\r\n";
}

using test_support::WaitUntil;

class SseServerTest : public ::testing::Test {
protected:
    void StartServer(SseServer::Options options = {}) {
        options.path = kPath;
        options.metrics_prefix = "test_";
        if (options.heartbeat == SseServer::Options{}.heartbeat) options.heartbeat = 300ms;
        server_ = std::make_unique<SseServer>(options, handler_, registry_);
        handler_.server = server_.get();
        server_->Start();
    }
    ~SseServerTest() override {
        if (server_) server_->Stop();
    }
    uint16_t Port() const { return server_->Port(); }

    metrics::Registry registry_;
    FakeHandler handler_;
    std::unique_ptr<SseServer> server_;
};

TEST_F(SseServerTest, RequestsItCannotServeAreProblemsAndNeverReachTheHandler) {
    StartServer();
    RawClient elsewhere(Port(), Request("", "GET", "/api/v1/other"));
    ASSERT_TRUE(elsewhere.ReadsToEnd(5s));
    EXPECT_EQ(elsewhere.Received().rfind("HTTP/1.1 404 ", 0), 0u) << elsewhere.Received();
    EXPECT_NE(elsewhere.Received().find("Content-Type: application/problem+json"),
              std::string::npos);

    RawClient post(Port(), Request("", "POST"));
    ASSERT_TRUE(post.ReadsToEnd(5s));
    EXPECT_EQ(post.Received().rfind("HTTP/1.1 405 ", 0), 0u);
    EXPECT_NE(post.Received().find("Allow: GET"), std::string::npos);

    RawClient malformed(Port(), "NONSENSE\r\n\r\n");
    ASSERT_TRUE(malformed.ReadsToEnd(5s));
    EXPECT_EQ(malformed.Received().rfind("HTTP/1.1 400 ", 0), 0u);

    RawClient huge(
        Port(), "GET " + std::string(kPath) + " HTTP/1.1\r\nX-Padding: " + std::string(9000, 'a'));
    ASSERT_TRUE(huge.ReadsToEnd(5s));
    EXPECT_EQ(huge.Received().rfind("HTTP/1.1 431 ", 0), 0u);
    EXPECT_NE(huge.Received().find("\"code\":\"invalid_request\""), std::string::npos);

    EXPECT_TRUE(handler_.Requests().empty());
}

TEST_F(SseServerTest, TheHandlersRefusalIsAProblemWithItsHeaders) {
    StartServer();
    RawClient refused(Port(), Request("X-Refuse: 429\r\n"));
    ASSERT_TRUE(refused.ReadsToEnd(5s));
    const std::string& got = refused.Received();
    EXPECT_EQ(got.rfind("HTTP/1.1 429 Too Many Requests\r\n", 0), 0u) << got;
    EXPECT_NE(got.find("Content-Type: application/problem+json"), std::string::npos);
    EXPECT_NE(got.find("Retry-After: 7\r\n"), std::string::npos);
    EXPECT_NE(got.find("\"code\":\"refused\""), std::string::npos);
    EXPECT_NE(got.find("\"detail\":\"as asked\""), std::string::npos);
    EXPECT_EQ(handler_.Closed(), 0u) << "a refused request is not a stream";
}

TEST_F(SseServerTest, AnAcceptedStreamGetsItsHeadersPayloadsAndKeepAlives) {
    StartServer();
    RawClient client(Port(), Request("Last-Event-ID: 41\r\nX-Forwarded-For: 203.0.113.9\r\n"));
    ASSERT_TRUE(client.ReadUntil("event: open"));
    const std::string& got = client.Received();
    EXPECT_EQ(
        got.rfind(
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\n"
            "X-Accel-Buffering: no\r\nConnection: close\r\n\r\nretry: 2000\n\nevent: open\n",
            0),
        0u)
        << got;
    ASSERT_EQ(handler_.Requests().size(), 1u);
    const SseRequest request = handler_.Requests()[0];
    EXPECT_EQ(request.path, kPath);
    EXPECT_EQ(request.Header("last-event-id"), "41") << "header names are lower-case";
    EXPECT_EQ(request.client_address, "203.0.113.9") << "the peer is loopback, a trusted proxy";
    EXPECT_TRUE(client.ReadUntil(": keep-alive\n\n", 10s));
}

TEST_F(SseServerTest, AStreamThatEndsIsToldToTheHandlerOnce) {
    StartServer();
    auto client = std::make_unique<RawClient>(Port(), Request());
    ASSERT_TRUE(client->ReadUntil("event: open"));
    ASSERT_EQ(handler_.Open(), 1u);
    client.reset();
    EXPECT_TRUE(WaitUntil([&] { return handler_.Closed() == 1; }, 5s)) << "the client went away";

    RawClient second(Port(), Request());
    ASSERT_TRUE(second.ReadUntil("event: open"));
    server_->Stop();
    EXPECT_EQ(handler_.Closed(), 2u) << "Stop ends every stream";
    EXPECT_TRUE(second.ReadsToEnd(5s));
}

TEST_F(SseServerTest, AClientThatDoesNotReadIsCutOff) {
    StartServer({.max_buffered_bytes = 256 * 1024});
    RawClient sleeper(Port(), Request());
    ASSERT_TRUE(sleeper.ReadUntil("event: open"));
    auto& slow = registry_.GetCounter("test_stream_slow_clients_total", "");
    // Far more than the socket buffers and max_buffered_bytes hold, and the client reads none.
    handler_.chunks_per_wake = 512;  // 16 MiB
    handler_.Wake();
    EXPECT_TRUE(WaitUntil([&] { return slow.Value() >= 1.0; }, 5s));
    EXPECT_TRUE(WaitUntil([&] { return handler_.Closed() == 1; }, 5s));
}

TEST_F(SseServerTest, PastMaxConnectionsItAnswers503) {
    StartServer({.max_connections = 1});
    RawClient first(Port(), Request());
    ASSERT_TRUE(first.ReadUntil("event: open"));
    RawClient second(Port(), Request());
    ASSERT_TRUE(second.ReadsToEnd(5s));
    EXPECT_EQ(second.Received().rfind("HTTP/1.1 503 ", 0), 0u) << second.Received();
    EXPECT_NE(second.Received().find("Retry-After: 5"), std::string::npos);
    auto& open = registry_.GetGauge("test_streams_open", "");
    EXPECT_TRUE(WaitUntil([&] { return open.Value() == 1.0; }, 5s));
}

TEST_F(SseServerTest, ARequestNotCompleteInTimeIsDropped) {
    StartServer({.request_timeout = 200ms});
    RawClient slowpoke(Port(), "GET " + std::string(kPath) + " HTTP/1.1\r\n");
    EXPECT_TRUE(slowpoke.ReadsToEnd(5s));
    EXPECT_EQ(slowpoke.Received(), "");
    EXPECT_TRUE(handler_.Requests().empty());
}

TEST_F(SseServerTest, AWakeUpPollsTheHandler) {
    StartServer({.poll_interval = 60s});
    ASSERT_TRUE(WaitUntil([&] { return handler_.Polls() >= 1; }, 5s));  // the first poll, at start
    const int before = handler_.Polls();
    handler_.Wake();
    EXPECT_TRUE(WaitUntil([&] { return handler_.Polls() > before; }, 5s));
}

double ProcessCpuSeconds() {
    rusage usage{};
    ::getrusage(RUSAGE_SELF, &usage);
    return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
           static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

// Out of file descriptors, the listener stays readable with a connection it cannot take:
// before the fix the loop woke at once, for ever (a core at 100%). It now pauses accepting,
// costs nothing meanwhile, and takes the connection once descriptors are free again.
TEST_F(SseServerTest, OutOfFileDescriptorsItPausesAcceptingInsteadOfSpinning) {
    StartServer();
    rlimit before{};
    ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &before), 0);
    // Every descriptor number up to the highest open one is taken, plus one more, and the limit
    // set just above: then that one is closed, so exactly one number is free, and the client's
    // socket takes it. The server's accept of that connection then gets EMFILE. (Connecting
    // first would race the server, which may accept before the limit is lowered.)
    int highest = 0;
    for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
        highest = std::max(highest, std::stoi(entry.path().filename().string()));
    }
    std::vector<int> fillers;
    for (;;) {
        const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        ASSERT_GE(fd, 0);
        fillers.push_back(fd);
        if (fd > highest) break;
    }
    rlimit tight = before;
    tight.rlim_cur = static_cast<rlim_t>(fillers.back()) + 1;
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &tight), 0);
    ::close(fillers.back());
    fillers.pop_back();
    auto client = std::make_unique<RawClient>(Port(), Request());
    auto& pauses = registry_.GetCounter("test_stream_accept_pauses_total", "");
    const bool paused = WaitUntil([&] { return pauses.Value() >= 1.0; }, 5s, 10ms);
    const double cpu_before = ProcessCpuSeconds();
    std::this_thread::sleep_for(1s);
    const double cpu_used = ProcessCpuSeconds() - cpu_before;
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &before), 0);
    for (int fd : fillers) ::close(fd);
    EXPECT_TRUE(paused) << "the server never met EMFILE (the test did not set up what it tests)";
    EXPECT_LT(cpu_used, 0.3) << "the stream's loop spun on a listener it could not accept from";
    EXPECT_TRUE(client->ReadUntil("event: open"))
        << "the pending connection was not taken once descriptors were free";
}

nlohmann::json Document(const std::vector<std::string>& statuses) {
    nlohmann::json responses = nlohmann::json::object();
    for (const auto& status : statuses) responses[status] = {{"description", "x"}};
    return {{"paths", {{kPath, {{"get", {{"responses", responses}}}}}}}};
}

TEST_F(SseServerTest, ItsRouteAndAnswersMustBeTheDocumentsOnes) {
    SseServer server({.path = kPath, .metrics_prefix = "check_"}, handler_, registry_);
    const std::vector<PublicRoute> table = {{"GET", kPath, "stream"},
                                            {"GET", "/api/v1/me", "query"}};
    // 200, 431 and 503 are the server's; 401 and 429 the handler's.
    EXPECT_EQ(server.Statuses(), (std::set<int>{200, 401, 429, 431, 503}));
    EXPECT_NO_THROW(
        server.CheckPublicApi("stream", table, Document({"200", "401", "429", "431", "503"})));

    try {
        server.CheckPublicApi("stream", table, Document({"200", "401", "404", "429", "503"}));
        ADD_FAILURE() << "a missing and an extra status passed";
    } catch (const std::logic_error& error) {
        EXPECT_NE(std::string(error.what()).find("answers 431 but the document does not list it"),
                  std::string::npos)
            << error.what();
        EXPECT_NE(std::string(error.what()).find("the document lists 404 but it never answers it"),
                  std::string::npos);
    }
    EXPECT_THROW(
        server.CheckPublicApi("query", table, Document({"200", "401", "429", "431", "503"})),
        std::logic_error)
        << "another service's routes";
    const std::vector<PublicRoute> two = {{"GET", kPath, "stream"}, {"POST", kPath, "stream"}};
    EXPECT_THROW(
        server.CheckPublicApi("stream", two, Document({"200", "401", "429", "431", "503"})),
        std::logic_error)
        << "a documented route it does not serve";
    EXPECT_THROW(server.CheckPublicApi("stream", table, nlohmann::json::object()),
                 std::logic_error);
}

TEST(RaiseOpenFileLimitTest, TheSoftLimitBecomesTheHardOne) {
    rlimit before{};
    ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &before), 0);
    if (before.rlim_max < 64) GTEST_SKIP() << "the hard limit is too low to lower the soft one";
    rlimit lowered = before;
    lowered.rlim_cur = before.rlim_max - 1;
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &lowered), 0);
    EXPECT_EQ(RaiseOpenFileLimit(), static_cast<uint64_t>(before.rlim_max));
    rlimit after{};
    ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &after), 0);
    EXPECT_EQ(after.rlim_cur, before.rlim_max);
    ::setrlimit(RLIMIT_NOFILE, &before);
}

}  // namespace
}  // namespace storefleet::http
