// What the fault cases share besides the harness: the fixture that bounds their output, the
// suite's run tag, the hand-over of finished stores to the suite-end check (replay_check.hpp),
// and the per-store checks every case makes (timeline, Helm history, read-model rows).
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "harness.hpp"

namespace storefleet::faults {

// Store names carry it ("f1-<run>-7"), so the suite's read-model queries see only this run.
extern const std::string kRun;
constexpr int32_t kCommandPartitions = 12;

// The cases share one fixture only to bound their output: a fault that breaks every store
// would otherwise bury the log in per-store failures. STORE_FAILURE(kind) reports the
// first few failures of a kind in full and counts the rest; TearDown reports the count.
class Faults : public ::testing::Test {
public:
    static bool Admit(const std::string& kind) { return ++counts_[kind] <= kShownPerKind; }

protected:
    void SetUp() override { counts_.clear(); }
    void TearDown() override {
        for (const auto& [kind, count] : counts_) {
            if (count > kShownPerKind)
                ADD_FAILURE() << "... and " << count - kShownPerKind << " more: " << kind;
        }
    }

private:
    static constexpr int kShownPerKind = 5;
    static inline std::map<std::string, int> counts_;
};

// (the switch, as in gtest's own macros, keeps `if (x) STORE_FAILURE(k) << ...;` unambiguous)
#define STORE_FAILURE(kind)         \
    switch (0)                      \
    case 0:                         \
    default:                        \
        if (!Faults::Admit(kind)) { \
        } else                      \
            ADD_FAILURE()

// Polls `condition` every 100 ms until it holds or the deadline; true if it held.
inline bool PollUntil(const std::function<bool()>& condition, std::chrono::milliseconds deadline) {
    return test_support::WaitUntil(condition, deadline, std::chrono::milliseconds(100));
}

// Holds a fault for `duration` (the fault's length is the point, not a condition).
void HoldFault(std::chrono::seconds duration);

// Stores a case is done with: DELETE sent for each when the case's scope ends (even when an
// assertion returned early; the simulated nodes have room for a couple of hundred stores, and
// the suite creates more), and each handed over to the suite-end check, which requires them
// all to end "deleted" before it compares the read model with a fresh replay
// (ExpectHandedOverStoresDeleted in replay_check.hpp). Every case that creates stores holds one.
class DeleteAtEnd {
public:
    explicit DeleteAtEnd(const std::vector<std::string>& ids) : ids_(ids) {}
    ~DeleteAtEnd();
    DeleteAtEnd(const DeleteAtEnd&) = delete;
    DeleteAtEnd& operator=(const DeleteAtEnd&) = delete;

private:
    const std::vector<std::string>& ids_;
};

// What the cases handed over so far: the ids DeleteAtEnd sent DELETE for, and how many of
// those DELETEs were refused (not 202).
struct HandedOver {
    std::vector<std::string> ids;
    int refused = 0;
};
HandedOver HandedOverStores();

std::string Status(const json& store);

// Per-store checks shared by the cases: the timeline has no event twice (same id), and
// how often each status appears, in order.
struct TimelineCheck {
    int events = 0;
    int duplicates = 0;
    std::map<std::string, int> statuses;
    std::vector<std::string> order;  // statuses in timeline order
};
TimelineCheck CheckTimeline(const std::string& id);

// The Helm history of a store's release: revisions, and the ones nobody asked for.
struct HistoryCheck {
    int revisions = 0;
    std::vector<std::string> unwanted;  // "rev 3: uninstalled (...)"
    std::string last_status;
};
HistoryCheck CheckHistory(const std::string& id);

// Rows applied twice in the read model: two timeline rows of one of this run's stores with
// the same sequence.
int DoubleAppliedRows();

}  // namespace storefleet::faults
