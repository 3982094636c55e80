#include "storefleet/http/json_response.hpp"

namespace storefleet::http {

void SendJson(Pistache::Http::ResponseWriter& response, Pistache::Http::Code code,
              const nlohmann::json& body) {
    response.headers().add<Pistache::Http::Header::ContentType>(MIME(Application, Json));
    response.send(code, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
}

void SendError(Pistache::Http::ResponseWriter& response, Pistache::Http::Code code,
               const std::string& error_code, const std::string& message) {
    SendJson(response, code, {{"error", {{"code", error_code}, {"message", message}}}});
}

}  // namespace storefleet::http
