#include "storefleet/kafka/offset_tracker.hpp"

#include <gtest/gtest.h>

namespace storefleet::kafka {
namespace {

TEST(OffsetTrackerTest, NothingStartedNothingToCommit) {
    OffsetTracker tracker;
    EXPECT_FALSE(tracker.Committable().has_value());
}

TEST(OffsetTrackerTest, CommitsOnlyUpToTheOldestUnfinished) {
    OffsetTracker tracker;
    tracker.Started(10);
    tracker.Started(11);
    tracker.Started(12);
    EXPECT_EQ(tracker.Committable(), 10);
    EXPECT_FALSE(tracker.Finished(12).has_value()) << "10 is still running";
    EXPECT_FALSE(tracker.Finished(11).has_value());
    EXPECT_EQ(tracker.Finished(10), 13) << "all done: commit past the last";
    EXPECT_EQ(tracker.InFlight(), 0U);
}

TEST(OffsetTrackerTest, AdvancesStepByStep) {
    OffsetTracker tracker;
    tracker.Started(0);
    tracker.Started(5);
    EXPECT_EQ(tracker.Finished(0), 5);
    tracker.Started(6);
    EXPECT_EQ(tracker.Finished(5), 6);
    EXPECT_EQ(tracker.Finished(6), 7);
}

TEST(OffsetTrackerTest, MisuseIsABug) {
    OffsetTracker tracker;
    tracker.Started(3);
    EXPECT_THROW(tracker.Started(2), std::logic_error);
    EXPECT_THROW((void)tracker.Finished(9), std::logic_error);
}

}  // namespace
}  // namespace storefleet::kafka
