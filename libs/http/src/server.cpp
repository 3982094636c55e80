#include "storefleet/http/server.hpp"

#include <algorithm>
#include <chrono>
#include <mutex>
#include <stdexcept>

#include "storefleet/common/log.hpp"
#include "storefleet/http/json_response.hpp"

namespace storefleet::http {

using Pistache::Http::Code;
using Pistache::Rest::Request;
using Pistache::Rest::Route;

HttpServer::HttpServer(Options options, metrics::Registry& registry, std::function<bool()> ready)
    : options_(std::move(options)), registry_(registry), ready_(std::move(ready)) {
    router_.get("/healthz", Wrap("GET", "/healthz", [](const Request&, auto& response) {
                    response.send(Code::Ok, "ok\n");
                }));
    router_.get("/readyz", Wrap("GET", "/readyz", [this](const Request&, auto& response) {
                    if (ready_ && !ready_()) {
                        response.send(Code::Service_Unavailable, "not ready\n");
                        return;
                    }
                    response.send(Code::Ok, "ready\n");
                }));
    router_.get("/metrics", [this](const Request&, Pistache::Http::ResponseWriter response) {
        response.headers().add<Pistache::Http::Header::ContentType>(MIME(Text, Plain));
        response.send(Code::Ok, registry_.Render());
        return Route::Result::Ok;
    });
    // A path no route knows. (A known path with another method gets the 405 routes that
    // Start() adds.)
    router_.addNotFoundHandler([](const Request&, Pistache::Http::ResponseWriter response) {
        SendError(response, Code::Not_Found, "not_found", "no such endpoint");
        return Route::Result::Ok;
    });
}

HttpServer::~HttpServer() { Stop(); }

namespace {

// HTTP/1.1 connections persist unless a side says "Connection: close" (RFC 9112, 9.3), but
// Pistache 0.0.5 answers "Connection: Close" and closes whenever the request names no
// Connection option, so every client that relies on the default (wrk, most libraries, a
// proxy's pooled upstream connections) paid a TCP handshake and a close per request.
void KeepAliveByDefault(const Request& request, Pistache::Http::ResponseWriter& response) {
    if (request.version() != Pistache::Http::Version::Http11) return;
    if (request.headers().has(Pistache::Http::Header::Connection::Name)) return;
    response.headers().remove<Pistache::Http::Header::Connection>();
    response.headers().add<Pistache::Http::Header::Connection>(
        Pistache::Http::ConnectionControl::KeepAlive);
}

// What a request records when it is answered: set by Wrap around each handler, taken by
// Defer() when the handler answers later.
struct RequestRecord {
    std::chrono::steady_clock::time_point start;
    metrics::Histogram* latency = nullptr;
    std::shared_ptr<const std::function<void(int code)>> count;
    bool deferred = false;
};
thread_local RequestRecord* current_request = nullptr;

}  // namespace

struct DeferredResponse::Record {
    std::chrono::steady_clock::time_point start;
    metrics::Histogram* latency;
    std::shared_ptr<const std::function<void(int code)>> count;
};

DeferredResponse::~DeferredResponse() {
    if (!record_) return;
    record_->latency->Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - record_->start).count());
    (*record_->count)(static_cast<int>(writer_.getResponseCode()));
}

DeferredResponse Defer(Pistache::Http::ResponseWriter& response) {
    if (current_request == nullptr || current_request->deferred) {
        throw std::logic_error("http::Defer outside a handler that HttpServer runs, or twice");
    }
    current_request->deferred = true;
    auto record = std::make_shared<DeferredResponse::Record>(DeferredResponse::Record{
        current_request->start, current_request->latency, current_request->count});
    return DeferredResponse(std::move(response), std::move(record));
}

Route::Handler HttpServer::Wrap(const std::string& method, const std::string& path,
                                Handler handler) {
    auto& latency = registry_.GetHistogram("storefleet_http_request_duration_seconds",
                                           "HTTP request latency by route.",
                                           {{"method", method}, {"route", path}});
    // The status codes a route answers, each counter looked up once (not per request).
    struct Codes {
        std::mutex mutex;
        std::vector<std::pair<int, metrics::Counter*>> counters;
    };
    auto codes = std::make_shared<Codes>();
    auto count =
        std::make_shared<const std::function<void(int)>>([this, codes, method, path](int code) {
            std::lock_guard<std::mutex> lock(codes->mutex);
            for (const auto& [known, counter] : codes->counters) {
                if (known == code) {
                    counter->Inc();
                    return;
                }
            }
            auto& counter = registry_.GetCounter(
                "storefleet_http_requests_total", "HTTP requests by route and status code.",
                {{"method", method}, {"route", path}, {"code", std::to_string(code)}});
            codes->counters.emplace_back(code, &counter);
            counter.Inc();
        });
    return [&latency, method, path, count, handler = std::move(handler)](
               const Request& request, Pistache::Http::ResponseWriter response) {
        RequestRecord record{std::chrono::steady_clock::now(), &latency, count, false};
        KeepAliveByDefault(request, response);
        current_request = &record;
        try {
            handler(request, response);
        } catch (const std::exception& error) {
            log::Error("unhandled error in HTTP handler",
                       {{"route", path}, {"method", method}, {"error", error.what()}});
            // If the handler had already answered, this second send fails harmlessly.
            if (!record.deferred) {
                SendError(response, Code::Internal_Server_Error, "internal",
                          "internal error; the request may be retried");
            }
        }
        current_request = nullptr;
        if (record.deferred) return Route::Result::Ok;  // recorded when answered
        latency.Observe(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - record.start).count());
        (*count)(static_cast<int>(response.getResponseCode()));
        return Route::Result::Ok;
    };
}

void HttpServer::Get(const std::string& path, Handler handler) {
    Remember("GET", path);
    router_.get(path, Wrap("GET", path, std::move(handler)));
}
void HttpServer::Post(const std::string& path, Handler handler) {
    Remember("POST", path);
    router_.post(path, Wrap("POST", path, std::move(handler)));
}
void HttpServer::Delete(const std::string& path, Handler handler) {
    Remember("DELETE", path);
    router_.del(path, Wrap("DELETE", path, std::move(handler)));
}
void HttpServer::Patch(const std::string& path, Handler handler) {
    Remember("PATCH", path);
    router_.patch(path, Wrap("PATCH", path, std::move(handler)));
}

void HttpServer::Remember(const std::string& method, const std::string& path) {
    if (running_) throw std::logic_error("HttpServer: routes must be added before Start()");
    routes_.emplace_back(method, path);
}

bool HttpServer::PathMatches(const std::string& pattern, const std::string& path) {
    std::size_t p = 0;
    std::size_t q = 0;
    while (p < pattern.size() && q < path.size()) {
        if (pattern[p] == ':') {
            // A parameter takes one non-empty segment.
            const std::size_t pattern_end = pattern.find('/', p);
            const std::size_t path_end = path.find('/', q);
            if (path_end == q) return false;
            p = pattern_end == std::string::npos ? pattern.size() : pattern_end;
            q = path_end == std::string::npos ? path.size() : path_end;
            continue;
        }
        if (pattern[p] != path[q]) return false;
        ++p;
        ++q;
    }
    return p == pattern.size() && q == path.size();
}

std::string HttpServer::CanonicalPattern(const std::string& pattern) {
    std::string canonical;
    for (std::size_t i = 0; i < pattern.size(); ++i) {
        canonical += pattern[i];
        if (pattern[i] == ':') {
            while (i + 1 < pattern.size() && pattern[i + 1] != '/') ++i;
        }
    }
    return canonical;
}

void HttpServer::ServePublicApiAs(const std::string& service,
                                  const std::vector<PublicRoute>& public_routes) {
    if (running_) throw std::logic_error("HttpServer: routes must be added before Start()");
    service_ = service;
    mine_.clear();
    elsewhere_.clear();
    for (const auto& route : public_routes) {
        (route.service == service ? mine_ : elsewhere_).push_back(route);
    }
}

void HttpServer::CheckPublicRoutes() const {
    // The document and the handlers must say the same: a public route this service serves
    // that the document does not give it (or the reverse) stops the service at start.
    auto key = [](const std::string& method, const std::string& pattern) {
        return method + " " + CanonicalPattern(pattern);
    };
    std::vector<std::string> served;
    for (const auto& [method, pattern] : routes_) {
        if (pattern.rfind("/api/", 0) == 0) served.push_back(key(method, pattern));
    }
    std::vector<std::string> documented;
    for (const auto& route : mine_) documented.push_back(key(route.method, route.pattern));
    std::sort(served.begin(), served.end());
    std::sort(documented.begin(), documented.end());
    std::string differences;
    for (const auto& route : served) {
        if (!std::binary_search(documented.begin(), documented.end(), route))
            differences += " served but not documented: " + route + ";";
    }
    for (const auto& route : documented) {
        if (!std::binary_search(served.begin(), served.end(), route))
            differences += " documented but not served: " + route + ";";
    }
    if (!differences.empty()) {
        throw std::logic_error("HttpServer: the " + service_ +
                               " service's routes differ from docs/openapi.yaml:" + differences);
    }
}

std::string HttpServer::AllowedMethods(const std::string& path_pattern) const {
    // In the usual order of a method list, whichever service serves each. Only routes of this
    // very pattern count: a concrete path that a fixed pattern and a parameter both match
    // ("/api/v1/stores/events", "/api/v1/stores/:id") is routed to the fixed one.
    std::vector<std::string> methods;
    const std::string canonical = CanonicalPattern(path_pattern);
    auto add = [&](const std::string& method, const std::string& pattern) {
        if (CanonicalPattern(pattern) != canonical) return;
        if (std::find(methods.begin(), methods.end(), method) == methods.end())
            methods.push_back(method);
    };
    for (const auto& [method, pattern] : routes_) add(method, pattern);
    for (const auto& route : elsewhere_) add(route.method, route.pattern);
    static const std::vector<std::string> order = {"GET",   "POST",   "PUT",
                                                   "PATCH", "DELETE", "OPTIONS"};
    std::string allowed;
    for (const auto& method : order) {
        if (std::find(methods.begin(), methods.end(), method) == methods.end()) continue;
        if (!allowed.empty()) allowed += ", ";
        allowed += method;
    }
    return allowed;
}

void HttpServer::Start() {
    // Pistache answers a known path with another method itself, in plain text, before any
    // not-found handler; so every such pair gets a route answering our 405 problem (with
    // Allow) instead. The public paths other services answer are known paths too.
    if (!service_.empty()) CheckPublicRoutes();
    std::vector<std::string> patterns;  // one spelling per canonical pattern, ours first
    auto known = [&](const std::string& pattern) {
        for (const auto& existing : patterns) {
            if (CanonicalPattern(existing) == CanonicalPattern(pattern)) return true;
        }
        return false;
    };
    for (const auto& [method, pattern] : routes_) {
        if (!known(pattern)) patterns.push_back(pattern);
    }
    for (const auto& route : elsewhere_) {
        if (!known(route.pattern)) patterns.push_back(route.pattern);
    }
    for (const auto& pattern : patterns) {
        const std::string allowed = AllowedMethods(pattern);
        auto refuse = [allowed](const Request& request, Pistache::Http::ResponseWriter response) {
            SetHeader(response, "Allow", allowed);
            SendError(response, Code::Method_Not_Allowed, "method_not_allowed",
                      "this path answers " + allowed + ", not " +
                          Pistache::Http::methodString(request.method()));
            return Route::Result::Ok;
        };
        for (auto method : {Pistache::Http::Method::Get, Pistache::Http::Method::Post,
                            Pistache::Http::Method::Put, Pistache::Http::Method::Patch,
                            Pistache::Http::Method::Delete, Pistache::Http::Method::Options}) {
            const std::string name = Pistache::Http::methodString(method);
            bool served = false;
            for (const auto& [route_method, route_pattern] : routes_) {
                served = served || (route_method == name &&
                                    CanonicalPattern(route_pattern) == CanonicalPattern(pattern));
            }
            if (served) continue;
            std::string other_service;
            for (const auto& route : elsewhere_) {
                if (route.method == name &&
                    CanonicalPattern(route.pattern) == CanonicalPattern(pattern)) {
                    other_service = route.service;
                }
            }
            if (other_service.empty()) {
                router_.addRoute(method, pattern, refuse);
                continue;
            }
            const std::string detail = name + " " + pattern + " is answered by the " +
                                       other_service + " service; send it through the front door";
            router_.addRoute(method, pattern,
                             [detail](const Request&, Pistache::Http::ResponseWriter response) {
                                 SendError(response, Code::Not_Found, "not_found", detail);
                                 return Route::Result::Ok;
                             });
        }
    }
    Pistache::Address address(options_.address, Pistache::Port(options_.port));
    endpoint_ = std::make_unique<Pistache::Http::Endpoint>(address);
    auto opts = Pistache::Http::Endpoint::options()
                    .threads(options_.threads)
                    .flags(Pistache::Tcp::Options::ReuseAddr)
                    .maxRequestSize(options_.max_request_bytes);
    endpoint_->init(opts);
    endpoint_->setHandler(router_.handler());
    endpoint_->serveThreaded();
    running_ = true;
    log::Info("http server listening", {{"address", options_.address}, {"port", Port()}});
}

void HttpServer::Stop() {
    if (running_.exchange(false) && endpoint_) endpoint_->shutdown();
}

uint16_t HttpServer::Port() const {
    return endpoint_ ? static_cast<uint16_t>(endpoint_->getPort()) : 0;
}

}  // namespace storefleet::http
