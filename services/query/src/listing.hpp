#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storefleet/common/result.hpp"
#include "views.hpp"

// GET /api/v1/stores: its parameters, its cursor and how a page is cut. Pure functions.
namespace storefleet::query {

inline constexpr int kDefaultLimit = 50;
inline constexpr int kMaxLimit = 200;

// Keyset position: the listing is ordered by (created_at desc, store_id desc), and a
// page continues strictly after the last store of the previous one. Stable under
// inserts, unlike an offset.
struct Cursor {
    int64_t created_at_us = 0;
    std::string store_id;

    bool operator==(const Cursor&) const = default;
};

// Opaque to clients: base64url (no padding) of "<created_at micros>:<store_id>".
std::string EncodeCursor(const Cursor& cursor);
std::optional<Cursor> DecodeCursor(std::string_view text);

struct ListRequest {
    int limit = kDefaultLimit;
    std::optional<Cursor> after;
    std::string status;       // empty: any
    std::string engine;       // empty: any
    std::string name_prefix;  // empty: any; else names starting with it (a-z, 0-9, '-')
};

// Validates the query parameters; the error message says what is wrong and what is allowed.
Result<ListRequest> ParseListRequest(const std::optional<std::string>& limit,
                                     const std::optional<std::string>& cursor,
                                     const std::optional<std::string>& status,
                                     const std::optional<std::string>& engine = std::nullopt,
                                     const std::optional<std::string>& name_prefix = std::nullopt);

struct Page {
    std::vector<StoreView> items;
    std::optional<std::string> next_cursor;
};

// `rows` were fetched with limit + 1: the extra one only tells that there is a next page.
Page MakePage(std::vector<StoreView> rows, int limit);

std::string Base64UrlEncode(std::string_view bytes);
std::optional<std::string> Base64UrlDecode(std::string_view text);

}  // namespace storefleet::query
