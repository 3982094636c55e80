#include "listing.hpp"

#include <array>
#include <charconv>

#include "storefleet/common/ids.hpp"
#include "storefleet/events/status.hpp"

namespace storefleet::query {
namespace {

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// No store is created after 2200-01-01 (the projector refuses such times); a cursor past it
// was tampered with, and would overflow the SQL's interval arithmetic.
constexpr int64_t kMaxCursorMicros = 7'258'118'400'000'000;

Error Invalid(const std::string& field, const std::string& message) {
    return Error::Invalid(field, message);
}

}  // namespace

std::string Base64UrlEncode(std::string_view bytes) {
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    uint32_t buffer = 0;
    int bits = 0;
    for (unsigned char byte : bytes) {
        buffer = (buffer << 8) | byte;
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out.push_back(kAlphabet[(buffer >> bits) & 0x3f]);
        }
    }
    if (bits > 0) out.push_back(kAlphabet[(buffer << (6 - bits)) & 0x3f]);
    return out;
}

std::optional<std::string> Base64UrlDecode(std::string_view text) {
    if (text.size() % 4 == 1) return std::nullopt;  // no whole byte ends there
    std::string out;
    out.reserve(text.size() * 3 / 4);
    uint32_t buffer = 0;
    int bits = 0;
    for (char c : text) {
        const auto index = kAlphabet.find(c);
        if (index == std::string_view::npos) return std::nullopt;
        buffer = (buffer << 6) | static_cast<uint32_t>(index);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>((buffer >> bits) & 0xff));
        }
    }
    if ((buffer & ((1U << bits) - 1)) != 0) return std::nullopt;  // not what Encode makes
    return out;
}

std::string EncodeCursor(const Cursor& cursor) {
    return Base64UrlEncode(std::to_string(cursor.created_at_us) + ":" + cursor.store_id);
}

std::optional<Cursor> DecodeCursor(std::string_view text) {
    if (text.empty() || text.size() > 128) return std::nullopt;
    auto decoded = Base64UrlDecode(text);
    if (!decoded) return std::nullopt;
    const auto colon = decoded->find(':');
    if (colon == std::string::npos || colon == 0) return std::nullopt;
    Cursor cursor;
    const char* begin = decoded->data();
    const char* end = begin + colon;
    auto [parsed_to, error] = std::from_chars(begin, end, cursor.created_at_us);
    if (error != std::errc() || parsed_to != end || cursor.created_at_us < 0 ||
        cursor.created_at_us > kMaxCursorMicros) {
        return std::nullopt;
    }
    cursor.store_id = decoded->substr(colon + 1);
    if (!IsUuid(cursor.store_id)) return std::nullopt;
    return cursor;
}

Result<ListRequest> ParseListRequest(const std::optional<std::string>& limit,
                                     const std::optional<std::string>& cursor,
                                     const std::optional<std::string>& status,
                                     const std::optional<std::string>& engine,
                                     const std::optional<std::string>& name_prefix) {
    ListRequest request;
    if (limit) {
        const char* begin = limit->data();
        const char* end = begin + limit->size();
        auto [parsed_to, error] = std::from_chars(begin, end, request.limit);
        if (limit->empty() || error != std::errc() || parsed_to != end || request.limit < 1 ||
            request.limit > kMaxLimit) {
            return Invalid("limit", "limit must be a whole number from 1 to " +
                                        std::to_string(kMaxLimit) + ", got '" +
                                        limit->substr(0, 20) + "'");
        }
    }
    if (cursor) {
        request.after = DecodeCursor(*cursor);
        if (!request.after) {
            return Invalid("cursor",
                           "cursor is not valid; pass the next_cursor of a previous page as it is");
        }
    }
    if (status) {
        if (!events::IsStatusName(*status)) {
            return Invalid("status", "status must be one of " + events::StatusNameList() +
                                         "; got '" + status->substr(0, 40) + "'");
        }
        request.status = *status;
    }
    if (engine) {
        if (!events::IsEngineName(*engine)) {
            return Invalid("engine", "engine must be woocommerce or medusa; got '" +
                                         engine->substr(0, 40) + "'");
        }
        request.engine = *engine;
    }
    if (name_prefix) {
        // Store names are DNS labels, so a prefix of anything else can match nothing; and
        // with only these characters it needs no escaping in a LIKE pattern.
        bool valid = !name_prefix->empty() && name_prefix->size() <= 40;
        for (char c : *name_prefix)
            valid = valid && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-');
        if (!valid) {
            return Invalid("name_prefix",
                           "name_prefix must be 1-40 characters of a-z, 0-9 and '-'");
        }
        request.name_prefix = *name_prefix;
    }
    return request;
}

Page MakePage(std::vector<StoreView> rows, int limit) {
    Page page;
    const auto wanted = static_cast<std::size_t>(limit);
    if (rows.size() > wanted) {
        rows.resize(wanted);
        page.next_cursor = EncodeCursor({rows.back().created_at_us, rows.back().id});
    }
    page.items = std::move(rows);
    return page;
}

}  // namespace storefleet::query
