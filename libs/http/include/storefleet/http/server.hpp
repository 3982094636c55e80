#pragma once

#include <pistache/endpoint.h>
#include <pistache/router.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "storefleet/metrics/registry.hpp"

namespace storefleet::http {

using Handler = std::function<void(const Pistache::Rest::Request&, Pistache::Http::ResponseWriter&)>;

// Owns one Pistache endpoint. Routes are added before Start(); Start() serves on
// `threads` Pistache reactor threads; Stop() (or the destructor) shuts it down.
// Handlers run on those reactor threads and must not block for long.
class HttpServer {
public:
    struct Options {
        std::string address = "127.0.0.1";
        uint16_t port = 0;  // 0: the kernel picks a free port; see Port()
        int threads = 2;
        std::size_t max_request_bytes = 64 * 1024;
    };
    // `ready` answers /readyz; /healthz only says the process serves HTTP.
    HttpServer(Options options, metrics::Registry& registry, std::function<bool()> ready);
    ~HttpServer();
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;

    // `route_name` labels the metrics (the path template, not the concrete path).
    void Get(const std::string& path, Handler handler);
    void Post(const std::string& path, Handler handler);
    void Delete(const std::string& path, Handler handler);
    void Patch(const std::string& path, Handler handler);

    // True when `path` (no query) matches the pattern ("/api/v1/stores/:id").
    static bool PathMatches(const std::string& pattern, const std::string& path);

    void Start();
    void Stop();
    [[nodiscard]] uint16_t Port() const;

private:
    Pistache::Rest::Route::Handler Wrap(const std::string& method, const std::string& path,
                                        Handler handler);

    void Remember(const std::string& method, const std::string& path);
    // The methods some route serves at `path`, as an Allow header value; "" when none.
    std::string AllowedMethods(const std::string& path) const;

    Options options_;
    std::vector<std::pair<std::string, std::string>> routes_;  // (method, pattern)
    metrics::Registry& registry_;
    std::function<bool()> ready_;
    Pistache::Rest::Router router_;
    std::unique_ptr<Pistache::Http::Endpoint> endpoint_;
    std::atomic<bool> running_{false};
};

}  // namespace storefleet::http
