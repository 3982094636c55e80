#include "admission.hpp"

#include <algorithm>
#include <cmath>

#include "storefleet/common/log.hpp"

namespace storefleet::provisioner {

bool IsOverloadSignal(long status) {
    return status == AdmissionLimit::kNoResponse || status == 429 || status >= 500;
}

AdmissionLimit::AdmissionLimit(Options options, metrics::Registry& registry, Now now)
    : options_(options),
      now_(std::move(now)),
      limit_gauge_(registry.GetGauge(
          "storefleet_provisioner_admission_limit",
          "Store commands this replica lets run at once now (AIMD on API latency).")),
      waiting_gauge_(registry.GetGauge("storefleet_provisioner_admission_waiting",
                                       "Store commands waiting for an admission permit.")),
      backoffs_(registry.GetCounter(
          "storefleet_provisioner_admission_backoffs_total",
          "Windows that cut the admission limit (slow or failing API server).")),
      latency_(registry.GetHistogram(
          "storefleet_provisioner_api_latency_seconds",
          "Latency of the provisioner's Kubernetes API calls (watches excluded).")) {
    options_.max_limit = std::max<std::size_t>(1, options_.max_limit);
    options_.min_limit = std::clamp<std::size_t>(options_.min_limit, 1, options_.max_limit);
    options_.window = std::max(options_.window, std::chrono::milliseconds(1));
    options_.decrease_factor = std::clamp(options_.decrease_factor, 0.0, 1.0);
    limit_ = options_.max_limit;
    window_start_ = now_();
    std::lock_guard lock(mutex_);
    Publish();
}

void AdmissionLimit::Publish() {
    limit_gauge_.Set(static_cast<double>(limit_));
    waiting_gauge_.Set(static_cast<double>(queue_.size()));
}

void AdmissionLimit::Advance(Clock::time_point now) {
    const auto window_end = window_start_ + options_.window;
    if (now < window_end) return;
    const std::size_t before = limit_;
    bool overloaded = window_failed_;
    double p90 = 0.0;
    if (!samples_.empty()) {
        // Nearest rank: the smallest sample with at least 90 % of the window at or below it.
        const auto rank =
            static_cast<std::size_t>(std::ceil(0.9 * static_cast<double>(samples_.size())));
        auto at =
            samples_.begin() + static_cast<std::ptrdiff_t>(std::max<std::size_t>(rank, 1) - 1);
        std::nth_element(samples_.begin(), at, samples_.end());
        p90 = *at;
        overloaded =
            overloaded || p90 > std::chrono::duration<double>(options_.latency_target).count();
    }
    // Windows after the one just closed that saw no call at all: healthy, one step each.
    const auto empty_windows = static_cast<std::size_t>((now - window_end) / options_.window);
    if (options_.enabled) {
        if (overloaded) {
            const auto cut = static_cast<std::size_t>(
                std::floor(static_cast<double>(limit_) * options_.decrease_factor));
            limit_ = std::max(options_.min_limit, cut);
            backoffs_.Inc();
            limit_ = std::min(options_.max_limit, limit_ + empty_windows);
        } else {
            limit_ = std::min(options_.max_limit, limit_ + 1 + empty_windows);
        }
    }
    if (overloaded && options_.enabled) {
        log::Info("admission limit cut", {{"limit", limit_},
                                          {"was", before},
                                          {"window_p90_ms", static_cast<int64_t>(p90 * 1000)},
                                          {"samples", samples_.size()},
                                          {"overload_answers", window_failed_}});
    }
    samples_.clear();
    window_failed_ = false;
    window_start_ = window_end + options_.window * static_cast<int64_t>(empty_windows);
    if (limit_ != before) {
        Publish();
        if (limit_ > before) changed_.notify_all();
    }
}

AdmissionLimit::Ticket AdmissionLimit::Enqueue() {
    std::lock_guard lock(mutex_);
    const Ticket ticket = next_ticket_++;
    queue_.push_back(ticket);
    Publish();
    return ticket;
}

bool AdmissionLimit::Wait(Ticket ticket, const CancelToken& cancel) {
    std::unique_lock lock(mutex_);
    for (;;) {
        Advance(now_());
        if (cancel.Cancelled()) {
            std::erase(queue_, ticket);
            Publish();
            changed_.notify_all();  // the one behind may be first now
            return false;
        }
        if (!queue_.empty() && queue_.front() == ticket &&
            (!options_.enabled || in_use_ < limit_)) {
            queue_.pop_front();
            ++in_use_;
            Publish();
            changed_.notify_all();  // the next one may fit too
            return true;
        }
        changed_.wait_for(lock, options_.cancel_poll);
    }
}

void AdmissionLimit::Release() {
    {
        std::lock_guard lock(mutex_);
        if (in_use_ > 0) --in_use_;
        Advance(now_());
    }
    changed_.notify_all();
}

void AdmissionLimit::Observe(std::chrono::duration<double> latency, long status) {
    latency_.Observe(latency.count());
    std::lock_guard lock(mutex_);
    Advance(now_());
    samples_.push_back(latency.count());
    if (IsOverloadSignal(status)) window_failed_ = true;
}

std::size_t AdmissionLimit::Limit() {
    std::lock_guard lock(mutex_);
    Advance(now_());
    return limit_;
}

std::size_t AdmissionLimit::InUse() {
    std::lock_guard lock(mutex_);
    return in_use_;
}

std::size_t AdmissionLimit::Waiting() {
    std::lock_guard lock(mutex_);
    return queue_.size();
}

void AdmissionPermit::Release() {
    if (admission_ == nullptr) return;
    admission_->Release();
    admission_ = nullptr;
}

}  // namespace storefleet::provisioner
