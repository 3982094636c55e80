#pragma once

#include <pistache/http.h>

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace storefleet::http {

// A token bucket per key (a tenant, a client address): `rate` tokens a second, at most
// `burst` saved up. A rate of 0 allows everything. Thread-safe. At most `max_keys`
// buckets: when full, the buckets that have refilled (indistinguishable from new ones)
// go, and if none had, the tenth least recently used, so a flood of distinct keys can
// neither grow memory nor reset the buckets of the keys being limited.
// In-process: with N replicas a key gets up to N times the rate, which is acceptable for
// abuse protection (the store quota is the hard limit).
class RateLimiter {
public:
    using Clock = std::chrono::steady_clock;
    RateLimiter(double rate, double burst, std::size_t max_keys = 100'000)
        : rate_(rate), burst_(burst), max_keys_(max_keys) {}

    // True if allowed; otherwise `retry_after` says when a token will be there.
    bool Allow(const std::string& key, Clock::time_point now,
               std::chrono::milliseconds& retry_after);
    // The same with this key's own rate (burst: twice the rate); `rate` 0 means the default.
    bool Allow(const std::string& key, Clock::time_point now,
               std::chrono::milliseconds& retry_after, double rate);

    // How many keys have a bucket now.
    std::size_t Keys();

private:
    struct Bucket {
        double tokens;
        Clock::time_point updated;
        uint64_t last_use;  // the order of use, for evicting the least recently used
    };
    double rate_;
    double burst_;
    std::size_t max_keys_;
    std::mutex mutex_;
    std::unordered_map<std::string, Bucket> buckets_;
    uint64_t uses_ = 0;
};

// Runs `limiter` for `key`; when refused, answers 429 (problem+json, Retry-After in whole
// seconds, at least 1) saying `who` is limited, and returns false.
bool AdmitOrAnswer429(RateLimiter& limiter, const std::string& key, const std::string& who,
                      Pistache::Http::ResponseWriter& response, double rate = 0);

}  // namespace storefleet::http
