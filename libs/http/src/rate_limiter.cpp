#include "storefleet/http/rate_limiter.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "storefleet/http/json_response.hpp"

namespace storefleet::http {

bool RateLimiter::Allow(const std::string& key, Clock::time_point now,
                        std::chrono::milliseconds& retry_after) {
    return Allow(key, now, retry_after, 0);
}

bool RateLimiter::Allow(const std::string& key, Clock::time_point now,
                        std::chrono::milliseconds& retry_after, double rate_override) {
    const double rate = rate_override > 0 ? rate_override : rate_;
    const double burst = rate_override > 0 ? 2 * rate_override : burst_;
    if (rate <= 0) return true;
    std::lock_guard lock(mutex_);
    if (buckets_.size() >= max_keys_ && !buckets_.contains(key)) {
        std::erase_if(buckets_, [&](const auto& entry) {
            const double elapsed =
                std::chrono::duration<double>(now - entry.second.updated).count();
            return entry.second.tokens + elapsed * rate >= burst;
        });
        // None refilled: the tenth least recently used go (never all: clearing every bucket
        // would hand a flood of new keys a fresh burst for every key it limits).
        if (buckets_.size() >= max_keys_) {
            std::vector<uint64_t> uses;
            uses.reserve(buckets_.size());
            for (const auto& entry : buckets_) uses.push_back(entry.second.last_use);
            const std::size_t evict = std::max<std::size_t>(1, buckets_.size() / 10);
            std::nth_element(uses.begin(), uses.begin() + static_cast<std::ptrdiff_t>(evict - 1),
                             uses.end());
            const uint64_t cutoff =
                uses[evict - 1];  // uses are unique: exactly `evict` at or below
            std::erase_if(buckets_,
                          [&](const auto& entry) { return entry.second.last_use <= cutoff; });
        }
    }
    auto [it, inserted] = buckets_.try_emplace(key, Bucket{burst, now, 0});
    Bucket& bucket = it->second;
    bucket.last_use = ++uses_;
    const double elapsed = std::chrono::duration<double>(now - bucket.updated).count();
    bucket.tokens = std::min(burst, bucket.tokens + std::max(0.0, elapsed) * rate);
    bucket.updated = now;
    if (bucket.tokens >= 1.0) {
        bucket.tokens -= 1.0;
        return true;
    }
    retry_after = std::chrono::milliseconds(
        static_cast<int64_t>(std::ceil((1.0 - bucket.tokens) / rate * 1000.0)));
    return false;
}

std::size_t RateLimiter::Keys() {
    std::lock_guard lock(mutex_);
    return buckets_.size();
}

bool AdmitOrAnswer429(RateLimiter& limiter, const std::string& key, const std::string& who,
                      Pistache::Http::ResponseWriter& response, double rate) {
    std::chrono::milliseconds retry_after{0};
    if (limiter.Allow(key, RateLimiter::Clock::now(), retry_after, rate)) return true;
    const auto seconds = std::max<int64_t>(1, (retry_after.count() + 999) / 1000);
    SetHeader(response, "Retry-After", std::to_string(seconds));
    SendError(
        response, Pistache::Http::Code::Too_Many_Requests, "rate_limited",
        "too many requests from this " + who + "; retry after " + std::to_string(seconds) + " s");
    return false;
}

}  // namespace storefleet::http
