#include "storefleet/http/server.hpp"

#include <chrono>

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
        response.headers().add<Pistache::Http::Header::ContentType>(
            MIME(Text, Plain));
        response.send(Code::Ok, registry_.Render());
        return Route::Result::Ok;
    });
    router_.addNotFoundHandler([](const Request&, Pistache::Http::ResponseWriter response) {
        SendError(response, Code::Not_Found, "not_found", "no such endpoint");
        return Route::Result::Ok;
    });
}

HttpServer::~HttpServer() { Stop(); }

Route::Handler HttpServer::Wrap(const std::string& method, const std::string& path, Handler handler) {
    auto& latency = registry_.GetHistogram("storefleet_http_request_duration_seconds",
                                           "HTTP request latency by route.",
                                           {{"method", method}, {"route", path}});
    return [this, &latency, method, path, handler = std::move(handler)](
               const Request& request, Pistache::Http::ResponseWriter response) {
        const auto start = std::chrono::steady_clock::now();
        try {
            handler(request, response);
        } catch (const std::exception& error) {
            log::Error("unhandled error in HTTP handler",
                       {{"route", path}, {"method", method}, {"error", error.what()}});
            // If the handler had already answered, this second send fails harmlessly.
            SendError(response, Code::Internal_Server_Error, "internal",
                      "internal error; the request may be retried");
        }
        latency.Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
        registry_
            .GetCounter("storefleet_http_requests_total", "HTTP requests by route and status code.",
                        {{"method", method},
                         {"route", path},
                         {"code", std::to_string(static_cast<int>(response.getResponseCode()))}})
            .Inc();
        return Route::Result::Ok;
    };
}

void HttpServer::Get(const std::string& path, Handler handler) {
    router_.get(path, Wrap("GET", path, std::move(handler)));
}
void HttpServer::Post(const std::string& path, Handler handler) {
    router_.post(path, Wrap("POST", path, std::move(handler)));
}
void HttpServer::Delete(const std::string& path, Handler handler) {
    router_.del(path, Wrap("DELETE", path, std::move(handler)));
}

void HttpServer::Start() {
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
