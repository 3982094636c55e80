#include "storefleet/common/shutdown.hpp"

#include <pthread.h>

#include <csignal>
#include <stdexcept>

namespace storefleet {
namespace {

sigset_t TerminationSet() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    return set;
}

}  // namespace

void BlockTerminationSignals() {
    sigset_t set = TerminationSet();
    if (pthread_sigmask(SIG_BLOCK, &set, nullptr) != 0) {
        throw std::runtime_error("cannot block SIGTERM/SIGINT");
    }
    // Pistache and librdkafka may write to a closed socket; that must not kill us.
    std::signal(SIGPIPE, SIG_IGN);
}

int WaitForTerminationSignal() {
    sigset_t set = TerminationSet();
    int signal = 0;
    if (sigwait(&set, &signal) != 0) throw std::runtime_error("sigwait failed");
    return signal;
}

void ShutdownFlag::Trigger() {
    {
        std::lock_guard lock(mutex_);
        triggered_ = true;
    }
    cv_.notify_all();
}

bool ShutdownFlag::Triggered() const {
    std::lock_guard lock(mutex_);
    return triggered_;
}

bool ShutdownFlag::WaitFor(std::chrono::milliseconds timeout) const {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [this] { return triggered_; });
}

}  // namespace storefleet
