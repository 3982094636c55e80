#include "storefleet/http/server.hpp"

#include <curl/curl.h>
#include <gtest/gtest.h>

#include <set>

#include "storefleet/http/json_response.hpp"
#include "storefleet/http/public_routes.hpp"
#include "storefleet/test_support/http.hpp"

namespace storefleet::http {
namespace {

using Reply = test_support::HttpReply;

std::size_t Collect(char* data, std::size_t size, std::size_t count, void* out) {
    static_cast<std::string*>(out)->append(data, size * count);
    return size * count;
}

// `method` on the server at `port`, without a token.
Reply Fetch(uint16_t port, const std::string& path, const char* method = "GET") {
    Reply reply =
        test_support::HttpClient::Local(port, "", std::chrono::seconds(5)).Send(method, path);
    EXPECT_NE(reply.code, -1) << reply.error;
    return reply;
}

TEST(HttpServerTest, ServesRoutesHealthAndMetricsOnAnEphemeralPort) {
    metrics::Registry registry;
    bool ready = false;
    HttpServer server({}, registry, [&] { return ready; });
    server.Get("/things/:id", [](const Pistache::Rest::Request& request, auto& response) {
        SendJson(response, Pistache::Http::Code::Ok,
                 {{"id", request.param(":id").as<std::string>()}});
    });
    server.Get("/boom", [](const Pistache::Rest::Request&, auto&) -> void {
        throw std::runtime_error("kaput");
    });
    server.Start();
    ASSERT_NE(server.Port(), 0);

    EXPECT_EQ(Fetch(server.Port(), "/healthz").code, 200);
    EXPECT_EQ(Fetch(server.Port(), "/readyz").code, 503);
    ready = true;
    EXPECT_EQ(Fetch(server.Port(), "/readyz").code, 200);

    Reply thing = Fetch(server.Port(), "/things/42");
    EXPECT_EQ(thing.code, 200);
    EXPECT_EQ(nlohmann::json::parse(thing.body)["id"], "42");

    Reply missing = Fetch(server.Port(), "/nope");
    EXPECT_EQ(missing.code, 404);
    EXPECT_EQ(nlohmann::json::parse(missing.body)["code"], "not_found");
    EXPECT_EQ(nlohmann::json::parse(missing.body)["status"], 404);
    EXPECT_EQ(missing.Header("Content-Type"), "application/problem+json");

    Reply wrong_method = Fetch(server.Port(), "/things/42", "DELETE");
    EXPECT_EQ(wrong_method.code, 405);
    EXPECT_EQ(nlohmann::json::parse(wrong_method.body)["type"],
              "urn:storefleet:problem:method_not_allowed");

    Reply boom = Fetch(server.Port(), "/boom");
    EXPECT_EQ(boom.code, 500);
    EXPECT_EQ(boom.body.find("kaput"), std::string::npos) << "internal errors must not leak";

    Reply metrics = Fetch(server.Port(), "/metrics");
    EXPECT_NE(
        metrics.body.find(
            "storefleet_http_requests_total{code=\"200\",method=\"GET\",route=\"/things/:id\"} 1"),
        std::string::npos)
        << metrics.body;
    server.Stop();
}

// Behind the front door, intake gets every POST/PUT/PATCH/DELETE of /api/ and query the rest,
// so each must answer a method nobody serves with the path's whole Allow header.
TEST(HttpServerTest, WithThePublicTableAMethodNobodyServesGetsTheWholeAllowHeader) {
    const std::vector<PublicRoute> table = {
        {"GET", "/api/v1/me", "query"},
        {"GET", "/api/v1/stores", "query"},
        {"POST", "/api/v1/stores", "intake"},
        {"GET", "/api/v1/stores/:id", "query"},
        {"DELETE", "/api/v1/stores/:id", "intake"},
        {"GET", "/api/v1/stores/events", "stream"},
    };
    metrics::Registry registry;
    HttpServer intake({}, registry, [] { return true; });
    auto accepted = [](const Pistache::Rest::Request&, auto& response) {
        SendJson(response, Pistache::Http::Code::Accepted, {{"ok", true}});
    };
    intake.Post("/api/v1/stores", accepted);
    intake.Delete("/api/v1/stores/:store", accepted);  // another parameter name: the same route
    intake.ServePublicApiAs("intake", table);
    intake.Start();
    const uint16_t port = intake.Port();

    EXPECT_EQ(Fetch(port, "/api/v1/stores", "POST").code, 202);
    EXPECT_EQ(Fetch(port, "/api/v1/stores/42", "DELETE").code, 202);
    Reply put_list = Fetch(port, "/api/v1/stores", "PUT");
    EXPECT_EQ(put_list.code, 405);
    EXPECT_EQ(put_list.Header("Allow"), "GET, POST");
    EXPECT_EQ(put_list.Header("Content-Type"), "application/problem+json");
    Reply patch_store = Fetch(port, "/api/v1/stores/42", "PATCH");
    EXPECT_EQ(patch_store.code, 405);
    EXPECT_EQ(patch_store.Header("Allow"), "GET, DELETE");
    // A path only query serves: 405 with its methods, not 404.
    Reply delete_me = Fetch(port, "/api/v1/me", "DELETE");
    EXPECT_EQ(delete_me.code, 405);
    EXPECT_EQ(delete_me.Header("Allow"), "GET");
    // The fixed path wins over the parameter: the stream's Allow, not the store's.
    Reply delete_events = Fetch(port, "/api/v1/stores/events", "DELETE");
    EXPECT_EQ(delete_events.code, 405);
    EXPECT_EQ(delete_events.Header("Allow"), "GET");
    // A method another service answers, sent here directly: 404 naming that service.
    Reply get_me = Fetch(port, "/api/v1/me");
    EXPECT_EQ(get_me.code, 404);
    EXPECT_NE(nlohmann::json::parse(get_me.body)["detail"].get<std::string>().find("query service"),
              std::string::npos);
    EXPECT_EQ(Fetch(port, "/api/v1/nothing-here", "DELETE").code, 404);
    intake.Stop();
}

TEST(HttpServerTest, StartRefusesHandlersThatDifferFromThePublicTable) {
    const std::vector<PublicRoute> table = {{"GET", "/api/v1/me", "query"},
                                            {"POST", "/api/v1/stores", "intake"}};
    auto ok = [](const Pistache::Rest::Request&, auto& response) {
        response.send(Pistache::Http::Code::Ok);
    };
    metrics::Registry registry;
    HttpServer undocumented({}, registry, [] { return true; });
    undocumented.Post("/api/v1/stores", ok);
    undocumented.Patch("/api/v1/stores", ok);
    undocumented.ServePublicApiAs("intake", table);
    EXPECT_THROW(undocumented.Start(), std::logic_error);
    HttpServer unserved({}, registry, [] { return true; });
    unserved.ServePublicApiAs("intake", table);
    EXPECT_THROW(unserved.Start(), std::logic_error);
}

TEST(PublicApiRoutesTest, TheGeneratedTableHasEveryServiceAndNoDuplicate) {
    const auto& routes = PublicApiRoutes();
    std::set<std::string> seen;
    std::set<std::string> services;
    for (const auto& route : routes) {
        EXPECT_TRUE(
            seen.insert(route.method + " " + HttpServer::CanonicalPattern(route.pattern)).second)
            << route.method << " " << route.pattern;
        EXPECT_EQ(route.pattern.find('{'), std::string::npos) << route.pattern;
        services.insert(route.service);
    }
    EXPECT_EQ(services, (std::set<std::string>{"intake", "query", "stream"}));
    EXPECT_TRUE(seen.count("DELETE /api/v1/stores/:"));
    EXPECT_TRUE(seen.count("POST /api/v1/stores"));
    EXPECT_TRUE(seen.count("GET /api/v1/admin/figures"));
}

// One curl handle, two requests: curl reuses the connection only if the server kept it open.
// A plain HTTP/1.1 request (no Connection header) keeps it; "Connection: close" does not.
TEST(HttpServerTest, KeepsHttp11ConnectionsOpenUnlessTheClientSaysClose) {
    metrics::Registry registry;
    HttpServer server({}, registry, [] { return true; });
    server.Get("/things/:id", [](const Pistache::Rest::Request&, auto& response) {
        SendJson(response, Pistache::Http::Code::Ok, {{"ok", true}});
    });
    server.Start();
    auto connections_for_two_requests = [&](bool ask_close) {
        CURL* curl = curl_easy_init();
        std::string body;
        const std::string url = "http://127.0.0.1:" + std::to_string(server.Port()) + "/things/1";
        curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Collect);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
        curl_easy_setopt(curl, CURLOPT_TIMEOUT, 5L);
        curl_slist* headers = nullptr;
        headers = curl_slist_append(
            headers, ask_close ? "Connection: close" : "Connection:");  // "Connection:" removes it
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
        long total = 0;
        for (int i = 0; i < 2; ++i) {
            EXPECT_EQ(curl_easy_perform(curl), CURLE_OK);
            long opened = 0;
            curl_easy_getinfo(curl, CURLINFO_NUM_CONNECTS, &opened);
            total += opened;
        }
        curl_slist_free_all(headers);
        curl_easy_cleanup(curl);
        return total;
    };
    EXPECT_EQ(connections_for_two_requests(false), 1) << "the second request reuses the connection";
    EXPECT_EQ(connections_for_two_requests(true), 2)
        << "a client that asks to close gets a new one";
    server.Stop();
}

TEST(HttpServerTest, PathPatternsMatchWholeSegments) {
    EXPECT_TRUE(HttpServer::PathMatches("/api/v1/stores/:id", "/api/v1/stores/abc"));
    EXPECT_TRUE(HttpServer::PathMatches("/api/v1/stores/:id/events", "/api/v1/stores/abc/events"));
    EXPECT_FALSE(HttpServer::PathMatches("/api/v1/stores/:id", "/api/v1/stores/"));
    EXPECT_FALSE(HttpServer::PathMatches("/api/v1/stores/:id", "/api/v1/stores/a/b"));
    EXPECT_FALSE(HttpServer::PathMatches("/api/v1/stores", "/api/v1/storesx"));
}

TEST(ProblemTest, CarriesTypeTitleStatusDetailAndFieldErrors) {
    auto body = ProblemJson({Pistache::Http::Code::Conflict,
                             "name_taken",
                             "the name 'a' is taken",
                             {{"name", "taken"}}});
    EXPECT_EQ(body["type"], "urn:storefleet:problem:name_taken");
    EXPECT_EQ(body["title"], "The store name is taken");
    EXPECT_EQ(body["status"], 409);
    EXPECT_EQ(body["detail"], "the name 'a' is taken");
    EXPECT_EQ(body["errors"][0]["field"], "name");
    EXPECT_FALSE(
        ProblemJson({Pistache::Http::Code::Not_Found, "not_found", "x", {}}).contains("errors"));
}

}  // namespace
}  // namespace storefleet::http
