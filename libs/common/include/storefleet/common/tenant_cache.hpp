#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace storefleet {

// Which tenant an API token belongs to, remembered for `ttl` so a page of requests does
// not ask Postgres each time. Keyed by the token's SHA-256, so raw tokens are not kept in
// memory. Only known tokens are cached: a tenant created a moment ago is let in at once.
// At most `max_entries`; when full, expired entries go, and if none had, all go (a flood of
// distinct tokens must not grow memory). Thread-safe.
class TenantCache {
  public:
    using Clock = std::chrono::steady_clock;
    explicit TenantCache(std::chrono::milliseconds ttl, std::size_t max_entries = 10'000)
        : ttl_(ttl), max_entries_(max_entries) {}

    std::optional<std::string> Get(const std::string& token_sha256, Clock::time_point now);
    void Put(const std::string& token_sha256, std::string tenant_id, Clock::time_point now);

  private:
    struct Entry {
        std::string tenant_id;
        Clock::time_point expires;
    };
    std::chrono::milliseconds ttl_;
    std::size_t max_entries_;
    std::mutex mutex_;
    std::unordered_map<std::string, Entry> entries_;
};

}  // namespace storefleet
