#include "storefleet/http/server.hpp"

#include <curl/curl.h>
#include <gtest/gtest.h>

#include "storefleet/http/json_response.hpp"

namespace storefleet::http {
namespace {

struct Reply {
    long code = 0;
    std::string body;
    std::string content_type;
};

std::size_t Collect(char* data, std::size_t size, std::size_t count, void* out) {
    static_cast<std::string*>(out)->append(data, size * count);
    return size * count;
}

Reply Fetch(uint16_t port, const std::string& path, const char* method = "GET") {
    Reply reply;
    CURL* curl = curl_easy_init();
    std::string url = "http://127.0.0.1:" + std::to_string(port) + path;
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &reply.body);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 5L);
    EXPECT_EQ(curl_easy_perform(curl), CURLE_OK);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply.code);
    char* content_type = nullptr;
    curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &content_type);
    if (content_type != nullptr) reply.content_type = content_type;
    curl_easy_cleanup(curl);
    return reply;
}

TEST(HttpServerTest, ServesRoutesHealthAndMetricsOnAnEphemeralPort) {
    metrics::Registry registry;
    bool ready = false;
    HttpServer server({}, registry, [&] { return ready; });
    server.Get("/things/:id", [](const Pistache::Rest::Request& request, auto& response) {
        SendJson(response, Pistache::Http::Code::Ok, {{"id", request.param(":id").as<std::string>()}});
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
    EXPECT_EQ(missing.content_type, "application/problem+json");

    Reply wrong_method = Fetch(server.Port(), "/things/42", "DELETE");
    EXPECT_EQ(wrong_method.code, 405);
    EXPECT_EQ(nlohmann::json::parse(wrong_method.body)["type"], "urn:storefleet:problem:method_not_allowed");

    Reply boom = Fetch(server.Port(), "/boom");
    EXPECT_EQ(boom.code, 500);
    EXPECT_EQ(boom.body.find("kaput"), std::string::npos) << "internal errors must not leak";

    Reply metrics = Fetch(server.Port(), "/metrics");
    EXPECT_NE(metrics.body.find("storefleet_http_requests_total{code=\"200\",method=\"GET\",route=\"/things/:id\"} 1"),
              std::string::npos)
        << metrics.body;
    server.Stop();
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
        headers = curl_slist_append(headers, ask_close ? "Connection: close" : "Connection:");  // "Connection:" removes it
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
    EXPECT_EQ(connections_for_two_requests(true), 2) << "a client that asks to close gets a new one";
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
    auto body = ProblemJson({Pistache::Http::Code::Conflict, "name_taken", "the name 'a' is taken", {{"name", "taken"}}});
    EXPECT_EQ(body["type"], "urn:storefleet:problem:name_taken");
    EXPECT_EQ(body["title"], "The store name is taken");
    EXPECT_EQ(body["status"], 409);
    EXPECT_EQ(body["detail"], "the name 'a' is taken");
    EXPECT_EQ(body["errors"][0]["field"], "name");
    EXPECT_FALSE(ProblemJson({Pistache::Http::Code::Not_Found, "not_found", "x", {}}).contains("errors"));
}

}  // namespace
}  // namespace storefleet::http
