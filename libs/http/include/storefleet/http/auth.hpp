#pragma once

#include <pistache/http.h>

#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace storefleet::http {

// Who a request acts for: the tenant its API token belongs to. An admin token may act on
// every tenant's stores (its tenant_id names the tenant that holds it).
struct Principal {
    std::string tenant_id;
    bool admin = false;
    double rate_per_second = 0;  // the tenant's own request rate; 0: the service's default
    std::string token_id;        // which token (the audit trail's actor)

    bool operator==(const Principal&) const = default;
};

// Turns "Authorization: Bearer <token>" into a Principal. The token is looked up by its
// SHA-256 (the raw token is never kept), first in a small cache, then with `lookup`:
//  - a known token is cached for `known_ttl` (1 s by default), so a revoked or expired
//    token stops working within that time on every replica;
//  - an unknown one for `unknown_ttl`, so a client repeating a bad token does not reach
//    Postgres each time (the per-address limiter bounds a flood of distinct ones).
// At most `max_entries`; when full, expired entries go, and if none had, all go.
// Thread-safe. `lookup` may throw; the caller maps that to 503/500.
class Authenticator {
public:
    using Clock = std::chrono::steady_clock;
    using Lookup = std::function<std::optional<Principal>(const std::string& token_sha256)>;
    struct Options {
        std::chrono::milliseconds known_ttl{1000};
        std::chrono::milliseconds unknown_ttl{5000};
        std::size_t max_entries = 10'000;
    };

    Authenticator(Lookup lookup, Options options);
    explicit Authenticator(Lookup lookup) : Authenticator(std::move(lookup), Options{}) {}

    // The request's principal; on failure it has already answered 401 (problem+json,
    // WWW-Authenticate) and returns nullopt.
    std::optional<Principal> Authenticate(const Pistache::Http::Request& request,
                                          Pistache::Http::ResponseWriter& response);
    // The principal of an Authorization header's value, or nullopt (absent, malformed or
    // unknown). For servers that answer 401 their own way.
    std::optional<Principal> Resolve(const std::string& authorization, Clock::time_point now);
    // The same by the token's SHA-256 (hex), for a caller that keeps only the hash.
    std::optional<Principal> ResolveSha256(const std::string& token_sha256, Clock::time_point now);
    // The SHA-256 of the token in an Authorization header value, or "" if it has none.
    static std::string TokenSha256(const std::string& authorization);

    // How many tokens are cached (known and unknown).
    std::size_t CachedTokens();

private:
    struct Entry {
        std::optional<Principal> principal;
        Clock::time_point expires;
    };
    Lookup lookup_;
    Options options_;
    std::mutex mutex_;
    std::unordered_map<std::string, Entry> entries_;
};

// The client's address, for the limiter that runs before authentication:
// ResolveClientAddress (client_address.hpp) with the process's trusted proxies.
std::string ClientAddress(const Pistache::Http::Request& request);

}  // namespace storefleet::http
