#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <thread>

#include "storefleet/common/shutdown.hpp"

namespace storefleet {

// Runs `work` on a thread of its own every `period` (the first run right away when
// `run_at_start`, else after one period) until Stop() or destruction. An exception from
// `work` is logged as a warning with `what` ("prune idempotency keys") and the next run
// happens on schedule: housekeeping never takes a service down.
class PeriodicTask {
public:
    PeriodicTask(std::string what, std::chrono::milliseconds period, std::function<void()> work,
                 bool run_at_start = false);
    ~PeriodicTask();
    PeriodicTask(const PeriodicTask&) = delete;
    PeriodicTask& operator=(const PeriodicTask&) = delete;

    // Returns once a run in progress has finished; no run starts after it.
    void Stop();

private:
    void Loop(bool run_at_start);

    std::string what_;
    std::chrono::milliseconds period_;
    std::function<void()> work_;
    ShutdownFlag stopping_;
    std::thread thread_;
};

}  // namespace storefleet
