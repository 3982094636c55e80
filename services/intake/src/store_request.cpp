#include "store_request.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>

#include "storefleet/events/status.hpp"

namespace storefleet::intake {

bool IsDnsLabel(const std::string& text, std::size_t max_length) {
    if (text.empty() || text.size() > max_length) return false;
    if (text.front() == '-' || text.back() == '-') return false;
    for (char c : text) {
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
    }
    return true;
}

bool IsAdminEmail(const std::string& text) {
    const auto at = text.find('@');
    // 100: WordPress stores user_email in a varchar(100).
    return text.size() <= 100 && at != std::string::npos && at > 0 &&
           text.find('.', at) != std::string::npos && text.back() != '.' &&
           text.find_first_of(" \t\r\n\"'<>") == std::string::npos;
}

namespace {

Error Invalid(const std::string& field, const std::string& message) {
    return Error::Invalid(field, message);
}

}  // namespace

Result<StoreRequest> ParseStoreRequest(const std::string& body,
                                       const std::vector<std::string>& real_node_engines) {
    nlohmann::json json;
    try {
        json = nlohmann::json::parse(body);
    } catch (const nlohmann::json::exception&) {
        return Invalid("body",
                       R"(body must be a JSON object like {"name":"shop","engine":"woocommerce"})");
    }
    if (!json.is_object()) return Invalid("body", "body must be a JSON object");
    for (const auto& [key, value] : json.items()) {
        if (key != "name" && key != "engine" && key != "plan" && key != "admin_email" &&
            key != "placement") {
            return Invalid(key, "unknown field '" + key +
                                    "'; allowed: name, engine, plan, admin_email, placement");
        }
        if (!value.is_string()) return Invalid(key, "field '" + key + "' must be a string");
    }
    StoreRequest request;
    request.name = json.value("name", "");
    request.engine = json.value("engine", "");
    request.plan = json.value("plan", "small");
    request.admin_email = json.value("admin_email", "");
    request.placement = json.value("placement", "any");
    if (request.name.empty()) return Invalid("name", "name is required");
    if (!IsDnsLabel(request.name, 40)) {
        return Invalid(
            "name",
            "name must be 1-40 characters of a-z, 0-9 and '-', not starting or ending with '-'");
    }
    if (request.engine.empty())
        return Invalid("engine", "engine is required: woocommerce or medusa");
    if (!events::IsEngineName(request.engine)) {
        return Invalid("engine",
                       "engine must be woocommerce or medusa, got '" + request.engine + "'");
    }
    if (request.plan != "small" && request.plan != "medium" && request.plan != "large") {
        return Invalid("plan", "plan must be small, medium or large, got '" + request.plan + "'");
    }
    if (!request.admin_email.empty() && !IsAdminEmail(request.admin_email)) {
        return Invalid("admin_email",
                       "admin_email is not a valid e-mail address of at most 100 characters");
    }
    if (request.placement != "any" && request.placement != "real-node") {
        return Invalid("placement",
                       "placement must be any or real-node, got '" + request.placement + "'");
    }
    if (request.placement == "real-node" &&
        std::find(real_node_engines.begin(), real_node_engines.end(), request.engine) ==
            real_node_engines.end()) {
        if (real_node_engines.empty())
            return Invalid("placement", "this platform has no real node; use placement any");
        std::string offered;
        for (const auto& engine : real_node_engines)
            offered += (offered.empty() ? "" : ", ") + engine;
        return Invalid("placement", "the real node runs only " + offered + " stores here, not " +
                                        request.engine);
    }
    return request;
}

}  // namespace storefleet::intake
