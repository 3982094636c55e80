#include "listing.hpp"

#include <gtest/gtest.h>

namespace storefleet::query {
namespace {

constexpr const char* kStoreA = "6f1c2b9e-3d4a-4b5c-8d7e-9f0a1b2c3d4e";

TEST(Base64UrlTest, RoundTripsEveryLengthAndUsesTheUrlAlphabet) {
    std::string bytes;
    for (int i = 0; i < 40; ++i) {
        EXPECT_EQ(Base64UrlDecode(Base64UrlEncode(bytes)), bytes) << i;
        bytes.push_back(static_cast<char>(i * 37 + 250));
    }
    EXPECT_EQ(Base64UrlEncode("\xfb\xff"), "-_8");
    EXPECT_EQ(Base64UrlEncode("foobar"), "Zm9vYmFy");
}

TEST(Base64UrlTest, RefusesWhatEncodeNeverMakes) {
    EXPECT_FALSE(Base64UrlDecode("Zm9v+mFy"));  // standard alphabet
    EXPECT_FALSE(Base64UrlDecode("Zm8="));      // padding
    EXPECT_FALSE(Base64UrlDecode("Zm9vY"));     // a dangling character
    EXPECT_FALSE(Base64UrlDecode("Zm9"));       // "fo" is "Zm8": stray low bits
}

TEST(CursorTest, RoundTrips) {
    Cursor cursor{1'700'000'000'123'456, kStoreA};
    const std::string text = EncodeCursor(cursor);
    EXPECT_EQ(
        text.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
        std::string::npos);
    EXPECT_EQ(DecodeCursor(text), cursor);
}

TEST(CursorTest, RefusesTamperedOrForeignText) {
    EXPECT_FALSE(DecodeCursor(""));
    EXPECT_FALSE(DecodeCursor("not a cursor"));
    EXPECT_FALSE(DecodeCursor(Base64UrlEncode("123")));
    EXPECT_FALSE(DecodeCursor(Base64UrlEncode(std::string("12:") + "not-a-uuid")));
    EXPECT_FALSE(DecodeCursor(Base64UrlEncode(std::string("-5:") + kStoreA)));
    EXPECT_FALSE(DecodeCursor(Base64UrlEncode(std::string("1e3:") + kStoreA)));
    EXPECT_FALSE(DecodeCursor(Base64UrlEncode(std::string("99999999999999999999:") + kStoreA)));
    EXPECT_FALSE(DecodeCursor(Base64UrlEncode(std::string("9000000000000000000:") + kStoreA)))
        << "past 2200: would overflow the SQL interval";
    EXPECT_FALSE(DecodeCursor(Base64UrlEncode(std::string(":") + kStoreA)));
    EXPECT_FALSE(DecodeCursor(std::string(200, 'A')));
}

TEST(ParseListRequestTest, DefaultsToTheFirstFiftyOfAnyStatus) {
    auto request = ParseListRequest(std::nullopt, std::nullopt, std::nullopt);
    ASSERT_TRUE(request.ok());
    EXPECT_EQ(request->limit, 50);
    EXPECT_FALSE(request->after);
    EXPECT_EQ(request->status, "");
}

TEST(ParseListRequestTest, TakesValidParameters) {
    const std::string cursor = EncodeCursor({42, kStoreA});
    auto request = ParseListRequest("200", cursor, "ready");
    ASSERT_TRUE(request.ok()) << request.error().message;
    EXPECT_EQ(request->limit, 200);
    ASSERT_TRUE(request->after);
    EXPECT_EQ(request->after->created_at_us, 42);
    EXPECT_EQ(request->status, "ready");
    EXPECT_EQ(ParseListRequest("1", std::nullopt, "deleted")->limit, 1);
    for (const char* status : {"suspended", "degraded"}) {
        auto lifecycle = ParseListRequest(std::nullopt, std::nullopt, status);
        ASSERT_TRUE(lifecycle.ok()) << status;
        EXPECT_EQ(lifecycle->status, status);
    }
}

TEST(ParseListRequestTest, RefusesBadParametersWithAClearMessage) {
    for (const char* limit : {"0", "201", "-1", "ten", "", "5x", "1.5", "99999999999999"}) {
        auto request = ParseListRequest(limit, std::nullopt, std::nullopt);
        ASSERT_FALSE(request.ok()) << limit;
        EXPECT_EQ(request.error().code, "invalid_request");
        EXPECT_NE(request.error().message.find("limit must be a whole number from 1 to 200"),
                  std::string::npos);
    }
    auto cursor = ParseListRequest(std::nullopt, "garbage!", std::nullopt);
    ASSERT_FALSE(cursor.ok());
    EXPECT_NE(cursor.error().message.find("cursor"), std::string::npos);
    auto status = ParseListRequest(std::nullopt, std::nullopt, "READY");
    ASSERT_FALSE(status.ok());
    EXPECT_NE(status.error().message.find("status must be one of"), std::string::npos);
    EXPECT_FALSE(ParseListRequest(std::nullopt, std::nullopt, "").ok());
}

std::vector<StoreView> Stores(int count) {
    std::vector<StoreView> stores;
    for (int i = 0; i < count; ++i) {
        StoreView store;
        store.id = "00000000-0000-4000-8000-00000000000" + std::to_string(i);
        store.created_at_us = 1000 - i;
        stores.push_back(store);
    }
    return stores;
}

TEST(MakePageTest, TheExtraRowOnlySaysThereIsMore) {
    Page full = MakePage(Stores(4), 3);
    ASSERT_EQ(full.items.size(), 3U);
    ASSERT_TRUE(full.next_cursor);
    auto cursor = DecodeCursor(*full.next_cursor);
    ASSERT_TRUE(cursor);
    EXPECT_EQ(cursor->store_id, full.items.back().id);
    EXPECT_EQ(cursor->created_at_us, full.items.back().created_at_us);

    Page last = MakePage(Stores(3), 3);
    EXPECT_EQ(last.items.size(), 3U);
    EXPECT_FALSE(last.next_cursor);
    EXPECT_FALSE(MakePage({}, 3).next_cursor);
}

}  // namespace
}  // namespace storefleet::query
