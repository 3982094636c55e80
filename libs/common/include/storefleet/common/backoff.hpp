#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>

namespace storefleet {

// Exponential backoff between retries: Next() gives the wait before the next try, starting
// at `first` and doubling up to `max`; Reset() after a success starts again from `first`.
// Not thread-safe: one per retry loop.
class Backoff {
public:
    using Duration = std::chrono::milliseconds;

    constexpr Backoff(Duration first, Duration max)
        : first_(first), max_(std::max(first, max)), next_(first) {}

    // The wait to use now; the one after it is twice as long (at most max).
    Duration Next() {
        const Duration now = next_;
        next_ = std::min(next_ * 2, max_);
        return now;
    }
    // Next() plus up to half of it again, drawn from `random` (a std::mt19937 or the like), so
    // that replicas retrying the same outage do not retry in step.
    template <typename Random>
    Duration NextWithJitter(Random& random) {
        const Duration base = Next();
        return base + Duration(static_cast<Duration::rep>(
                          random() % static_cast<uint64_t>(base.count() / 2 + 1)));
    }
    // The wait Next() would give, without moving on.
    Duration Peek() const { return next_; }
    void Reset() { next_ = first_; }

private:
    Duration first_;
    Duration max_;
    Duration next_;
};

}  // namespace storefleet
