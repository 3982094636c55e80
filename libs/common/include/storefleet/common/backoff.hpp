#pragma once

#include <algorithm>
#include <chrono>

namespace storefleet {

// Exponential backoff between retries: Next() gives the wait before the next try, starting
// at `first` and doubling up to `max`; Reset() after a success starts again from `first`.
// Not thread-safe: one per retry loop.
class Backoff {
  public:
    using Duration = std::chrono::milliseconds;

    constexpr Backoff(Duration first, Duration max) : first_(first), max_(std::max(first, max)), next_(first) {}

    // The wait to use now; the one after it is twice as long (at most max).
    Duration Next() {
        const Duration now = next_;
        next_ = std::min(next_ * 2, max_);
        return now;
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
