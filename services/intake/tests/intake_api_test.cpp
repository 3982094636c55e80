// Intake's answer when Postgres cannot be used: 503 with Retry-After, never 500 — for the
// token lookup, POST and DELETE alike. The pool points at a closed port, so no server is
// needed.
#include "intake_api.hpp"

#include <gtest/gtest.h>

#include "storefleet/common/ids.hpp"
#include "storefleet/test_support/http.hpp"

namespace storefleet::intake {
namespace {

using test_support::HttpClient;
using test_support::HttpReply;

// `method` on the server at `port` with `token` ("" for none).
HttpReply Call(const std::string& method, uint16_t port, const std::string& path,
               const std::string& token, const std::string& body = "",
               const std::vector<std::string>& headers = {}) {
    return HttpClient::Local(port, token).Send(method, path, body, headers);
}

TEST(ClassifyDatabaseFailureTest, AnUnreachableOrUnwillingDatabaseIsA503) {
    for (const char* state : {"57P01", "57P03", "08006", "08001", "53300"}) {
        auto unavailable =
            ClassifyDatabaseFailure(pqxx::sql_error("terminating connection", "select 1", state));
        ASSERT_TRUE(unavailable.has_value()) << state;
        EXPECT_EQ(unavailable->retry_after_seconds, 2);
        EXPECT_FALSE(unavailable->maybe_applied);
    }
    EXPECT_TRUE(ClassifyDatabaseFailure(pqxx::broken_connection("connection refused")).has_value());
    EXPECT_TRUE(
        ClassifyDatabaseFailure(pg::PoolTimeout("no Postgres connection free within 5000 ms"))
            .has_value());
}

TEST(ClassifyDatabaseFailureTest, ABreakDuringCommitIsA503ThatMayHaveApplied) {
    auto unavailable =
        ClassifyDatabaseFailure(pqxx::in_doubt_error("connection lost during commit"));
    ASSERT_TRUE(unavailable.has_value());
    EXPECT_TRUE(unavailable->maybe_applied);
    EXPECT_NE(unavailable->message.find("Idempotency-Key"), std::string::npos);
}

TEST(ClassifyDatabaseFailureTest, BugsAreNotDisguisedAsOutages) {
    EXPECT_FALSE(ClassifyDatabaseFailure(pqxx::unique_violation("duplicate key", "insert", "23505"))
                     .has_value());
    EXPECT_FALSE(
        ClassifyDatabaseFailure(pqxx::sql_error("syntax error", "selec", "42601")).has_value());
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
    http::RateLimiter tenant_limiter_{1000, 1000};
    http::RateLimiter client_limiter_{1000, 1000};
    // "cached-token" stands for a token the cache knows from a moment ago; any other goes
    // to the (unreachable) database.
    http::Authenticator authenticator_{
        [this](const std::string& sha) -> std::optional<http::Principal> {
            if (sha == Sha256Hex("cached-token")) return http::Principal{"acme", false};
            return store_.Authenticate(sha);
        }};
    IntakeApi api_{store_, authenticator_, client_limiter_, tenant_limiter_, registry_, [] {}};
    http::HttpServer server_{{}, registry_, [] { return true; }};
    const std::string body_ = R"({"name":"shop","engine":"woocommerce"})";
    const std::string store_id_ = "6f1c2b9e-3d4a-4b5c-8d7e-9f0a1b2c3d4e";
};

TEST_F(IntakeApiWithoutDatabaseTest, TheTokenLookupAnswers503WithRetryAfter) {
    auto post = Call("POST", server_.Port(), "/api/v1/stores", "some-token", body_);
    EXPECT_EQ(post.code, 503) << post.body;
    EXPECT_EQ(post.Header("Retry-After"), "2") << post.headers;
    EXPECT_NE(post.body.find("\"unavailable\""), std::string::npos) << post.body;
    auto del = Call("DELETE", server_.Port(), "/api/v1/stores/" + store_id_, "some-token");
    EXPECT_EQ(del.code, 503) << del.body;
    EXPECT_EQ(del.Header("Retry-After"), "2") << del.headers;
    EXPECT_EQ(Unavailable(), 2);
}

TEST_F(IntakeApiWithoutDatabaseTest, ACachedTenantsPostAndDeleteAnswer503WithRetryAfter) {
    // The token is known, so the failure comes from the command itself.
    auto post = Call("POST", server_.Port(), "/api/v1/stores", "cached-token", body_);
    EXPECT_EQ(post.code, 503) << post.body;
    EXPECT_EQ(post.Header("Retry-After"), "2") << post.headers;
    auto del = Call("DELETE", server_.Port(), "/api/v1/stores/" + store_id_, "cached-token");
    EXPECT_EQ(del.code, 503) << del.body;
    EXPECT_EQ(del.Header("Retry-After"), "2") << del.headers;
    // Refusals that need no database are unchanged.
    auto bad = Call("POST", server_.Port(), "/api/v1/stores", "cached-token", "{");
    EXPECT_EQ(bad.code, 400);
    EXPECT_EQ(Unavailable(), 2);
}

TEST_F(IntakeApiWithoutDatabaseTest, RefusalsAreProblemsNamingTheFieldAndANonJsonBodyIs415) {
    auto bad = Call("POST", server_.Port(), "/api/v1/stores", "cached-token",
                    R"({"name":"Bad Name","engine":"medusa"})");
    EXPECT_EQ(bad.code, 400);
    EXPECT_TRUE(bad.Header("Content-Type").rfind("application/problem+json", 0) == 0)
        << bad.headers;
    auto problem = nlohmann::json::parse(bad.body);
    EXPECT_EQ(problem["type"], "urn:storefleet:problem:invalid_request");
    EXPECT_EQ(problem["status"], 400);
    EXPECT_EQ(problem["errors"][0]["field"], "name");

    auto form =
        Call("POST", server_.Port(), "/api/v1/stores", "cached-token", "name=shop&engine=medusa",
             {"Content-Type: application/x-www-form-urlencoded"});
    EXPECT_EQ(form.code, 415) << form.body;
    EXPECT_EQ(nlohmann::json::parse(form.body)["code"], "unsupported_media_type");

    auto no_token = Call("POST", server_.Port(), "/api/v1/stores", "", body_);
    EXPECT_EQ(no_token.code, 401);
    EXPECT_TRUE(no_token.Header("WWW-Authenticate").rfind("Bearer", 0) == 0) << no_token.headers;
    EXPECT_EQ(nlohmann::json::parse(no_token.body)["code"], "unauthorized");

    auto wrong_method = Call("PUT", server_.Port(), "/api/v1/stores", "cached-token", body_);
    EXPECT_EQ(wrong_method.code, 405);
}

// PATCH's refusals that need no database come before it: the media type, the patch, the
// precondition. Only a request that passes them all reaches Postgres (here: 503).
TEST_F(IntakeApiWithoutDatabaseTest, APatchIsCheckedBeforeTheDatabaseIsAsked) {
    const std::string path = "/api/v1/stores/" + store_id_;
    const std::string merge_patch = "Content-Type: application/merge-patch+json";
    auto patch = [&](const std::string& body, const std::vector<std::string>& headers) {
        return Call("PATCH", server_.Port(), path, "cached-token", body, headers);
    };
    auto plain_json = patch(R"({"plan":"large"})", {"If-Match: \"g1\""});
    EXPECT_EQ(plain_json.code, 415) << plain_json.body;
    EXPECT_NE(plain_json.body.find("merge-patch"), std::string::npos) << plain_json.body;

    auto field_of = [](const test_support::HttpReply& reply) {
        return nlohmann::json::parse(reply.body)["errors"][0]["field"].get<std::string>();
    };
    auto unknown = patch(R"({"name":"x"})", {merge_patch, "If-Match: *"});
    EXPECT_EQ(unknown.code, 400);
    EXPECT_EQ(field_of(unknown), "name");
    auto null = patch(R"({"plan":null})", {merge_patch + "; charset=utf-8", "If-Match: *"});
    EXPECT_EQ(null.code, 400) << "a merge patch with parameters is still one";
    EXPECT_EQ(field_of(null), "plan");
    auto empty = patch("{}", {merge_patch, "If-Match: *"});
    EXPECT_EQ(empty.code, 400);

    auto no_precondition = patch(R"({"plan":"large"})", {merge_patch});
    EXPECT_EQ(no_precondition.code, 428) << no_precondition.body;
    EXPECT_TRUE(no_precondition.Header("Content-Type").rfind("application/problem+json", 0) == 0);
    EXPECT_EQ(nlohmann::json::parse(no_precondition.body)["code"], "precondition_required");
    EXPECT_EQ(field_of(no_precondition), "If-Match");

    auto malformed = patch(R"({"plan":"large"})", {merge_patch, "If-Match: g1"});
    EXPECT_EQ(malformed.code, 400) << malformed.body;
    EXPECT_EQ(field_of(malformed), "If-Match");

    EXPECT_EQ(Unavailable(), 0) << "none of these asked the database";
    auto valid = patch(R"({"plan":"large"})", {merge_patch, "If-Match: \"g1\""});
    EXPECT_EQ(valid.code, 503) << valid.body;
    EXPECT_EQ(valid.Header("Retry-After"), "2");
    auto retry = Call("POST", server_.Port(), path + "/retry", "cached-token");
    EXPECT_EQ(retry.code, 503) << retry.body;
    EXPECT_EQ(Unavailable(), 2);

    auto no_token = Call("PATCH", server_.Port(), path, "", R"({"plan":"large"})",
                         {merge_patch, "If-Match: *"});
    EXPECT_EQ(no_token.code, 401);
}

TEST_F(IntakeApiWithoutDatabaseTest, TheClientLimiterRefusesBeforeAnyTokenIsLookedUp) {
    // A burst of 2 and one token per 20 s: no token comes back while the 10 requests run, however
    // slow the machine (at 1 per second a loaded run could see a third request through).
    http::RateLimiter tight{0.05, 2};
    http::RateLimiter loose{1000, 1000};
    int lookups = 0;
    http::Authenticator counting{
        [&](const std::string&) -> std::optional<http::Principal> {
            ++lookups;
            return std::nullopt;
        },
        {std::chrono::milliseconds(1000), std::chrono::milliseconds(0), 100}};
    IntakeApi api{store_, counting, tight, loose, registry_, [] {}};
    http::HttpServer server{{}, registry_, [] { return true; }};
    api.Register(server);
    server.Start();
    int refused = 0;
    for (int i = 0; i < 10; ++i) {
        auto reply =
            Call("POST", server.Port(), "/api/v1/stores", "bad-token-" + std::to_string(i), body_);
        if (reply.code == 429) {
            ++refused;
            EXPECT_FALSE(reply.Header("Retry-After").empty()) << reply.headers;
        } else {
            EXPECT_EQ(reply.code, 401);
        }
    }
    server.Stop();
    EXPECT_EQ(refused, 8);
    EXPECT_EQ(lookups, 2) << "refused requests never reach the token lookup";
}

}  // namespace
}  // namespace storefleet::intake
