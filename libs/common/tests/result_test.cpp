#include "storefleet/common/result.hpp"

#include <gtest/gtest.h>

namespace storefleet {
namespace {

Result<int> Half(int value) {
    if (value % 2 != 0) return Error::Permanent("odd", "value must be even");
    return value / 2;
}

TEST(ResultTest, CarriesValueOrError) {
    auto good = Half(4);
    ASSERT_TRUE(good.ok());
    EXPECT_EQ(*good, 2);
    auto bad = Half(3);
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.error().code, "odd");
    EXPECT_FALSE(bad.error().retryable());
    EXPECT_THROW((void)bad.value(), std::logic_error);
}

TEST(ResultTest, StatusDefaultsToOk) {
    Status status;
    EXPECT_TRUE(status.ok());
    Status failed = Error::Retryable("timeout", "the API server did not answer");
    EXPECT_FALSE(failed.ok());
    EXPECT_TRUE(failed.error().retryable());
}

}  // namespace
}  // namespace storefleet
