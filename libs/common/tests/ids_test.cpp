#include "storefleet/common/ids.hpp"

#include <gtest/gtest.h>

#include <set>

namespace storefleet {
namespace {

TEST(IdsTest, NewUuidIsVersion4AndUnique) {
    std::set<std::string> seen;
    for (int i = 0; i < 1000; ++i) {
        std::string id = NewUuid();
        ASSERT_TRUE(IsUuid(id)) << id;
        EXPECT_EQ(id[14], '4');
        EXPECT_TRUE(seen.insert(id).second);
    }
}

TEST(IdsTest, IsUuidRejectsMalformedIds) {
    EXPECT_FALSE(IsUuid(""));
    EXPECT_FALSE(IsUuid("not-a-uuid"));
    EXPECT_FALSE(IsUuid("123e4567-e89b-12d3-a456-42661417400G"));
    EXPECT_FALSE(IsUuid("123E4567-E89B-12D3-A456-426614174000"));
    EXPECT_TRUE(IsUuid("123e4567-e89b-12d3-a456-426614174000"));
}

TEST(IdsTest, Sha256MatchesKnownVector) {
    EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(IdsTest, RandomHexHasRequestedLength) {
    EXPECT_EQ(RandomHex(16).size(), 32U);
    EXPECT_NE(RandomHex(16), RandomHex(16));
}

}  // namespace
}  // namespace storefleet
