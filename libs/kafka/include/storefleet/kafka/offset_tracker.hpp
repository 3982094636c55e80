#pragma once

#include <cstdint>
#include <optional>
#include <set>

namespace storefleet::kafka {

// For one partition whose messages are processed concurrently and finish in any order:
// which offset may be committed. Kafka's committed offset means "everything before this
// is done", so it is the oldest offset still in flight, or one past the last seen when
// nothing is. Not thread-safe; the owner serializes calls.
class OffsetTracker {
public:
    // A message was received (offsets arrive in increasing order).
    void Started(int64_t offset);
    // It is done. Returns the new committable offset if it moved forward.
    std::optional<int64_t> Finished(int64_t offset);
    // The offset to commit now, or nullopt if nothing was ever started.
    [[nodiscard]] std::optional<int64_t> Committable() const;
    [[nodiscard]] std::size_t InFlight() const { return in_flight_.size(); }
    // True if `offset` was already started here (a redelivery after a rebalance).
    [[nodiscard]] bool Seen(int64_t offset) const {
        return last_started_ && offset <= *last_started_;
    }

private:
    std::set<int64_t> in_flight_;
    std::optional<int64_t> last_started_;
    std::optional<int64_t> last_committable_;
};

}  // namespace storefleet::kafka
