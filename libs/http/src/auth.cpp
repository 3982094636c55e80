#include "storefleet/http/auth.hpp"

#include "storefleet/common/ids.hpp"
#include "storefleet/http/client_address.hpp"
#include "storefleet/http/json_response.hpp"

namespace storefleet::http {

Authenticator::Authenticator(Lookup lookup, Options options)
    : lookup_(std::move(lookup)), options_(options) {}

std::string Authenticator::TokenSha256(const std::string& authorization) {
    static const std::string kPrefix = "Bearer ";
    if (authorization.rfind(kPrefix, 0) != 0 || authorization.size() <= kPrefix.size() ||
        authorization.size() > 512) {
        return "";
    }
    return Sha256Hex(authorization.substr(kPrefix.size()));
}

std::optional<Principal> Authenticator::Resolve(const std::string& authorization,
                                                Clock::time_point now) {
    const std::string token_sha256 = TokenSha256(authorization);
    if (token_sha256.empty()) return std::nullopt;
    return ResolveSha256(token_sha256, now);
}

std::optional<Principal> Authenticator::ResolveSha256(const std::string& token_sha256,
                                                      Clock::time_point now) {
    {
        std::lock_guard lock(mutex_);
        auto found = entries_.find(token_sha256);
        if (found != entries_.end() && found->second.expires > now) return found->second.principal;
    }
    // Looked up outside the lock: a slow database must not serialize every request.
    std::optional<Principal> principal = lookup_(token_sha256);
    std::lock_guard lock(mutex_);
    if (entries_.size() >= options_.max_entries) {
        std::erase_if(entries_, [now](const auto& entry) { return entry.second.expires <= now; });
        if (entries_.size() >= options_.max_entries) entries_.clear();
    }
    entries_[token_sha256] = {principal,
                              now + (principal ? options_.known_ttl : options_.unknown_ttl)};
    return principal;
}

std::size_t Authenticator::CachedTokens() {
    std::lock_guard lock(mutex_);
    return entries_.size();
}

std::optional<Principal> Authenticator::Authenticate(const Pistache::Http::Request& request,
                                                     Pistache::Http::ResponseWriter& response) {
    const std::string authorization = RequestHeader(request, "Authorization");
    if (authorization.empty()) {
        SetHeader(response, "WWW-Authenticate", "Bearer");
        SendError(response, Pistache::Http::Code::Unauthorized, "unauthorized",
                  "send an API token as 'Authorization: Bearer <token>'");
        return std::nullopt;
    }
    auto principal = Resolve(authorization, Clock::now());
    if (!principal) {
        SetHeader(response, "WWW-Authenticate", "Bearer error=\"invalid_token\"");
        SendError(response, Pistache::Http::Code::Unauthorized, "unauthorized",
                  "unknown, expired or revoked API token");
    }
    return principal;
}

std::string ClientAddress(const Pistache::Http::Request& request) {
    return ResolveClientAddress(request.address().host(), RequestHeader(request, "X-Forwarded-For"),
                                RequestHeader(request, "X-Real-IP"), CurrentTrustedProxies());
}

}  // namespace storefleet::http
