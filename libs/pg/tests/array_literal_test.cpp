#include "storefleet/pg/array_literal.hpp"

#include <gtest/gtest.h>

namespace storefleet::pg {
namespace {

TEST(ArrayLiteralTest, QuotesEveryElementAndEscapesQuotesAndBackslashes) {
    EXPECT_EQ(ArrayLiteral({}), "{}");
    EXPECT_EQ(ArrayLiteral({"a"}), "{\"a\"}");
    EXPECT_EQ(ArrayLiteral({"a b", "", "x,y", "NULL"}), "{\"a b\",\"\",\"x,y\",\"NULL\"}");
    EXPECT_EQ(ArrayLiteral({"say \"hi\"", "back\\slash", "{}"}),
              "{\"say \\\"hi\\\"\",\"back\\\\slash\",\"{}\"}");
}

}  // namespace
}  // namespace storefleet::pg
