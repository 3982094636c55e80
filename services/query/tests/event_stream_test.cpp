// The live stream against a fake change feed: tenant scoping, resume by Last-Event-ID
// without gaps, refusals as problems, and revocation ending a stream.
#include "event_stream.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "openapi_document.hpp"
#include "storefleet/common/ids.hpp"
#include "storefleet/http/testing/raw_client.hpp"
#include "storefleet/test_support/wait.hpp"

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
            ChangeLogEntry change;
            change.change_id = static_cast<int64_t>(changes_.size()) + 1;
            change.tenant_id = tenant;
            change.store.id =
                "00000000-0000-4000-8000-00000000000" + std::to_string(changes_.size() % 10);
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
    std::vector<ChangeLogEntry> After(int64_t after, const std::string& tenant,
                                      int limit) override {
        std::lock_guard lock(mutex_);
        std::vector<ChangeLogEntry> out;
        for (const auto& change : changes_) {
            if (change.change_id > after && (tenant.empty() || change.tenant_id == tenant))
                out.push_back(change);
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

    // A rollout changed (as intake's NOTIFY tells): `notify` false leaves it to a re-read of
    // the active ones (a missed notification).
    void SetRollout(const std::string& id, const std::string& state, int upgraded,
                    bool notify = true) {
        {
            std::lock_guard lock(mutex_);
            RolloutProgress progress;
            progress.rollout_id = id;
            progress.engine = "woocommerce";
            progress.target_version = "0.2.0";
            progress.state = state;
            progress.waves = 1;
            progress.active = state != "done" && state != "aborted";
            progress.counts_by_wave =
                nlohmann::json::array({{{"wave", 0}, {"state", "upgraded"}, {"stores", upgraded}}});
            rollouts_[id] = progress;
            if (notify) notified_.insert(id);
        }
        const uint64_t one = 1;
        [[maybe_unused]] auto written = ::write(wake_, &one, sizeof(one));
    }
    void MissNextRolloutNotifications() {
        std::lock_guard lock(mutex_);
        all_active_ = true;
    }
    void FailRolloutReads(bool fail) {
        std::lock_guard lock(mutex_);
        fail_rollout_reads_ = fail;
    }
    RolloutChanges TakeRolloutChanges() override {
        std::lock_guard lock(mutex_);
        RolloutChanges taken{.ids = std::move(notified_), .all_active = all_active_};
        notified_.clear();
        all_active_ = false;
        return taken;
    }
    std::vector<RolloutProgress> Rollouts(const RolloutChanges& which) override {
        std::lock_guard lock(mutex_);
        if (fail_rollout_reads_) throw std::runtime_error("the database is away");
        std::vector<RolloutProgress> out;
        for (const auto& [id, progress] : rollouts_) {
            if (which.ids.contains(id) || (which.all_active && progress.active))
                out.push_back(progress);
        }
        return out;
    }

private:
    int wake_;
    std::mutex mutex_;
    std::vector<ChangeLogEntry> changes_;
    int64_t pruned_ = 0;
    std::map<std::string, RolloutProgress> rollouts_;
    std::set<std::string> notified_;
    bool all_active_ = false;
    bool fail_rollout_reads_ = false;
};

using Client = http::testing::RawClient;

std::string Request(const std::string& token, const std::string& last_event_id = "",
                    const std::string& method = "GET",
                    const std::string& path = "/api/v1/stores/events") {
    std::string request =
        method + " " + path + " HTTP/1.1\r\nHost: test\r\nAccept: text/event-stream\r\n";
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
        server_ = std::make_unique<EventStreamServer>(options, feed_, authenticator_, limiter_,
                                                      registry_);
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
        if (sha == Sha256Hex("token-database-away")) throw std::runtime_error("no connection");
        return std::nullopt;
    }

    std::mutex mutex_;
    bool a_revoked_ = false;
    metrics::Registry registry_;
    FakeFeed feed_;
    http::Authenticator authenticator_{
        [this](const std::string& sha) { return Lookup(sha); },
        {std::chrono::milliseconds(100), std::chrono::milliseconds(0), 100}};
    http::RateLimiter limiter_{1000, 1000};
    std::unique_ptr<EventStreamServer> server_;
};

TEST_F(EventStreamTest, RefusalsAreProblems) {
    StartServer();
    Client anonymous(server_->Port(), Request(""));
    ASSERT_TRUE(anonymous.ReadsToEnd(5s));
    EXPECT_EQ(anonymous.Received().rfind("HTTP/1.1 401 ", 0), 0u) << anonymous.Received();
    EXPECT_NE(anonymous.Received().find("Content-Type: application/problem+json"),
              std::string::npos);
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
    const bool reopened = test_support::WaitUntil(
        [&] {
            Client again(server_->Port(), Request("token-a"));
            return again.ReadUntil("event: open", 1s);
        },
        30s, 50ms);
    EXPECT_TRUE(reopened) << "a closed stream did not free its place";
}

TEST_F(EventStreamTest, EachTenantSeesOnlyItsOwnChangesInOrderAndAnAdminSeesAll) {
    feed_.Add("tenant-a",
              "requested");  // before anyone connects: not replayed without Last-Event-ID
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
    EXPECT_EQ(a.Received().find("tenant-b"), std::string::npos)
        << "tenant A must never see B's changes";
    EXPECT_EQ(b.Received().find("tenant-a-shop"), std::string::npos)
        << "tenant B must never see A's changes";
    EXPECT_NE(admin.Received().find("tenant-b-shop"), std::string::npos);
    EXPECT_NE(admin.Received().find("id: 2\n"), std::string::npos);
}

constexpr const char* kRolloutA = "11111111-1111-4111-8111-111111111111";
constexpr const char* kRolloutB = "22222222-2222-4222-8222-222222222222";

// Rollouts are the fleet's: an admin's stream gets the active ones after `open`, then each
// change as it is notified, once; a tenant's stream gets none.
TEST_F(EventStreamTest, AnAdminSeesRolloutsLiveAndATenantNever) {
    feed_.SetRollout(kRolloutA, "running", 1);
    feed_.SetRollout(kRolloutB, "done", 5);  // over: not in the snapshot
    StartServer();
    Client admin(server_->Port(), Request("token-admin"));
    Client tenant(server_->Port(), Request("token-a"));
    ASSERT_TRUE(admin.ReadUntil(std::string(R"("id":")") + kRolloutA));
    ASSERT_TRUE(tenant.ReadUntil("event: open"));
    const auto open = admin.Received().find("event: open");
    const auto snapshot = admin.Received().find("event: rollout\ndata: {");
    ASSERT_NE(snapshot, std::string::npos) << admin.Received();
    EXPECT_LT(open, snapshot);
    EXPECT_EQ(admin.Received().find(kRolloutB), std::string::npos) << "a finished rollout";

    feed_.SetRollout(kRolloutA, "paused", 3);
    ASSERT_TRUE(admin.ReadUntil(R"("state":"paused")"));
    EXPECT_NE(admin.Received().find(R"("upgraded":3)"), std::string::npos) << admin.Received();
    feed_.Add("tenant-a", "ready");  // a store change after it reaches both streams
    ASSERT_TRUE(tenant.ReadUntil("id: 1\n"));
    ASSERT_TRUE(admin.ReadUntil("id: 1\n"));
    EXPECT_EQ(tenant.Received().find("event: rollout"), std::string::npos) << tenant.Received();
    // Rollout frames carry no id: a client's Last-Event-ID stays the change log's.
    EXPECT_EQ(admin.Received().find("id: ", open), admin.Received().find("id: 1\n"));
}

// A notification that never came (the LISTEN connection broke) or a read that failed is made
// up by a re-read of the active rollouts, and what did not change is not sent again.
TEST_F(EventStreamTest, MissedRolloutChangesAreReReadAndNothingIsSentTwice) {
    feed_.SetRollout(kRolloutA, "running", 1);
    StartServer();
    Client admin(server_->Port(), Request("token-admin"));
    ASSERT_TRUE(admin.ReadUntil(R"("upgraded":1)"));

    feed_.SetRollout(kRolloutA, "running", 2, /*notify=*/false);
    feed_.MissNextRolloutNotifications();
    ASSERT_TRUE(admin.ReadUntil(R"("upgraded":2)"));

    feed_.FailRolloutReads(true);
    feed_.SetRollout(kRolloutA, "halted", 2);
    feed_.Add("tenant-a", "ready");  // the stream goes on
    ASSERT_TRUE(admin.ReadUntil("id: 1\n"));
    feed_.FailRolloutReads(false);
    ASSERT_TRUE(admin.ReadUntil(R"("state":"halted")"));

    feed_.SetRollout(kRolloutA, "halted", 2);  // notified, unchanged
    feed_.Add("tenant-a", "deleting");
    ASSERT_TRUE(admin.ReadUntil("id: 2\n"));
    const std::string& got = admin.Received();
    const auto halted = got.find(R"("state":"halted")");
    EXPECT_EQ(got.find(R"("state":"halted")", halted + 1), std::string::npos)
        << "an unchanged rollout was sent again: " << got;
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
    ASSERT_TRUE(
        a.ReadUntil(": keep-alive\n\n", 10s));  // the first sweep only sets its start: about 2 s
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

namespace storefleet::query {
namespace {

// The status line's code of a refused request.
int StatusOf(const std::string& response) {
    return response.rfind("HTTP/1.1 ", 0) == 0 ? std::stoi(response.substr(9, 3)) : 0;
}

// Start() checks the route and the statuses the stream declares against docs/openapi.yaml;
// this checks that what it really answers is what it declares: each refusal, as a client
// meets it, is a status the document lists for the stream, with the headers it documents.
TEST_F(EventStreamTest, EveryRefusalIsAnAnswerTheDocumentLists) {
    StartServer(/*max_streams_per_tenant=*/1);
    std::vector<std::pair<std::string, std::string>> refusals;  // (what, response)
    auto refused = [&](const std::string& what, const std::string& request) {
        Client client(server_->Port(), request);
        EXPECT_TRUE(client.ReadsToEnd(5s)) << what;
        refusals.emplace_back(what, client.Received());
    };
    refused("no token", Request(""));
    refused("a bad Last-Event-ID", Request("token-a", "abc"));
    refused("the token lookup failing", Request("token-database-away"));
    Client first(server_->Port(), Request("token-a"));
    ASSERT_TRUE(first.ReadUntil("event: open"));
    refused("the tenant's streams used up", Request("token-a"));
    // The client address's bucket, emptied.
    http::RateLimiter strict{0.001, 1};
    EventStreamServer limited({}, feed_, authenticator_, strict, registry_);
    limited.Start();
    {
        Client spends_the_burst(limited.Port(), Request("token-b"));
        ASSERT_TRUE(spends_the_burst.ReadUntil("event: open"));
    }
    Client rate_limited(limited.Port(), Request("token-b"));
    ASSERT_TRUE(rate_limited.ReadsToEnd(5s));
    refusals.emplace_back("the client address's rate", rate_limited.Received());
    limited.Stop();

    const auto& responses = OpenApiDocument()["paths"]["/api/v1/stores/events"]["get"]["responses"];
    const auto& components = OpenApiDocument()["components"]["responses"];
    for (const auto& [what, response] : refusals) {
        const int status = StatusOf(response);
        ASSERT_TRUE(responses.contains(std::to_string(status))) << what << ": " << response;
        EXPECT_NE(response.find("Content-Type: application/problem+json"), std::string::npos)
            << what;
        auto documented = responses[std::to_string(status)];
        if (documented.contains("$ref")) {
            documented = components[documented["$ref"].get<std::string>().substr(
                std::string("#/components/responses/").size())];
        }
        if (documented.contains("headers")) {
            for (const auto& [header, schema] : documented["headers"].items()) {
                EXPECT_NE(response.find(header + ": "), std::string::npos)
                    << what << " lacks " << header << ": " << response;
            }
        }
    }
    EXPECT_EQ(StatusOf(refusals[0].second), 401);
    EXPECT_EQ(StatusOf(refusals[1].second), 400);
    EXPECT_EQ(StatusOf(refusals[2].second), 503);
    EXPECT_EQ(StatusOf(refusals[3].second), 429);
    EXPECT_NE(refusals[3].second.find("too_many_streams"), std::string::npos);
    EXPECT_EQ(StatusOf(refusals[4].second), 429);
    EXPECT_NE(refusals[4].second.find("rate_limited"), std::string::npos);
}

// Dashboards, alerts and tests read these names.
TEST_F(EventStreamTest, ItsMetricsKeepTheirNames) {
    StartServer();
    Client a(server_->Port(), Request("token-a"));
    ASSERT_TRUE(a.ReadUntil("event: open"));
    const std::string metrics = registry_.Render();
    for (const char* name :
         {"storefleet_query_streams_open 1", "storefleet_query_stream_events_total",
          "storefleet_query_stream_slow_clients_total",
          "storefleet_query_stream_accept_pauses_total"}) {
        EXPECT_NE(metrics.find(std::string("\n") + name), std::string::npos) << name << " in\n"
                                                                             << metrics;
    }
}

}  // namespace
}  // namespace storefleet::query
