#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <vector>

#include "admission_permit.hpp"
#include "cancel.hpp"
#include "storefleet/metrics/registry.hpp"

namespace storefleet::provisioner {

// Admission control in front of the Kubernetes API: how many store commands may run at once
// on this replica, moved by what the API server's latency says (AIMD).
//
// Every Kubernetes API call the provisioner makes is reported through Observe(). Time is cut
// into windows; when a window ends, its samples decide:
//  - any 429, 5xx or transport failure (timeout, refused), or the window's p90 latency above
//    `latency_target`: limit = max(min_limit, floor(limit * decrease_factor));
//  - otherwise the limit grows by one, up to `max_limit`. A window with no samples counts
//    as healthy (nothing suggests the server is busy), so an idle replica grows back too.
// A command holds a permit while it runs (Acquire before, Release after; AdmissionPermit); when the
// limit falls below the permits held, nothing is taken away, new commands just wait until enough
// are released. Waiters are served first come, first served.
//
// Disabled (`enabled` false), Acquire never waits and the limit stays at `max_limit`; the
// latency histogram is still recorded.
//
// Thread-safe: workers Acquire/Release, any thread calling the API Observes. The clock is
// injectable so tests can drive windows without sleeping.
class AdmissionLimit {
public:
    using Clock = std::chrono::steady_clock;
    using Now = std::function<Clock::time_point()>;

    struct Options {
        bool enabled = true;
        std::size_t min_limit = 2;
        std::size_t max_limit = 32;
        std::chrono::milliseconds latency_target{250};
        std::chrono::milliseconds window{2000};
        double decrease_factor = 0.7;
        // How often a waiting Acquire looks at its CancelToken (which has no notification).
        std::chrono::milliseconds cancel_poll{50};
    };
    // A status of 0 means the call got no HTTP answer (timeout, connection refused).
    static constexpr long kNoResponse = 0;

    AdmissionLimit(Options options, metrics::Registry& registry, Now now = Clock::now);
    AdmissionLimit(const AdmissionLimit&) = delete;
    AdmissionLimit& operator=(const AdmissionLimit&) = delete;

    // A place in the queue; taken where the caller's own order is decided (e.g. when a worker
    // takes a command off the dispatcher's queue), then waited for with Wait().
    using Ticket = uint64_t;
    Ticket Enqueue();
    // Waits for the ticket's turn and a free permit. True: the permit is held (Release it);
    // false: cancelled first (the ticket is given up, nothing is held).
    bool Wait(Ticket ticket, const CancelToken& cancel);
    bool Acquire(const CancelToken& cancel) { return Wait(Enqueue(), cancel); }
    void Release();

    // One Kubernetes API call: how long it took and its HTTP status (kNoResponse if none).
    void Observe(std::chrono::duration<double> latency, long status);

    [[nodiscard]] std::size_t Limit();
    [[nodiscard]] std::size_t InUse();
    [[nodiscard]] std::size_t Waiting();
    [[nodiscard]] bool Enabled() const { return options_.enabled; }

private:
    // Closes the windows that ended by `now`. Needs mutex_.
    void Advance(Clock::time_point now);
    void Publish();  // gauges; needs mutex_

    Options options_;
    Now now_;
    std::mutex mutex_;
    std::condition_variable changed_;
    std::size_t limit_;
    std::size_t in_use_ = 0;
    std::deque<Ticket> queue_;  // waiting tickets, oldest first
    Ticket next_ticket_ = 1;
    Clock::time_point window_start_;
    std::vector<double> samples_;  // latencies (seconds) of the current window
    bool window_failed_ = false;   // a 429, 5xx or no answer in the current window

    metrics::Gauge& limit_gauge_;
    metrics::Gauge& waiting_gauge_;
    metrics::Counter& backoffs_;
    metrics::Histogram& latency_;
};

// Whether an API answer says the server is overloaded or failing (429, 5xx, none at all).
bool IsOverloadSignal(long status);

}  // namespace storefleet::provisioner
