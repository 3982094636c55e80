#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

namespace storefleet {

// Graceful shutdown: BlockSignals() must run in main() before any thread starts so that
// SIGTERM and SIGINT are only ever received by WaitForSignal(), which returns the signal
// number. Stoppable parts poll a ShutdownFlag.
void BlockTerminationSignals();
int WaitForTerminationSignal();

class ShutdownFlag {
public:
    void Trigger();
    [[nodiscard]] bool Triggered() const;
    // Sleeps up to `timeout`; returns true at once if shutdown was triggered.
    bool WaitFor(std::chrono::milliseconds timeout) const;

private:
    mutable std::mutex mutex_;
    mutable std::condition_variable cv_;
    bool triggered_ = false;
};

}  // namespace storefleet
