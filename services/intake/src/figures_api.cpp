#include "figures_api.hpp"

#include "intake_api.hpp"
#include "storefleet/http/json_response.hpp"

namespace storefleet::intake {

using Pistache::Http::Code;
using Pistache::Http::ResponseWriter;
using Pistache::Rest::Request;

FiguresApi::FiguresApi(FiguresService& figures, http::Authenticator& authenticator,
                       http::RateLimiter& client_limiter)
    : figures_(figures), authenticator_(authenticator), client_limiter_(client_limiter) {}

void FiguresApi::Register(http::HttpServer& server) {
    server.Get("/api/v1/admin/figures", [this](const Request& request, ResponseWriter& response) {
        try {
            if (!http::AdmitOrAnswer429(client_limiter_, http::ClientAddress(request),
                                        "client address", response)) {
                return;
            }
            auto principal = authenticator_.Authenticate(request, response);
            if (!principal) return;
            if (!principal->admin) {
                http::SendError(response, Code::Forbidden, "forbidden",
                                "this needs a platform admin token");
                return;
            }
            auto window = ParseWindow(request.query().get("window"));
            if (!window.ok()) {
                http::SendError(response, Code::Bad_Request, window.error().code,
                                window.error().message, window.error().field);
                return;
            }
            // The figures are at most a couple of seconds old (FiguresService's cache).
            http::SetHeader(response, "Cache-Control", "private, max-age=2");
            http::SendJson(response, Code::Ok, ToJson(figures_.Get(*window)));
        } catch (const std::exception& error) {
            if (!AnswerIfDatabaseUnavailable(response, error)) throw;
        }
    });
}

}  // namespace storefleet::intake
