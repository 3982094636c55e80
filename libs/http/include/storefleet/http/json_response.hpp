#pragma once

#include <nlohmann/json.hpp>
#include <pistache/http.h>

#include <optional>
#include <string>
#include <vector>

namespace storefleet::http {

void SendJson(Pistache::Http::ResponseWriter& response, Pistache::Http::Code code,
              const nlohmann::json& body);

// One input at fault in a 400/422: `field` is its name in the request ("name",
// "engine", "limit"), or a header ("Idempotency-Key").
struct FieldError {
    std::string field;
    std::string message;
};

// An RFC 9457 problem, the one error shape of the API (Content-Type
// application/problem+json):
//   {"type":"urn:storefleet:problem:<code>","title":"...","status":409,
//    "detail":"...","code":"<code>","errors":[{"field":"name","message":"..."}]}
// `code` is short and stable ("name_taken", "rate_limited"); clients switch on it (or on
// `type`, which carries the same word). `errors` appears only when a field is at fault.
struct Problem {
    Pistache::Http::Code status = Pistache::Http::Code::Bad_Request;
    std::string code;
    std::string detail;
    std::vector<FieldError> errors;
};

nlohmann::json ProblemJson(const Problem& problem);
void SendProblem(Pistache::Http::ResponseWriter& response, const Problem& problem);

// Shorthand for a problem with no field errors; `field`, if given, becomes the one entry
// of `errors`.
void SendError(Pistache::Http::ResponseWriter& response, Pistache::Http::Code code,
               const std::string& error_code, const std::string& message,
               const std::string& field = "");

// The title of a problem code: a short, fixed phrase (RFC 9457: the same for every
// occurrence of the type).
std::string ProblemTitle(const std::string& code, Pistache::Http::Code status);

// Sets a response header. (Pistache 0.0.5 drops headers added with addRaw(), upstream
// issue #967, so every custom header goes through a typed header object.)
void SetHeader(Pistache::Http::ResponseWriter& response, std::string name, std::string value);

// A request header's value, or "" when absent.
std::string RequestHeader(const Pistache::Http::Request& request, const std::string& name);

// True when the request's Content-Type is JSON (application/json or application/*+json,
// any parameters). A create that is not JSON is answered 415.
bool HasJsonBody(const Pistache::Http::Request& request);

}  // namespace storefleet::http
