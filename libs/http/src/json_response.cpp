#include "storefleet/http/json_response.hpp"

#include <cctype>
#include <unordered_map>

namespace storefleet::http {
namespace {

class TextHeader final : public Pistache::Http::Header::Header {
public:
    TextHeader(std::string name, std::string value)
        : name_(std::move(name)), value_(std::move(value)) {}
    [[nodiscard]] const char* name() const override { return name_.c_str(); }
    void write(std::ostream& stream) const override { stream << value_; }
    [[nodiscard]] uint64_t hash() const override {
        return Pistache::Http::Header::detail::hash(name_.c_str());
    }

private:
    std::string name_;
    std::string value_;
};

}  // namespace

void SetHeader(Pistache::Http::ResponseWriter& response, std::string name, std::string value) {
    response.headers().add(std::make_shared<TextHeader>(std::move(name), std::move(value)));
}

std::string RequestHeader(const Pistache::Http::Request& request, const std::string& name) {
    auto raw = request.headers().tryGetRaw(name);
    return raw ? raw->value() : "";
}

void SendJson(Pistache::Http::ResponseWriter& response, Pistache::Http::Code code,
              const nlohmann::json& body) {
    response.headers().add<Pistache::Http::Header::ContentType>(MIME(Application, Json));
    response.send(code, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
}

std::string ProblemTitle(const std::string& code, Pistache::Http::Code status) {
    static const std::unordered_map<std::string, std::string> kTitles = {
        {"invalid_request", "The request is not valid"},
        {"unauthorized", "An API token is required"},
        {"forbidden", "Not allowed for this token"},
        {"not_found", "Not found"},
        {"method_not_allowed", "Method not allowed"},
        {"name_taken", "The store name is taken"},
        {"quota_exceeded", "The tenant's store quota is used up"},
        {"idempotency_key_reused", "Idempotency-Key reused with another request"},
        {"idempotency_conflict", "A request with this Idempotency-Key is in progress"},
        {"unsupported_media_type", "The body must be JSON"},
        {"precondition_failed", "The store changed since it was read"},
        {"precondition_required", "A change needs If-Match"},
        {"store_deleting", "The store is being deleted"},
        {"nothing_to_retry", "Nothing to retry"},
        {"payload_too_large", "The request body is too large"},
        {"rate_limited", "Too many requests"},
        {"unavailable", "Temporarily unavailable"},
        {"internal", "Internal error"},
        {"not_modified", "Not modified"},
    };
    if (auto found = kTitles.find(code); found != kTitles.end()) return found->second;
    return Pistache::Http::codeString(status);
}

nlohmann::json ProblemJson(const Problem& problem) {
    nlohmann::json body = {{"type", "urn:storefleet:problem:" + problem.code},
                           {"title", ProblemTitle(problem.code, problem.status)},
                           {"status", static_cast<int>(problem.status)},
                           {"detail", problem.detail},
                           {"code", problem.code}};
    if (!problem.errors.empty()) {
        nlohmann::json errors = nlohmann::json::array();
        for (const auto& error : problem.errors)
            errors.push_back({{"field", error.field}, {"message", error.message}});
        body["errors"] = std::move(errors);
    }
    return body;
}

void SendProblem(Pistache::Http::ResponseWriter& response, const Problem& problem) {
    SetHeader(response, "Content-Type", "application/problem+json");
    response.send(
        problem.status,
        ProblemJson(problem).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
}

void SendError(Pistache::Http::ResponseWriter& response, Pistache::Http::Code code,
               const std::string& error_code, const std::string& message,
               const std::string& field) {
    Problem problem{code, error_code, message, {}};
    if (!field.empty()) problem.errors.push_back({field, message});
    SendProblem(response, problem);
}

bool HasJsonBody(const Pistache::Http::Request& request) {
    std::string type = RequestHeader(request, "Content-Type");
    type = type.substr(0, type.find(';'));
    while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) type.pop_back();
    for (auto& c : type) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (type == "application/json") return true;
    return type.rfind("application/", 0) == 0 && type.size() > 5 &&
           type.substr(type.size() - 5) == "+json";
}

}  // namespace storefleet::http
