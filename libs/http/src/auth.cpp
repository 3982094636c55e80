#include "storefleet/http/auth.hpp"

#include "storefleet/common/ids.hpp"
#include "storefleet/http/json_response.hpp"

namespace storefleet::http {

std::optional<std::string> AuthenticateTenant(
    const Pistache::Http::Request& request, Pistache::Http::ResponseWriter& response, TenantCache& cache,
    const std::function<std::optional<std::string>(const std::string& token_sha256)>& lookup) {
    const std::string authorization = RequestHeader(request, "Authorization");
    const std::string prefix = "Bearer ";
    if (authorization.rfind(prefix, 0) != 0 || authorization.size() <= prefix.size()) {
        SetHeader(response, "WWW-Authenticate", "Bearer");
        SendError(response, Pistache::Http::Code::Unauthorized, "unauthorized",
                  "send an API token as 'Authorization: Bearer <token>'");
        return std::nullopt;
    }
    const std::string token_sha256 = Sha256Hex(authorization.substr(prefix.size()));
    const auto now = TenantCache::Clock::now();
    if (auto cached = cache.Get(token_sha256, now)) return cached;
    auto tenant = lookup(token_sha256);
    if (!tenant) {
        SendError(response, Pistache::Http::Code::Unauthorized, "unauthorized", "unknown API token");
        return std::nullopt;
    }
    cache.Put(token_sha256, *tenant, now);
    return tenant;
}

}  // namespace storefleet::http
