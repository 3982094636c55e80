#include "rate_limiter.hpp"

#include <algorithm>
#include <cmath>

namespace storefleet::intake {

bool RateLimiter::Allow(const std::string& key, Clock::time_point now,
                        std::chrono::milliseconds& retry_after) {
    std::lock_guard lock(mutex_);
    auto [it, inserted] = buckets_.try_emplace(key, Bucket{burst_, now});
    Bucket& bucket = it->second;
    const double elapsed = std::chrono::duration<double>(now - bucket.updated).count();
    bucket.tokens = std::min(burst_, bucket.tokens + std::max(0.0, elapsed) * rate_);
    bucket.updated = now;
    if (bucket.tokens >= 1.0) {
        bucket.tokens -= 1.0;
        return true;
    }
    retry_after = std::chrono::milliseconds(
        static_cast<int64_t>(std::ceil((1.0 - bucket.tokens) / rate_ * 1000.0)));
    return false;
}

}  // namespace storefleet::intake
