// Intake's answer when Postgres cannot be used: 503 with Retry-After, never 500 — for the
// token lookup, POST and DELETE alike. The pool points at a closed port, so no server is
// needed.
#include "intake_api.hpp"

#include <gtest/gtest.h>

#include "http_client.hpp"
#include "storefleet/common/ids.hpp"

namespace storefleet::intake {
namespace {

using testing::Call;

TEST(ClassifyDatabaseFailureTest, AnUnreachableOrUnwillingDatabaseIsA503) {
    for (const char* state : {"57P01", "57P03", "08006", "08001", "53300"}) {
        auto unavailable = ClassifyDatabaseFailure(pqxx::sql_error("terminating connection", "select 1", state));
        ASSERT_TRUE(unavailable.has_value()) << state;
        EXPECT_EQ(unavailable->retry_after_seconds, 2);
        EXPECT_FALSE(unavailable->maybe_applied);
    }
    EXPECT_TRUE(ClassifyDatabaseFailure(pqxx::broken_connection("connection refused")).has_value());
    EXPECT_TRUE(ClassifyDatabaseFailure(pg::PoolTimeout("no Postgres connection free within 5000 ms")).has_value());
}

TEST(ClassifyDatabaseFailureTest, ABreakDuringCommitIsA503ThatMayHaveApplied) {
    auto unavailable = ClassifyDatabaseFailure(pqxx::in_doubt_error("connection lost during commit"));
    ASSERT_TRUE(unavailable.has_value());
    EXPECT_TRUE(unavailable->maybe_applied);
    EXPECT_NE(unavailable->message.find("Idempotency-Key"), std::string::npos);
}

TEST(ClassifyDatabaseFailureTest, BugsAreNotDisguisedAsOutages) {
    EXPECT_FALSE(ClassifyDatabaseFailure(pqxx::unique_violation("duplicate key", "insert", "23505")).has_value());
    EXPECT_FALSE(ClassifyDatabaseFailure(pqxx::sql_error("syntax error", "selec", "42601")).has_value());
    EXPECT_FALSE(ClassifyDatabaseFailure(std::runtime_error("boom")).has_value());
}

class IntakeApiWithoutDatabaseTest : public ::testing::Test {
protected:
    IntakeApiWithoutDatabaseTest() {
        api_.Register(server_);
        server_.Start();
    }
    ~IntakeApiWithoutDatabaseTest() override { server_.Stop(); }

    double Unavailable() {
        return registry_.GetCounter("storefleet_intake_database_unavailable_total", "").Value();
    }

    metrics::Registry registry_;
    // Nothing listens on port 1: every connection attempt is refused at once.
    pg::Pool pool_{"host=127.0.0.1 port=1 dbname=intake user=intake connect_timeout=2", 2};
    IntakeStore store_{pool_, "stores.test"};
    RateLimiter limiter_{1000, 1000};
    TenantCache tenants_{std::chrono::seconds(30)};
    IntakeApi api_{store_, limiter_, tenants_, registry_, [] {}};
    http::HttpServer server_{{}, registry_, [] { return true; }};
    const std::string body_ = R"({"name":"shop","engine":"woocommerce"})";
    const std::string store_id_ = "6f1c2b9e-3d4a-4b5c-8d7e-9f0a1b2c3d4e";
};

TEST_F(IntakeApiWithoutDatabaseTest, TheTokenLookupAnswers503WithRetryAfter) {
    auto post = Call("POST", server_.Port(), "/api/v1/stores", "some-token", body_);
    EXPECT_EQ(post.code, 503) << post.body;
    EXPECT_TRUE(post.HasHeader("Retry-After: 2")) << post.headers;
    EXPECT_NE(post.body.find("\"unavailable\""), std::string::npos) << post.body;
    auto del = Call("DELETE", server_.Port(), "/api/v1/stores/" + store_id_, "some-token");
    EXPECT_EQ(del.code, 503) << del.body;
    EXPECT_TRUE(del.HasHeader("Retry-After: 2")) << del.headers;
    EXPECT_EQ(Unavailable(), 2);
}

TEST_F(IntakeApiWithoutDatabaseTest, ACachedTenantsPostAndDeleteAnswer503WithRetryAfter) {
    // The token is known from a moment ago, so the failure comes from the command itself.
    tenants_.Put(Sha256Hex("cached-token"), "acme", TenantCache::Clock::now());
    auto post = Call("POST", server_.Port(), "/api/v1/stores", "cached-token", body_);
    EXPECT_EQ(post.code, 503) << post.body;
    EXPECT_TRUE(post.HasHeader("Retry-After: 2")) << post.headers;
    auto del = Call("DELETE", server_.Port(), "/api/v1/stores/" + store_id_, "cached-token");
    EXPECT_EQ(del.code, 503) << del.body;
    EXPECT_TRUE(del.HasHeader("Retry-After: 2")) << del.headers;
    // Refusals that need no database are unchanged.
    auto bad = Call("POST", server_.Port(), "/api/v1/stores", "cached-token", "{");
    EXPECT_EQ(bad.code, 400);
    EXPECT_EQ(Unavailable(), 2);
}

}  // namespace
}  // namespace storefleet::intake
