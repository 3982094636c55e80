// The live stream against a fake change feed: tenant scoping, resume by Last-Event-ID
// without gaps, refusals as problems, and revocation ending a stream.
#include "event_stream.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <mutex>

#include "storefleet/common/ids.hpp"

namespace storefleet::query {
namespace {

using namespace std::chrono_literals;

class FakeFeed final : public ChangeFeed {
  public:
    FakeFeed() : wake_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}
    ~FakeFeed() override { ::close(wake_); }

    void Add(const std::string& tenant, const std::string& status) {
        {
            std::lock_guard lock(mutex_);
            StoreChange change;
            change.change_id = static_cast<int64_t>(changes_.size()) + 1;
            change.tenant_id = tenant;
            change.store.id = "00000000-0000-4000-8000-00000000000" + std::to_string(changes_.size() % 10);
            change.store.name = tenant + "-shop";
            change.store.status = status;
            changes_.push_back(change);
        }
        const uint64_t one = 1;
        [[maybe_unused]] auto written = ::write(wake_, &one, sizeof(one));
    }

    int WakeFd() override { return wake_; }
    void Drain() override {
        uint64_t value = 0;
        [[maybe_unused]] auto got = ::read(wake_, &value, sizeof(value));
    }
    std::vector<StoreChange> After(int64_t after, const std::string& tenant, int limit) override {
        std::lock_guard lock(mutex_);
        std::vector<StoreChange> out;
        for (const auto& change : changes_) {
            if (change.change_id > after && (tenant.empty() || change.tenant_id == tenant)) out.push_back(change);
            if (static_cast<int>(out.size()) == limit) break;
        }
        return out;
    }
    int64_t Head() override {
        std::lock_guard lock(mutex_);
        return static_cast<int64_t>(changes_.size());
    }
    int64_t Oldest() override {
        std::lock_guard lock(mutex_);
        return changes_.empty() ? 0 : 1 + pruned_;
    }
    void Prune(int64_t count) {
        std::lock_guard lock(mutex_);
        pruned_ = count;
    }

  private:
    int wake_;
    std::mutex mutex_;
    std::vector<StoreChange> changes_;
    int64_t pruned_ = 0;
};

// A raw client: sends one request and reads what comes, up to a deadline.
class Client {
  public:
    Client(uint16_t port, const std::string& request) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_port = htons(port);
        ::inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
        EXPECT_EQ(::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
        EXPECT_EQ(::send(fd_, request.data(), request.size(), MSG_NOSIGNAL), static_cast<ssize_t>(request.size()));
    }
    ~Client() { ::close(fd_); }

    // Reads until `needle` has arrived (true) or the deadline or the end of the stream.
    bool ReadUntil(const std::string& needle, std::chrono::milliseconds within = 5s) {
        const auto deadline = std::chrono::steady_clock::now() + within;
        while (received_.find(needle) == std::string::npos) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0 || closed_) return false;
            pollfd poll_fd{fd_, POLLIN, 0};
            if (::poll(&poll_fd, 1, static_cast<int>(left.count())) <= 0) continue;
            char buffer[4096];
            const ssize_t got = ::recv(fd_, buffer, sizeof(buffer), 0);
            if (got <= 0) {
                closed_ = true;
                return received_.find(needle) != std::string::npos;
            }
            received_.append(buffer, static_cast<std::size_t>(got));
        }
        return true;
    }
    // Waits until the server closes the connection.
    bool ReadsToEnd(std::chrono::milliseconds within) {
        ReadUntil("\x01never\x01", within);
        return closed_;
    }
    const std::string& Received() const { return received_; }

  private:
    int fd_;
    std::string received_;
    bool closed_ = false;
};

std::string Request(const std::string& token, const std::string& last_event_id = "",
                    const std::string& method = "GET", const std::string& path = "/api/v1/stores/events") {
    std::string request = method + " " + path + " HTTP/1.1\r\nHost: test\r\nAccept: text/event-stream\r\n";
    if (!token.empty()) request += "Authorization: Bearer " + token + "\r\n";
    if (!last_event_id.empty()) request += "Last-Event-ID: " + last_event_id + "\r\n";
    return request + "\r\n";
}

class EventStreamTest : public ::testing::Test {
  protected:
    // Each test adds what exists before the server starts, then starts it.
    void StartServer(std::size_t max_streams_per_tenant = 100) {
        EventStreamServer::Options options;
        options.max_streams_per_tenant = max_streams_per_tenant;
        options.heartbeat = 300ms;
        options.revalidate_interval = 200ms;
        server_ = std::make_unique<EventStreamServer>(options, feed_, authenticator_, limiter_, registry_);
        server_->Start();
    }
    ~EventStreamTest() override {
        if (server_) server_->Stop();
    }

    std::optional<http::Principal> Lookup(const std::string& sha) {
        std::lock_guard lock(mutex_);
        if (sha == Sha256Hex("token-a") && !a_revoked_) return http::Principal{"tenant-a", false};
        if (sha == Sha256Hex("token-b")) return http::Principal{"tenant-b", false};
        if (sha == Sha256Hex("token-admin")) return http::Principal{"platform", true};
        return std::nullopt;
    }

    std::mutex mutex_;
    bool a_revoked_ = false;
    metrics::Registry registry_;
    FakeFeed feed_;
    http::Authenticator authenticator_{[this](const std::string& sha) { return Lookup(sha); },
                                       {std::chrono::milliseconds(100), std::chrono::milliseconds(0), 100}};
    http::RateLimiter limiter_{1000, 1000};
    std::unique_ptr<EventStreamServer> server_;
};

TEST_F(EventStreamTest, RefusalsAreProblems) {
    StartServer();
    Client anonymous(server_->Port(), Request(""));
    ASSERT_TRUE(anonymous.ReadsToEnd(5s));
    EXPECT_EQ(anonymous.Received().rfind("HTTP/1.1 401 ", 0), 0u) << anonymous.Received();
    EXPECT_NE(anonymous.Received().find("Content-Type: application/problem+json"), std::string::npos);
    EXPECT_NE(anonymous.Received().find("WWW-Authenticate: Bearer"), std::string::npos);

    Client unknown(server_->Port(), Request("who-knows"));
    ASSERT_TRUE(unknown.ReadsToEnd(5s));
    EXPECT_EQ(unknown.Received().rfind("HTTP/1.1 401 ", 0), 0u);

    Client elsewhere(server_->Port(), Request("token-a", "", "GET", "/api/v1/other"));
    ASSERT_TRUE(elsewhere.ReadsToEnd(5s));
    EXPECT_EQ(elsewhere.Received().rfind("HTTP/1.1 404 ", 0), 0u);

    Client post(server_->Port(), Request("token-a", "", "POST"));
    ASSERT_TRUE(post.ReadsToEnd(5s));
    EXPECT_EQ(post.Received().rfind("HTTP/1.1 405 ", 0), 0u);
    EXPECT_NE(post.Received().find("Allow: GET"), std::string::npos);

    Client bad_resume(server_->Port(), Request("token-a", "abc"));
    ASSERT_TRUE(bad_resume.ReadsToEnd(5s));
    EXPECT_EQ(bad_resume.Received().rfind("HTTP/1.1 400 ", 0), 0u);
}

// One tenant cannot take every stream of a replica: past its cap it is refused (429), other
// tenants still get theirs, and a closed stream frees its place.
TEST_F(EventStreamTest, ATenantsStreamsAreCappedAndOthersStillConnect) {
    StartServer(/*max_streams_per_tenant=*/2);
    auto first = std::make_unique<Client>(server_->Port(), Request("token-a"));
    Client second(server_->Port(), Request("token-a"));
    ASSERT_TRUE(first->ReadUntil("event: open"));
    ASSERT_TRUE(second.ReadUntil("event: open"));
    Client third(server_->Port(), Request("token-a"));
    ASSERT_TRUE(third.ReadsToEnd(5s));
    EXPECT_EQ(third.Received().rfind("HTTP/1.1 429 ", 0), 0u) << third.Received();
    EXPECT_NE(third.Received().find("too_many_streams"), std::string::npos);
    Client other(server_->Port(), Request("token-b"));
    EXPECT_TRUE(other.ReadUntil("event: open")) << "another tenant was refused too";
    first.reset();  // closes its connection
    bool reopened = false;
    for (int attempt = 0; attempt < 50 && !reopened; ++attempt) {
        Client again(server_->Port(), Request("token-a"));
        reopened = again.ReadUntil("event: open", 1s);
        if (!reopened) std::this_thread::sleep_for(50ms);
    }
    EXPECT_TRUE(reopened) << "a closed stream did not free its place";
}

namespace {
double ProcessCpuSeconds() {
    rusage usage{};
    ::getrusage(RUSAGE_SELF, &usage);
    return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
           static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}
}  // namespace

// Out of file descriptors, the listener stays readable with a connection it cannot take:
// before the fix the loop woke at once, for ever (a core at 100%). It now pauses accepting,
// costs nothing meanwhile, and takes the connection once descriptors are free again.
TEST_F(EventStreamTest, OutOfFileDescriptorsItPausesAcceptingInsteadOfSpinning) {
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
    tight.rlim_cur = static_cast<rlim_t>(fillers.back() + 1);
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &tight), 0);
    ::close(fillers.back());
    fillers.pop_back();
    auto client = std::make_unique<Client>(server_->Port(), Request("token-a"));
    auto& pauses = registry_.GetCounter("storefleet_query_stream_accept_pauses_total", "");
    bool paused = false;
    for (int i = 0; i < 500 && !paused; ++i) {
        paused = pauses.Value() >= 1.0;
        if (!paused) std::this_thread::sleep_for(10ms);
    }
    const double cpu_before = ProcessCpuSeconds();
    std::this_thread::sleep_for(1s);
    const double cpu_used = ProcessCpuSeconds() - cpu_before;
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &before), 0);
    for (int fd : fillers) ::close(fd);
    EXPECT_TRUE(paused) << "the server never met EMFILE (the test did not set up what it tests)";
    EXPECT_LT(cpu_used, 0.3) << "the stream's loop spun on a listener it could not accept from";
    EXPECT_TRUE(client->ReadUntil("event: open")) << "the pending connection was not taken once descriptors were free";
}

TEST_F(EventStreamTest, EachTenantSeesOnlyItsOwnChangesInOrderAndAnAdminSeesAll) {
    feed_.Add("tenant-a", "requested");  // before anyone connects: not replayed without Last-Event-ID
    StartServer();
    Client a(server_->Port(), Request("token-a"));
    Client b(server_->Port(), Request("token-b"));
    Client admin(server_->Port(), Request("token-admin"));
    ASSERT_TRUE(a.ReadUntil("event: open"));
    ASSERT_TRUE(b.ReadUntil("event: open"));
    ASSERT_TRUE(admin.ReadUntil("event: open"));
    EXPECT_EQ(a.Received().rfind("HTTP/1.1 200 OK", 0), 0u);
    EXPECT_NE(a.Received().find("Content-Type: text/event-stream"), std::string::npos);
    EXPECT_NE(a.Received().find("id: 1\nevent: open"), std::string::npos) << a.Received();

    feed_.Add("tenant-a", "provisioning");
    feed_.Add("tenant-b", "requested");
    feed_.Add("tenant-a", "ready");
    ASSERT_TRUE(a.ReadUntil("id: 4\n"));
    ASSERT_TRUE(b.ReadUntil("id: 3\n"));
    ASSERT_TRUE(admin.ReadUntil("id: 4\n"));
    const auto provisioning = a.Received().find("id: 2\nevent: store\ndata: {");
    const auto ready = a.Received().find("id: 4\nevent: store\ndata: {");
    ASSERT_NE(provisioning, std::string::npos) << a.Received();
    ASSERT_NE(ready, std::string::npos);
    EXPECT_LT(provisioning, ready);
    EXPECT_EQ(a.Received().find("tenant-b"), std::string::npos) << "tenant A must never see B's changes";
    EXPECT_EQ(b.Received().find("tenant-a-shop"), std::string::npos) << "tenant B must never see A's changes";
    EXPECT_NE(admin.Received().find("tenant-b-shop"), std::string::npos);
    EXPECT_NE(admin.Received().find("id: 2\n"), std::string::npos);
}

TEST_F(EventStreamTest, ResumingFromLastEventIdMissesNothingAndRepeatsNothing) {
    feed_.Add("tenant-a", "requested");     // 1
    feed_.Add("tenant-a", "provisioning");  // 2
    feed_.Add("tenant-b", "requested");     // 3
    feed_.Add("tenant-a", "ready");         // 4
    StartServer();
    {
        Client first(server_->Port(), Request("token-a"));
        ASSERT_TRUE(first.ReadUntil("event: open"));
    }
    Client resumed(server_->Port(), Request("token-a", "1"));
    ASSERT_TRUE(resumed.ReadUntil("event: open"));
    feed_.Add("tenant-a", "deleting");  // 5, live
    ASSERT_TRUE(resumed.ReadUntil("id: 5\n"));
    const std::string& got = resumed.Received();
    EXPECT_EQ(got.find("id: 1\nevent: store"), std::string::npos) << "already seen";
    const auto two = got.find("id: 2\nevent: store");
    const auto four = got.find("id: 4\nevent: store");
    const auto open = got.find("event: open");
    const auto five = got.find("id: 5\nevent: store");
    ASSERT_NE(two, std::string::npos) << got;
    ASSERT_NE(four, std::string::npos) << got;
    EXPECT_LT(two, four);
    EXPECT_LT(four, open);
    EXPECT_LT(open, five);
    EXPECT_EQ(got.find("id: 3\nevent: store"), std::string::npos) << "another tenant's";
    EXPECT_EQ(got.find("id: 4\nevent: store", four + 1), std::string::npos) << "sent twice";
}

TEST_F(EventStreamTest, AResumeFromBeforeTheReplayWindowIsToldToReset) {
    for (int i = 0; i < 5; ++i) feed_.Add("tenant-a", "requested");
    feed_.Prune(3);  // changes 1-3 are gone
    StartServer();
    Client late(server_->Port(), Request("token-a", "1"));
    ASSERT_TRUE(late.ReadUntil("event: open"));
    EXPECT_NE(late.Received().find("event: reset"), std::string::npos) << late.Received();
}

TEST_F(EventStreamTest, HeartbeatsFlowAndARevokedTokenEndsItsStream) {
    StartServer();
    Client a(server_->Port(), Request("token-a"));
    Client b(server_->Port(), Request("token-b"));
    ASSERT_TRUE(a.ReadUntil("event: open"));
    ASSERT_TRUE(b.ReadUntil("event: open"));
    ASSERT_TRUE(a.ReadUntil(": keep-alive\n\n", 10s));  // the first sweep only sets its start: about 2 s
    {
        std::lock_guard lock(mutex_);
        a_revoked_ = true;
    }
    EXPECT_TRUE(a.ReadsToEnd(3s)) << "a revoked token's stream must end";
    feed_.Add("tenant-b", "ready");
    EXPECT_TRUE(b.ReadUntil("id: 1\nevent: store")) << "other streams go on";
}

}  // namespace
}  // namespace storefleet::query
