#include "storefleet/http/rate_limiter.hpp"

#include <algorithm>
#include <cmath>

#include "storefleet/http/json_response.hpp"

namespace storefleet::http {

bool RateLimiter::Allow(const std::string& key, Clock::time_point now,
                        std::chrono::milliseconds& retry_after) {
    return Allow(key, now, retry_after, 0);
}

bool RateLimiter::Allow(const std::string& key, Clock::time_point now, std::chrono::milliseconds& retry_after,
                        double rate_override) {
    const double rate = rate_override > 0 ? rate_override : rate_;
    const double burst = rate_override > 0 ? 2 * rate_override : burst_;
    if (rate <= 0) return true;
    std::lock_guard lock(mutex_);
    if (buckets_.size() >= max_keys_ && !buckets_.contains(key)) {
        std::erase_if(buckets_, [&](const auto& entry) {
            const double elapsed = std::chrono::duration<double>(now - entry.second.updated).count();
            return entry.second.tokens + elapsed * rate >= burst;
        });
        if (buckets_.size() >= max_keys_) buckets_.clear();
    }
    auto [it, inserted] = buckets_.try_emplace(key, Bucket{burst, now});
    Bucket& bucket = it->second;
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
    SendError(response, Pistache::Http::Code::Too_Many_Requests, "rate_limited",
              "too many requests from this " + who + "; retry after " + std::to_string(seconds) + " s");
    return false;
}

}  // namespace storefleet::http
