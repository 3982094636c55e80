#include "storefleet/http/server.hpp"

#include <curl/curl.h>
#include <gtest/gtest.h>

#include "storefleet/http/json_response.hpp"

namespace storefleet::http {
namespace {

struct Reply {
    long code = 0;
    std::string body;
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
    EXPECT_EQ(nlohmann::json::parse(missing.body)["error"]["code"], "not_found");

    Reply boom = Fetch(server.Port(), "/boom");
    EXPECT_EQ(boom.code, 500);
    EXPECT_EQ(boom.body.find("kaput"), std::string::npos) << "internal errors must not leak";

    Reply metrics = Fetch(server.Port(), "/metrics");
    EXPECT_NE(metrics.body.find("storefleet_http_requests_total{code=\"200\",method=\"GET\",route=\"/things/:id\"} 1"),
              std::string::npos)
        << metrics.body;
    server.Stop();
}

}  // namespace
}  // namespace storefleet::http
