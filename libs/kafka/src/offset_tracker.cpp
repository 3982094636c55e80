#include "storefleet/kafka/offset_tracker.hpp"

#include <stdexcept>
#include <string>

namespace storefleet::kafka {

void OffsetTracker::Started(int64_t offset) {
    if (last_started_ && offset <= *last_started_) {
        throw std::logic_error("offset " + std::to_string(offset) + " started out of order");
    }
    last_started_ = offset;
    in_flight_.insert(offset);
    // Committing the first offset itself would say nothing new.
    if (!last_committable_) last_committable_ = offset;
}

std::optional<int64_t> OffsetTracker::Finished(int64_t offset) {
    if (in_flight_.erase(offset) == 0) {
        throw std::logic_error("offset " + std::to_string(offset) + " finished but not in flight");
    }
    auto now = Committable();
    if (now && (!last_committable_ || *now > *last_committable_)) {
        last_committable_ = now;
        return now;
    }
    return std::nullopt;
}

std::optional<int64_t> OffsetTracker::Committable() const {
    if (!last_started_) return std::nullopt;
    if (in_flight_.empty()) return *last_started_ + 1;
    return *in_flight_.begin();
}

}  // namespace storefleet::kafka
