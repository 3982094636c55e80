#pragma once

#include <pistache/http.h>

#include <functional>
#include <optional>
#include <string>

#include "storefleet/common/tenant_cache.hpp"

namespace storefleet::http {

// The tenant of the request's "Authorization: Bearer <token>": looked up by the token's
// SHA-256 (the raw token is never kept), first in `cache`, then with `lookup`, whose
// answer is cached. On failure it has already answered 401 (with WWW-Authenticate) and
// returns nullopt. `lookup` may throw; the caller's handler maps that to 5xx.
std::optional<std::string> AuthenticateTenant(
    const Pistache::Http::Request& request, Pistache::Http::ResponseWriter& response, TenantCache& cache,
    const std::function<std::optional<std::string>(const std::string& token_sha256)>& lookup);

}  // namespace storefleet::http
