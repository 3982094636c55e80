// Intake through a Postgres outage, on the real Postgres of the local stack reached
// through a TCP proxy the test can cut: while it is cut, POST, DELETE and the token lookup
// answer 503 with Retry-After (never 500); once it is back, the pool drops its broken
// connections and the very next requests are accepted.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <regex>
#include <thread>

#include "intake_api.hpp"
#include "storefleet/common/ids.hpp"
#include "storefleet/test_support/env.hpp"
#include "storefleet/test_support/http.hpp"

namespace storefleet::intake {
namespace {

using namespace std::chrono_literals;
using test_support::Env;
using test_support::HttpClient;
using test_support::HttpReply;

// Forwards 127.0.0.1:Port() to the upstream port. Stop() closes the listener and cuts every
// connection (as a Postgres that goes away does); Start() again listens on the same port.
class TcpProxy {
public:
    explicit TcpProxy(uint16_t upstream_port) : upstream_port_(upstream_port) {}
    ~TcpProxy() { Stop(); }
    TcpProxy(const TcpProxy&) = delete;
    TcpProxy& operator=(const TcpProxy&) = delete;

    void Start() {
        listener_ = socket(AF_INET, SOCK_STREAM, 0);
        int one = 1;
        setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        sockaddr_in address = Loopback(port_);
        ASSERT_EQ(bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof(address)),
                  0);  // NOLINT
        ASSERT_EQ(listen(listener_, 64), 0);
        socklen_t length = sizeof(address);
        getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length);  // NOLINT
        port_ = ntohs(address.sin_port);
        running_ = true;
        acceptor_ = std::thread([this] { Accept(); });
    }

    void Stop() {
        if (!running_.exchange(false)) return;
        acceptor_.join();
        close(listener_);
        std::vector<std::thread> pumps;
        {
            std::lock_guard lock(mutex_);
            for (int fd : open_) shutdown(fd, SHUT_RDWR);
            pumps.swap(pumps_);
        }
        for (auto& pump : pumps) pump.join();
    }

    [[nodiscard]] uint16_t Port() const { return port_; }

private:
    static sockaddr_in Loopback(uint16_t port) {
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_port = htons(port);
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        return address;
    }

    void Accept() {
        while (running_) {
            pollfd ready{listener_, POLLIN, 0};
            if (poll(&ready, 1, 50) <= 0) continue;
            const int client = accept(listener_, nullptr, nullptr);
            if (client < 0) continue;
            const int upstream = socket(AF_INET, SOCK_STREAM, 0);
            sockaddr_in address = Loopback(upstream_port_);
            if (connect(upstream, reinterpret_cast<sockaddr*>(&address), sizeof(address)) !=
                0) {  // NOLINT
                close(client);
                close(upstream);
                continue;
            }
            std::lock_guard lock(mutex_);
            open_.push_back(client);
            open_.push_back(upstream);
            pumps_.emplace_back([this, client, upstream] { Pump(client, upstream); });
        }
    }

    void Pump(int client, int upstream) {
        char buffer[16384];
        pollfd fds[2] = {{client, POLLIN, 0}, {upstream, POLLIN, 0}};
        bool open = true;
        while (open && running_) {
            if (poll(fds, 2, 50) <= 0) continue;
            for (int i = 0; i < 2 && open; ++i) {
                if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
                const ssize_t n = read(fds[i].fd, buffer, sizeof(buffer));
                if (n <= 0) {
                    open = false;
                    break;
                }
                const int to = fds[1 - i].fd;
                for (ssize_t sent = 0; sent < n;) {
                    const ssize_t w = write(to, buffer + sent, static_cast<std::size_t>(n - sent));
                    if (w <= 0) {
                        open = false;
                        break;
                    }
                    sent += w;
                }
            }
        }
        std::lock_guard lock(mutex_);
        shutdown(client, SHUT_RDWR);
        shutdown(upstream, SHUT_RDWR);
        close(client);
        close(upstream);
        std::erase(open_, client);
        std::erase(open_, upstream);
    }

    uint16_t upstream_port_;
    uint16_t port_ = 0;
    int listener_ = -1;
    std::atomic<bool> running_{false};
    std::thread acceptor_;
    std::mutex mutex_;
    std::vector<int> open_;
    std::vector<std::thread> pumps_;
};

// Intake on an HTTP server of its own, reaching the stack's Postgres through a TcpProxy the
// test can cut; its tenant set up directly. Tokens are not cached, so each call looks its
// tenant up.
class IntakeOutageTest : public ::testing::Test {
protected:
    void StartBehindProxy(const std::string& tenant_prefix, std::size_t pool_size,
                          const pg::ConnectionDefaults& defaults = {}) {
        const std::string url = Env("STOREFLEET_PG_URL");
        ASSERT_FALSE(url.empty()) << "run through tests/with-stack";
        std::smatch where;
        ASSERT_TRUE(std::regex_search(url, where, std::regex("@([^:/@]+):([0-9]+)/")));
        proxy_ = std::make_unique<TcpProxy>(static_cast<uint16_t>(std::stoi(where[2].str())));
        proxy_->Start();
        const std::string proxied =
            std::regex_replace(url, std::regex("@[^:/@]+:[0-9]+/"),
                               "@127.0.0.1:" + std::to_string(proxy_->Port()) + "/");
        tenant_id_ = tenant_prefix + RandomHex(4);
        direct_ = std::make_unique<pg::Pool>(url, 1);
        IntakeStore(*direct_, "stores.test").Migrate();
        IntakeStore(*direct_, "stores.test").SeedTenant(tenant_id_, token_, 10);
        pool_ = std::make_unique<pg::Pool>(proxied, pool_size, defaults);
        store_ = std::make_unique<IntakeStore>(*pool_, "stores.test");
        tenants_ = std::make_unique<http::Authenticator>(
            [this](const std::string& sha) { return store_->Authenticate(sha); },
            http::Authenticator::Options{std::chrono::milliseconds(0), std::chrono::milliseconds(0),
                                         100});
        api_ =
            std::make_unique<IntakeApi>(*store_, *tenants_, limiter_, limiter_, registry_, [] {});
        server_ = std::make_unique<http::HttpServer>(http::HttpServer::Options{}, registry_,
                                                     [this] { return pool_->Ping(); });
        api_->Register(*server_);
        server_->Start();
    }
    void TearDown() override {
        if (server_) server_->Stop();
        if (!direct_) return;
        // These commands are not meant to be built: keep them out of a relay's way.
        direct_->WithTransaction([&](pqxx::work& txn) {
            txn.exec_params(
                "delete from intake.outbox where key in "
                "(select store_id::text from intake.stores where tenant_id = $1)",
                tenant_id_);
        });
    }
    // Intake's API with the tenant's token; a client that gives up after 20 s.
    HttpClient Api() const { return HttpClient::Local(server_->Port(), token_, 20s); }
    HttpReply Create(const std::string& name) {
        return Api().Post("/api/v1/stores", R"({"name":")" + name + R"(","engine":"woocommerce"})");
    }

    const std::string token_ = RandomHex(16);
    std::string tenant_id_;
    metrics::Registry registry_;
    http::RateLimiter limiter_{1000, 1000};
    std::unique_ptr<TcpProxy> proxy_;
    std::unique_ptr<pg::Pool> direct_;
    std::unique_ptr<pg::Pool> pool_;
    std::unique_ptr<IntakeStore> store_;
    std::unique_ptr<http::Authenticator> tenants_;
    std::unique_ptr<IntakeApi> api_;
    std::unique_ptr<http::HttpServer> server_;
};

TEST_F(IntakeOutageTest,
       PostgresAwayMeans503WithRetryAfterAndRequestsAreAcceptedAgainOnceItIsBack) {
    StartBehindProxy("outage-", 4);
    auto& proxy = *proxy_;
    auto& pool = *pool_;
    auto& server = *server_;

    auto before = Create("before");
    ASSERT_EQ(before.code, 202) << before.body;
    const std::string id = nlohmann::json::parse(before.body)["id"];

    proxy.Stop();  // Postgres is gone
    for (int i = 0; i < 3; ++i) {
        auto post = Create("during-" + std::to_string(i));
        EXPECT_EQ(post.code, 503) << post.body;
        EXPECT_FALSE(post.Header("Retry-After").empty()) << post.headers;
        auto del = Api().Delete("/api/v1/stores/" + id);
        EXPECT_EQ(del.code, 503) << del.body;
        EXPECT_FALSE(del.Header("Retry-After").empty()) << del.headers;
    }
    EXPECT_FALSE(pool.Ping()) << "/readyz is red meanwhile";

    proxy.Start();  // back, on the same port
    auto after = Create("after");
    EXPECT_EQ(after.code, 202) << "the pool must drop its broken connections and reconnect: "
                               << after.body;
    auto del = Api().Delete("/api/v1/stores/" + id);
    EXPECT_EQ(del.code, 202) << del.body;
    EXPECT_TRUE(pool.Ping());
    server.Stop();
    EXPECT_EQ(registry_.GetCounter("storefleet_intake_database_unavailable_total", "").Value(), 6);

    // Nothing of the refused requests was written; the accepted ones were.
    direct_->WithTransaction([&](pqxx::work& txn) {
        EXPECT_EQ(txn.exec_params("select count(*) from intake.stores where tenant_id = $1",
                                  tenant_id_)[0][0]
                      .as<int>(),
                  2);
    });
}

// A black-holed primary (a network that drops every packet, as a failed-over address or a
// partition does): the connection's TCP user timeout breaks it in bounded time, so a request
// is answered 503 instead of holding its thread until the kernel gives up (about 15 minutes
// of retransmissions without the connection defaults of pg::Pool; the test's client gives up
// after 20 s, so it failed before them). The drop is a real packet drop: an iptables rule on
// loopback for the proxy's port only, removed at the end.
TEST_F(IntakeOutageTest, ABlackHoledPostgresIsAnswered503InBoundedTime) {
    // The pool's connection defaults, with a TCP user timeout shorter than the 15 s default so
    // the test is quick (the URL sets nothing).
    pg::ConnectionDefaults defaults;
    defaults.tcp_user_timeout_ms = 2000;
    StartBehindProxy("blackhole-", 2, defaults);
    ASSERT_EQ(Create("before").code, 202) << "the pool's connections are open through the proxy";

    const std::string rule = "INPUT -i lo -p tcp --dport " + std::to_string(proxy_->Port()) +
                             " -m comment --comment storefleet-test-blackhole -j DROP";
    ASSERT_EQ(std::system(("iptables -w -I " + rule).c_str()), 0)
        << "cannot add the drop rule (needs root)";
    struct RemoveRule {
        std::string rule;
        ~RemoveRule() { (void)std::system(("iptables -w -D " + rule + " 2>/dev/null").c_str()); }
    } remove_rule{rule};

    const auto started = std::chrono::steady_clock::now();
    auto during = Create("during");
    const auto waited = std::chrono::steady_clock::now() - started;
    EXPECT_EQ(during.code, 503) << during.body;
    EXPECT_LT(waited, 15s) << "the request was held by a black-holed database";
}

}  // namespace
}  // namespace storefleet::intake
