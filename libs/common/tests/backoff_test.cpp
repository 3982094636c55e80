#include "storefleet/common/backoff.hpp"

#include <gtest/gtest.h>

namespace storefleet {
namespace {

using std::chrono::milliseconds;

TEST(BackoffTest, DoublesFromFirstUpToMax) {
    Backoff backoff(milliseconds(100), milliseconds(500));
    EXPECT_EQ(backoff.Next(), milliseconds(100));
    EXPECT_EQ(backoff.Next(), milliseconds(200));
    EXPECT_EQ(backoff.Next(), milliseconds(400));
    EXPECT_EQ(backoff.Next(), milliseconds(500));
    EXPECT_EQ(backoff.Next(), milliseconds(500));
}

TEST(BackoffTest, ResetStartsAgainFromFirst) {
    Backoff backoff(milliseconds(100), milliseconds(5000));
    backoff.Next();
    backoff.Next();
    EXPECT_EQ(backoff.Peek(), milliseconds(400));
    backoff.Reset();
    EXPECT_EQ(backoff.Next(), milliseconds(100));
}

TEST(BackoffTest, AMaxBelowFirstNeverWaitsLessThanFirst) {
    Backoff backoff(milliseconds(300), milliseconds(100));
    EXPECT_EQ(backoff.Next(), milliseconds(300));
    EXPECT_EQ(backoff.Next(), milliseconds(300));
}

}  // namespace
}  // namespace storefleet
