// A blocking HTTP client (libcurl) for tests: the platform's API through the front door, a
// service's own port, anything with a base URL. One request per call, no connection reuse,
// so a test sees every fault (a stopped server, a cut proxy) on the next request.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace storefleet::test_support {

struct HttpReply {
    long code = -1;  // -1: no HTTP answer (connection refused, timeout): see `error`
    std::string body;
    std::string headers;  // the raw response header lines
    std::string error;    // curl's text when there was no answer

    // The first header `name` (any case), value trimmed; "" when absent.
    [[nodiscard]] std::string Header(const std::string& name) const;
    // The body as JSON; a discarded value (is_discarded()) when it is not JSON.
    [[nodiscard]] nlohmann::json Json() const;
};

class HttpClient {
public:
    // `base_url` is prefixed to every path; an empty `token` sends no Authorization header.
    explicit HttpClient(std::string base_url, std::string token = "",
                        std::chrono::seconds timeout = std::chrono::seconds(15));
    // http://127.0.0.1:<port>: a server the test runs in-process.
    static HttpClient Local(uint16_t port, std::string token = "",
                            std::chrono::seconds timeout = std::chrono::seconds(15));

    // Sends `body` (Content-Type: application/json unless `extra` names another) with the
    // bearer token and the `extra` headers ("Name: value" lines). POST, PUT and PATCH always
    // carry a body, if only an empty one.
    [[nodiscard]] HttpReply Send(const std::string& method, const std::string& path,
                                 const std::string& body = "",
                                 const std::vector<std::string>& extra = {}) const;
    [[nodiscard]] HttpReply Get(const std::string& path) const { return Send("GET", path); }
    [[nodiscard]] HttpReply Post(const std::string& path, const std::string& body) const {
        return Send("POST", path, body);
    }
    [[nodiscard]] HttpReply Delete(const std::string& path) const { return Send("DELETE", path); }

    // The same client with another bearer token ("" for none).
    [[nodiscard]] HttpClient WithToken(std::string token) const;
    [[nodiscard]] const std::string& BaseUrl() const { return base_url_; }

private:
    std::string base_url_;
    std::string token_;
    std::chrono::seconds timeout_;
};

}  // namespace storefleet::test_support
