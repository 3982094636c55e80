#include "query_api.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "storefleet/common/ids.hpp"
#include "storefleet/test_support/http.hpp"
#include "storefleet/test_support/wait.hpp"

namespace storefleet::query {
namespace {

using ::testing::_;
using ::testing::Return;
using ::testing::Throw;

constexpr const char* kToken = "t0ken-of-acme";
constexpr const char* kStoreId = "6f1c2b9e-3d4a-4b5c-8d7e-9f0a1b2c3d4e";

class MockStoreReader : public StoreReader {
public:
    MOCK_METHOD(std::optional<http::Principal>, PrincipalOfToken, (const std::string&), (override));
    MOCK_METHOD(std::vector<StoreView>, ListStores, (const std::string&, const ListRequest&),
                (override));
    MOCK_METHOD(std::optional<StoreView>, GetStore, (const std::string&, const std::string&),
                (override));
    MOCK_METHOD(std::optional<std::vector<EventView>>, GetTimeline,
                (const std::string&, const std::string&), (override));
};

using Reply = test_support::HttpReply;

StoreView Store(const std::string& id, int64_t created_at_us) {
    StoreView store;
    store.id = id;
    store.name = "shop";
    store.status = "ready";
    store.simulated = true;
    store.created_at_us = created_at_us;
    store.updated_at_us = created_at_us;
    return store;
}

class QueryApiTest : public ::testing::Test {
protected:
    QueryApiTest() : QueryApiTest(false) {}
    // batched: single-store GETs go through a StoreBatcher (as the service runs them).
    explicit QueryApiTest(bool batched)
        : api_(reader_, authenticator_, client_limiter_, registry_),
          server_({}, registry_, [] { return true; }) {
        api_.SetRealNodeEngines({"medusa"});
        if (batched) {
            batcher_ = std::make_unique<StoreBatcher>(reader_, 2, 64);
            api_.SetStoreBatcher(batcher_.get());
        }
        api_.Register(server_);
        server_.Start();
    }
    ~QueryApiTest() override {
        if (batcher_) batcher_->Stop();
        server_.Stop();
    }

    Reply Get(const std::string& path, const std::string& token = kToken,
              const std::vector<std::string>& extra_headers = {}) {
        Reply reply =
            test_support::HttpClient::Local(server_.Port(), token, std::chrono::seconds(5))
                .Send("GET", path, "", extra_headers);
        EXPECT_NE(reply.code, -1) << reply.error;
        return reply;
    }

    void AcmeIsKnown() {
        EXPECT_CALL(reader_, PrincipalOfToken(Sha256Hex(kToken)))
            .WillRepeatedly(Return(http::Principal{"acme", false}));
    }

    metrics::Registry registry_;
    ::testing::StrictMock<MockStoreReader> reader_;
    http::Authenticator authenticator_{
        [this](const std::string& sha) { return reader_.PrincipalOfToken(sha); },
        {std::chrono::seconds(30), std::chrono::seconds(30), 100}};
    http::RateLimiter client_limiter_{1000, 1000};
    std::unique_ptr<StoreBatcher> batcher_;
    QueryApi api_;
    http::HttpServer server_;
};

TEST_F(QueryApiTest, WithoutABearerTokenItIs401LikeIntake) {
    Reply reply = Get("/api/v1/stores", "");
    EXPECT_EQ(reply.code, 401);
    EXPECT_EQ(reply.Json()["code"], "unauthorized");
    EXPECT_EQ(reply.Json()["detail"], "send an API token as 'Authorization: Bearer <token>'");
    EXPECT_NE(reply.headers.find("Content-Type: application/problem+json"), std::string::npos)
        << reply.headers;
    EXPECT_NE(reply.headers.find("WWW-Authenticate: Bearer"), std::string::npos) << reply.headers;
}

TEST_F(QueryApiTest, AnUnknownTokenIs401) {
    // Looked up once: the unknown token is remembered (negative cache).
    EXPECT_CALL(reader_, PrincipalOfToken(Sha256Hex("nope"))).WillOnce(Return(std::nullopt));
    Reply reply = Get("/api/v1/stores/" + std::string(kStoreId), "nope");
    EXPECT_EQ(reply.code, 401);
    EXPECT_EQ(reply.Json()["detail"], "unknown, expired or revoked API token");
    EXPECT_EQ(Get("/api/v1/stores/" + std::string(kStoreId), "nope").code, 401);
}

TEST_F(QueryApiTest, AKnownTokenIsLookedUpOncePerTtl) {
    EXPECT_CALL(reader_, PrincipalOfToken(Sha256Hex(kToken)))
        .WillOnce(Return(http::Principal{"acme", false}));
    EXPECT_CALL(reader_, GetStore("acme", kStoreId))
        .Times(2)
        .WillRepeatedly(Return(Store(kStoreId, 1)));
    EXPECT_EQ(Get("/api/v1/stores/" + std::string(kStoreId)).code, 200);
    EXPECT_EQ(Get("/api/v1/stores/" + std::string(kStoreId)).code, 200);
}

TEST_F(QueryApiTest, ListsTheTenantsStoresWithACursorWhenThereAreMore) {
    AcmeIsKnown();
    EXPECT_CALL(reader_, ListStores("acme", _))
        .WillOnce([](const std::string&, const ListRequest& request) {
            EXPECT_EQ(request.limit, 2);
            EXPECT_EQ(request.status, "ready");
            EXPECT_FALSE(request.after);
            return std::vector<StoreView>{Store("00000000-0000-4000-8000-000000000003", 30),
                                          Store("00000000-0000-4000-8000-000000000002", 20),
                                          Store("00000000-0000-4000-8000-000000000001", 10)};
        });
    Reply reply = Get("/api/v1/stores?limit=2&status=ready");
    ASSERT_EQ(reply.code, 200) << reply.body;
    auto json = reply.Json();
    ASSERT_EQ(json["items"].size(), 2U);
    EXPECT_EQ(json["items"][0]["id"], "00000000-0000-4000-8000-000000000003");
    EXPECT_TRUE(json["items"][0].contains("note"));
    ASSERT_TRUE(json["next_cursor"].is_string());

    const std::string cursor = json["next_cursor"];
    EXPECT_CALL(reader_, ListStores("acme", _))
        .WillOnce([](const std::string&, const ListRequest& request) {
            EXPECT_EQ(request.limit, 50);
            EXPECT_EQ(request.after, (Cursor{20, "00000000-0000-4000-8000-000000000002"}));
            return std::vector<StoreView>{Store("00000000-0000-4000-8000-000000000001", 10)};
        });
    Reply next = Get("/api/v1/stores?cursor=" + cursor);
    ASSERT_EQ(next.code, 200) << next.body;
    EXPECT_EQ(next.Json()["items"].size(), 1U);
    EXPECT_TRUE(next.Json()["next_cursor"].is_null());
}

// One tenant's reads are limited after authentication (before the fix query had only the
// per-address limit, so a tenant behind many addresses could take the whole read model),
// and another tenant is not affected.
TEST_F(QueryApiTest, ATenantOverItsReadRateIs429AndOthersAreNot) {
    http::RateLimiter tenant_limiter(/*rate=*/0.01, /*burst=*/2);
    api_.SetTenantLimiter(&tenant_limiter);
    AcmeIsKnown();
    EXPECT_CALL(reader_, PrincipalOfToken(Sha256Hex("other-token")))
        .WillRepeatedly(Return(http::Principal{"globex", false}));
    EXPECT_CALL(reader_, GetStore(::testing::_, kStoreId)).WillRepeatedly(Return(std::nullopt));
    EXPECT_EQ(Get("/api/v1/stores/" + std::string(kStoreId)).code, 404);
    EXPECT_EQ(Get("/api/v1/stores/" + std::string(kStoreId)).code, 404);
    Reply limited = Get("/api/v1/stores/" + std::string(kStoreId));
    EXPECT_EQ(limited.code, 429);
    EXPECT_EQ(limited.Json()["code"], "rate_limited");
    EXPECT_NE(limited.headers.find("Retry-After: "), std::string::npos) << limited.headers;
    EXPECT_EQ(Get("/api/v1/stores/" + std::string(kStoreId), "other-token").code, 404)
        << "another tenant was limited";
}

TEST_F(QueryApiTest, BadListParametersAre400) {
    AcmeIsKnown();
    for (const char* query : {"?limit=0", "?limit=abc", "?cursor=xyz!", "?status=bogus",
                              "?engine=shopify", "?name_prefix=A%25", "?name_prefix="}) {
        Reply reply = Get(std::string("/api/v1/stores") + query);
        EXPECT_EQ(reply.code, 400) << query;
        EXPECT_EQ(reply.Json()["code"], "invalid_request") << query;
        EXPECT_TRUE(reply.Json()["errors"][0]["field"].is_string()) << query;
    }
}

// The single-store GET, read on the HTTP thread (false) and through the batcher (true).
class QueryApiStoreTest : public QueryApiTest, public ::testing::WithParamInterface<bool> {
protected:
    QueryApiStoreTest() : QueryApiTest(GetParam()) {}
};
INSTANTIATE_TEST_SUITE_P(ReadOnTheHttpThreadOrBatched, QueryApiStoreTest,
                         ::testing::Values(false, true));

TEST_P(QueryApiStoreTest, AStoreOfAnotherTenantOrNoneAtAllIs404) {
    AcmeIsKnown();
    EXPECT_CALL(reader_, GetStore("acme", kStoreId)).WillOnce(Return(std::nullopt));
    Reply reply = Get("/api/v1/stores/" + std::string(kStoreId));
    EXPECT_EQ(reply.code, 404);
    EXPECT_EQ(reply.Json()["code"], "not_found");
    // Not a UUID: 404 without a query.
    EXPECT_EQ(Get("/api/v1/stores/not-a-uuid").code, 404);
    EXPECT_EQ(Get("/api/v1/stores/not-a-uuid/events").code, 404);
}

TEST_P(QueryApiStoreTest, ShowsAStore) {
    AcmeIsKnown();
    EXPECT_CALL(reader_, GetStore("acme", kStoreId))
        .WillOnce(Return(Store(kStoreId, 1'700'000'000'000'000)));
    Reply reply = Get("/api/v1/stores/" + std::string(kStoreId));
    ASSERT_EQ(reply.code, 200);
    EXPECT_EQ(reply.Json()["id"], kStoreId);
    EXPECT_EQ(reply.Json()["created_at"], "2023-11-14T22:13:20.000000Z");
}

TEST_P(QueryApiStoreTest, AStoreCarriesAnETagAndAnUnchangedOneIs304) {
    AcmeIsKnown();
    EXPECT_CALL(reader_, GetStore("acme", kStoreId))
        .Times(3)
        .WillRepeatedly(Return(Store(kStoreId, 5)));
    Reply first = Get("/api/v1/stores/" + std::string(kStoreId));
    ASSERT_EQ(first.code, 200);
    const auto at = first.headers.find("ETag: ");
    ASSERT_NE(at, std::string::npos) << first.headers;
    const std::string etag = first.headers.substr(at + 6, first.headers.find('\r', at) - at - 6);
    Reply same = Get("/api/v1/stores/" + std::string(kStoreId), kToken, {"If-None-Match: " + etag});
    EXPECT_EQ(same.code, 304);
    EXPECT_TRUE(same.body.empty());
    Reply other = Get("/api/v1/stores/" + std::string(kStoreId), kToken,
                      {"If-None-Match: \"something-else\""});
    EXPECT_EQ(other.code, 200);
}

// The ETag names the whole answer, not the desired state (that is desired_etag): a store that
// converged, or whose condition changed, is a new answer with the same desired_etag.
TEST_P(QueryApiStoreTest, TheETagIsOfTheWholeAnswerAndDesiredEtagOfTheDesiredState) {
    AcmeIsKnown();
    StoreView converging = Store(kStoreId, 5);
    converging.generation = 2;
    converging.observed_generation = 1;
    converging.condition_state = "converging";
    StoreView converged = converging;
    converged.observed_generation = 2;
    converged.condition_state = "in_sync";
    EXPECT_CALL(reader_, GetStore("acme", kStoreId))
        .WillOnce(Return(converging))
        .WillOnce(Return(converged));
    const auto etag_of = [](const Reply& reply) {
        const auto at = reply.headers.find("ETag: ");
        return at == std::string::npos
                   ? std::string()
                   : reply.headers.substr(at + 6, reply.headers.find('\r', at) - at - 6);
    };
    Reply first = Get("/api/v1/stores/" + std::string(kStoreId));
    Reply second = Get("/api/v1/stores/" + std::string(kStoreId));
    ASSERT_EQ(first.code, 200);
    ASSERT_EQ(second.code, 200);
    EXPECT_EQ(first.Json()["desired_etag"], "\"g2\"");
    EXPECT_EQ(second.Json()["desired_etag"], "\"g2\"");
    EXPECT_EQ(second.Json()["condition"]["state"], "in_sync");
    EXPECT_FALSE(etag_of(first).empty());
    EXPECT_NE(etag_of(first), etag_of(second));
    EXPECT_NE(etag_of(first), "\"g2\"");
}

TEST_P(QueryApiStoreTest, ADatabaseHiccupIs503AndItsRequestCountedByCode) {
    AcmeIsKnown();
    EXPECT_CALL(reader_, GetStore("acme", kStoreId))
        .WillOnce(Throw(ReadUnavailable("no connection")));
    Reply reply = Get("/api/v1/stores/" + std::string(kStoreId));
    EXPECT_EQ(reply.code, 503);
    EXPECT_EQ(reply.Json()["code"], "unavailable");
    EXPECT_EQ(reply.body.find("no connection"), std::string::npos) << "internals stay in the log";
    EXPECT_NE(reply.headers.find("Retry-After: 1"), std::string::npos);
    // Answered later or not, the request is counted with the code it was answered with (a
    // deferred answer right after it is sent).
    const std::string counted =
        R"(storefleet_http_requests_total{code="503",method="GET",route="/api/v1/stores/:id"} 1)";
    std::string metrics;
    test_support::WaitUntil(
        [&] {
            metrics = registry_.Render();
            return metrics.find(counted) != std::string::npos;
        },
        std::chrono::seconds(10));
    EXPECT_NE(metrics.find(counted), std::string::npos) << metrics;
}

TEST_F(QueryApiTest, FiltersReachTheReader) {
    AcmeIsKnown();
    EXPECT_CALL(reader_, ListStores("acme", _))
        .WillOnce([](const std::string&, const ListRequest& request) {
            EXPECT_EQ(request.engine, "medusa");
            EXPECT_EQ(request.name_prefix, "shop-");
            return std::vector<StoreView>{};
        });
    Reply reply = Get("/api/v1/stores?engine=medusa&name_prefix=shop-");
    ASSERT_EQ(reply.code, 200) << reply.body;
    EXPECT_TRUE(reply.Json()["items"].empty());
}

TEST_F(QueryApiTest, ServesItsOpenApiDocumentWithoutAToken) {
    Reply reply = Get("/api/v1/openapi.json", "");
    ASSERT_EQ(reply.code, 200);
    auto document = reply.Json();
    EXPECT_EQ(document["openapi"], "3.1.0");
    EXPECT_TRUE(document["paths"].contains("/api/v1/stores/{id}"));
    EXPECT_TRUE(document["paths"].contains("/api/v1/stores/events"));
}

TEST_F(QueryApiTest, MeSaysWhoTheTokenActsFor) {
    EXPECT_CALL(reader_, PrincipalOfToken(Sha256Hex(kToken)))
        .WillOnce(Return(http::Principal{"ops", true}));
    Reply reply = Get("/api/v1/me");
    ASSERT_EQ(reply.code, 200);
    EXPECT_EQ(reply.Json()["tenant_id"], "ops");
    EXPECT_EQ(reply.Json()["role"], "admin");
    EXPECT_EQ(reply.Json()["real_node_engines"], nlohmann::json::array({"medusa"}));
}

TEST_F(QueryApiTest, ShowsATimelineOldestFirst) {
    AcmeIsKnown();
    EXPECT_CALL(reader_, GetTimeline("acme", kStoreId))
        .WillOnce(Return(std::vector<EventView>{
            {"00000000-0000-4000-8000-000000000001", "StoreRequested", "requested", "", "", 1, "c"},
            {"00000000-0000-4000-8000-000000000002", "StoreStatusChanged", "ready", "readiness", "",
             2, "c"}}));
    Reply reply = Get("/api/v1/stores/" + std::string(kStoreId) + "/events");
    ASSERT_EQ(reply.code, 200);
    auto json = reply.Json();
    ASSERT_TRUE(json.is_array());
    ASSERT_EQ(json.size(), 2U);
    EXPECT_EQ(json[0]["type"], "StoreRequested");
    EXPECT_TRUE(json[0]["step"].is_null());
    EXPECT_EQ(json[1]["step"], "readiness");
    EXPECT_EQ(json[0]["duration_ms"], 0);
    EXPECT_TRUE(json[1]["duration_ms"].is_null()) << "the last step's duration is not known yet";

    EXPECT_CALL(reader_, GetTimeline("acme", kStoreId)).WillOnce(Return(std::nullopt));
    EXPECT_EQ(Get("/api/v1/stores/" + std::string(kStoreId) + "/events").code, 404);
}

TEST(TimelineJsonTest, EachStepLastsUntilTheNextEventNeverLessThanZero) {
    const std::vector<EventView> events = {
        {"e1", "StoreRequested", "requested", "", "", 1'000'000, "c"},
        {"e2", "StoreStatusChanged", "provisioning", "helm", "", 3'500'000, "c"},
        {"e3", "StoreStatusChanged", "provisioning", "readiness", "", 3'400'000,
         "c"},  // another clock
        {"e4", "StoreStatusChanged", "ready", "ready", "", 9'400'000, "c"},
    };
    auto timeline = TimelineJson(events);
    ASSERT_EQ(timeline.size(), 4U);
    EXPECT_EQ(timeline[0]["duration_ms"], 2500);
    EXPECT_EQ(timeline[1]["duration_ms"], 0);
    EXPECT_EQ(timeline[2]["duration_ms"], 6000);
    EXPECT_TRUE(timeline[3]["duration_ms"].is_null());
}

TEST_F(QueryApiTest, ADatabaseHiccupIs503WithRetryAfter) {
    AcmeIsKnown();
    EXPECT_CALL(reader_, ListStores("acme", _)).WillOnce(Throw(ReadUnavailable("no connection")));
    Reply reply = Get("/api/v1/stores");
    EXPECT_EQ(reply.code, 503);
    EXPECT_EQ(reply.Json()["code"], "unavailable");
    EXPECT_EQ(reply.body.find("no connection"), std::string::npos) << "internals stay in the log";
    EXPECT_NE(reply.headers.find("Retry-After: 1"), std::string::npos);
}

}  // namespace
}  // namespace storefleet::query
