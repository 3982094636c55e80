// failure_recap_check: FailureRecap (failure_recap.hpp) on a run that fails on purpose. Its one
// test fails two assertions; main prints the recap after RUN_ALL_TESTS. ctest passes it only
// when the output ends with both failures' texts under the test's name (a hang, the listener
// deadlocking on the first failure as it once did, is the test's timeout).
#include <gtest/gtest.h>

#include "failure_recap.hpp"

namespace {

TEST(FailureRecapCheck, FailsTwiceOnPurpose) {
    EXPECT_EQ(1, 2) << "first deliberate failure";
    ADD_FAILURE() << "second deliberate failure";
}

}  // namespace

int main(int argc, char** argv) {
    ::testing::InitGoogleTest(&argc, argv);
    auto* recap = new storefleet::test_support::FailureRecap;  // owned by gtest's listener list
    ::testing::UnitTest::GetInstance()->listeners().Append(recap);
    const int result = RUN_ALL_TESTS();
    recap->Print();
    return result;
}
