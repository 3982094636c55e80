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

using Handler =
    std::function<void(const Pistache::Rest::Request&, Pistache::Http::ResponseWriter&)>;

// A response a handler answers later, from any thread: a handler HttpServer runs calls
// Defer(response), returns at once, and whoever holds the DeferredResponse sends through
// writer(). The request's latency and status-code metrics are recorded when it is
// destroyed, with the code it was answered with. Pistache sends from any thread (the
// write is queued to the connection's reactor).
class DeferredResponse {
public:
    DeferredResponse(DeferredResponse&&) noexcept = default;
    DeferredResponse& operator=(DeferredResponse&&) noexcept = default;
    DeferredResponse(const DeferredResponse&) = delete;
    DeferredResponse& operator=(const DeferredResponse&) = delete;
    ~DeferredResponse();
    Pistache::Http::ResponseWriter& writer() { return writer_; }

private:
    friend DeferredResponse Defer(Pistache::Http::ResponseWriter& response);
    struct Record;
    DeferredResponse(Pistache::Http::ResponseWriter writer, std::shared_ptr<Record> record)
        : writer_(std::move(writer)), record_(std::move(record)) {}
    Pistache::Http::ResponseWriter writer_;
    std::shared_ptr<Record> record_;  // null once moved from
};

// Takes `response` over (see DeferredResponse). Only inside a handler HttpServer runs; the
// handler must not touch `response` afterwards.
DeferredResponse Defer(Pistache::Http::ResponseWriter& response);

// One operation of the public API and the service that answers it behind the front door
// (docs/openapi.yaml's `x-storefleet-service`); the whole table is PublicApiRoutes() in
// "storefleet/http/public_routes.hpp", generated from that document.
struct PublicRoute {
    std::string method;   // "GET"
    std::string pattern;  // "/api/v1/stores/:id"
    std::string service;  // "intake", "query" or "stream"
};

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

    // The front door sends each method of a public path to one service, so a method no
    // service serves there can reach any of them: with the public table, this server answers
    // it 405 with the path's full Allow header (every service's methods), not a partial one
    // or a 404. A method another service serves (reached only by bypassing the front door)
    // gets a 404 problem naming that service. Call before Start(). Start() then throws
    // std::logic_error when this server's /api/ routes are not exactly the table's routes for
    // `service`, so the document and the handlers cannot drift apart.
    void ServePublicApiAs(const std::string& service,
                          const std::vector<PublicRoute>& public_routes);
    // The (method, pattern) pairs this server's own handlers serve, in registration order.
    [[nodiscard]] const std::vector<std::pair<std::string, std::string>>& Routes() const {
        return routes_;
    }

    // True when `path` (no query) matches the pattern ("/api/v1/stores/:id").
    static bool PathMatches(const std::string& pattern, const std::string& path);
    // The pattern with every parameter name dropped ("/api/v1/stores/:"), so patterns that
    // differ only in their parameters' names compare equal.
    static std::string CanonicalPattern(const std::string& pattern);

    void Start();
    void Stop();
    [[nodiscard]] uint16_t Port() const;

private:
    Pistache::Rest::Route::Handler Wrap(const std::string& method, const std::string& path,
                                        Handler handler);

    void Remember(const std::string& method, const std::string& path);
    // The methods served at `path_pattern` (here or, with the public table, by another
    // service), as an Allow header value; "" when none.
    std::string AllowedMethods(const std::string& path_pattern) const;

    Options options_;
    std::vector<std::pair<std::string, std::string>> routes_;  // (method, pattern)
    void CheckPublicRoutes() const;
    std::string service_;
    std::vector<PublicRoute> mine_;       // public routes the table gives this service
    std::vector<PublicRoute> elsewhere_;  // public routes other services answer
    metrics::Registry& registry_;
    std::function<bool()> ready_;
    Pistache::Rest::Router router_;
    std::unique_ptr<Pistache::Http::Endpoint> endpoint_;
    std::atomic<bool> running_{false};
};

}  // namespace storefleet::http
