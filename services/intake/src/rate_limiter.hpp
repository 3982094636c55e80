#pragma once

#include <chrono>
#include <mutex>
#include <string>
#include <unordered_map>

namespace storefleet::intake {

// A token bucket per key (tenant): `rate` tokens a second, at most `burst` saved up.
// Thread-safe. In-process: with N intake replicas a tenant gets up to N times the rate,
// which is acceptable for abuse protection (the store quota is the hard limit).
class RateLimiter {
public:
    using Clock = std::chrono::steady_clock;
    RateLimiter(double rate, double burst) : rate_(rate), burst_(burst) {}

    // True if allowed; otherwise `retry_after` says when a token will be there.
    bool Allow(const std::string& key, Clock::time_point now, std::chrono::milliseconds& retry_after);

private:
    struct Bucket {
        double tokens;
        Clock::time_point updated;
    };
    double rate_;
    double burst_;
    std::mutex mutex_;
    std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace storefleet::intake
