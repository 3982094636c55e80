// Waiting in tests: poll a condition with a deadline, never sleep for an event.
#pragma once

#include <chrono>
#include <thread>

namespace storefleet::test_support {

using Clock = std::chrono::steady_clock;

// Polls `condition` every `every` until it holds (true) or `deadline` has passed (false). The
// condition is asked once more at the deadline, so a slow last poll still counts.
template <typename Condition>
bool WaitUntil(Condition&& condition, std::chrono::milliseconds deadline,
               std::chrono::milliseconds every = std::chrono::milliseconds(20)) {
    const auto until = Clock::now() + deadline;
    while (Clock::now() < until) {
        if (condition()) return true;
        std::this_thread::sleep_for(every);
    }
    return static_cast<bool>(condition());
}

// A duration in seconds, for figures and messages.
inline double Seconds(Clock::duration duration) {
    return std::chrono::duration<double>(duration).count();
}

}  // namespace storefleet::test_support
