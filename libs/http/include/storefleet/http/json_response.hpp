#pragma once

#include <pistache/http.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace storefleet::http {

void SendJson(Pistache::Http::ResponseWriter& response, Pistache::Http::Code code,
              const nlohmann::json& body);

// The one error shape of the API: {"error":{"code":"...","message":"..."}}.
void SendError(Pistache::Http::ResponseWriter& response, Pistache::Http::Code code,
               const std::string& error_code, const std::string& message);

// Sets a response header. (Pistache 0.0.5 drops headers added with addRaw(), upstream
// issue #967, so every custom header goes through a typed header object.)
void SetHeader(Pistache::Http::ResponseWriter& response, std::string name, std::string value);

// A request header's value, or "" when absent.
std::string RequestHeader(const Pistache::Http::Request& request, const std::string& name);

}  // namespace storefleet::http
