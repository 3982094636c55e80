#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

// JSON logs, one object per line on stderr:
//   {"ts":"...","level":"info","service":"intake","msg":"store accepted","store_id":"..."}
// Fields whose names look secret (password, token, secret, credential, authorization)
// are replaced by "[redacted]" so a careless call cannot leak one.
namespace storefleet::log {

using Fields = nlohmann::json;

void Init(const std::string& service, const std::string& level = "info");

void Debug(std::string_view msg, Fields fields = Fields::object());
void Info(std::string_view msg, Fields fields = Fields::object());
void Warn(std::string_view msg, Fields fields = Fields::object());
void Error(std::string_view msg, Fields fields = Fields::object());

// The log line body (without timestamp and level) that Info() and friends write; public
// so tests can check the format and the redaction.
std::string FormatBody(std::string_view msg, Fields fields);

}  // namespace storefleet::log
