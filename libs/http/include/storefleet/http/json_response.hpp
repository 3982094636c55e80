#pragma once

#include <pistache/http.h>

#include <nlohmann/json.hpp>
#include <string>

namespace storefleet::http {

void SendJson(Pistache::Http::ResponseWriter& response, Pistache::Http::Code code,
              const nlohmann::json& body);

// The one error shape of the API: {"error":{"code":"...","message":"..."}}.
void SendError(Pistache::Http::ResponseWriter& response, Pistache::Http::Code code,
               const std::string& error_code, const std::string& message);

}  // namespace storefleet::http
