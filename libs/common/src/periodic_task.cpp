#include "storefleet/common/periodic_task.hpp"

#include <exception>

#include "storefleet/common/log.hpp"

namespace storefleet {

PeriodicTask::PeriodicTask(std::string what, std::chrono::milliseconds period,
                           std::function<void()> work, bool run_at_start)
    : what_(std::move(what)), period_(period), work_(std::move(work)) {
    thread_ = std::thread([this, run_at_start] { Loop(run_at_start); });
}

PeriodicTask::~PeriodicTask() { Stop(); }

void PeriodicTask::Stop() {
    stopping_.Trigger();
    if (thread_.joinable()) thread_.join();
}

void PeriodicTask::Loop(bool run_at_start) {
    if (!run_at_start && stopping_.WaitFor(period_)) return;
    do {
        try {
            work_();
        } catch (const std::exception& error) {
            log::Warn("could not " + what_, {{"error", error.what()}});
        }
    } while (!stopping_.WaitFor(period_));
}

}  // namespace storefleet
