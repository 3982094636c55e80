#include "storefleet/common/backoff.hpp"

#include <gtest/gtest.h>

#include <random>

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

TEST(BackoffTest, JitterAddsAtMostHalfAndStillDoubles) {
    std::mt19937 random(7);
    Backoff backoff(milliseconds(100), milliseconds(5000));
    for (int round = 0; round < 5; ++round) {
        const milliseconds base = backoff.Peek();
        const milliseconds wait = backoff.NextWithJitter(random);
        EXPECT_GE(wait, base);
        EXPECT_LE(wait, base + base / 2);
        EXPECT_EQ(backoff.Peek(), std::min(base * 2, milliseconds(5000)));
    }
}

TEST(BackoffTest, AMaxBelowFirstNeverWaitsLessThanFirst) {
    Backoff backoff(milliseconds(300), milliseconds(100));
    EXPECT_EQ(backoff.Next(), milliseconds(300));
    EXPECT_EQ(backoff.Next(), milliseconds(300));
}

}  // namespace
}  // namespace storefleet
