// The list cache's rule (a page serves only while nothing of its tenant changed since its
// read began, and only while the change feed is followed) and the list body's bytes.
#include "list_cache.hpp"

#include <gtest/gtest.h>

#include "views.hpp"

namespace storefleet::query {
namespace {

using Clock = ListCache::Clock;

std::shared_ptr<const std::string> Body(const std::string& text) {
    return std::make_shared<const std::string>(text);
}

TEST(ListCacheTest, ServesAPageUntilItsTenantChanges) {
    ListCache cache;
    const auto now = Clock::now();
    cache.SetLive(true);
    auto generation = cache.Generation();
    cache.Put("a|50", "a", generation, Body("page-a"), now);
    cache.Put("b|50", "b", cache.Generation(), Body("page-b"), now);
    ASSERT_NE(cache.Get("a|50", "a", now), nullptr);
    EXPECT_EQ(*cache.Get("a|50", "a", now), "page-a");

    cache.Changed("a");
    EXPECT_EQ(cache.Get("a|50", "a", now), nullptr) << "tenant a changed";
    ASSERT_NE(cache.Get("b|50", "b", now), nullptr) << "another tenant's change leaves b's page";
    EXPECT_EQ(cache.Get("b|50", "a", now), nullptr) << "a page is only its own tenant's";
}

TEST(ListCacheTest, APageReadWhileItsTenantChangedIsNotKept) {
    ListCache cache;
    const auto now = Clock::now();
    cache.SetLive(true);
    const auto generation = cache.Generation();  // the read begins
    cache.Changed("a");  // a change commits meanwhile; the read may have missed it
    cache.Put("a|50", "a", generation, Body("maybe-stale"), now);
    EXPECT_EQ(cache.Get("a|50", "a", now), nullptr);
    cache.Put("a|50", "a", cache.Generation(), Body("fresh"), now);
    EXPECT_EQ(*cache.Get("a|50", "a", now), "fresh");
}

TEST(ListCacheTest, NothingIsServedWithoutTheFeedAndPagesExpire) {
    ListCache cache({std::chrono::milliseconds(1000), 1 << 20, 100});
    const auto now = Clock::now();
    cache.Put("a|50", "a", cache.Generation(), Body("x"), now);
    EXPECT_EQ(cache.Get("a|50", "a", now), nullptr) << "not live yet";
    cache.SetLive(true);
    cache.Put("a|50", "a", cache.Generation(), Body("x"), now);
    EXPECT_NE(cache.Get("a|50", "a", now), nullptr);
    EXPECT_EQ(cache.Get("a|50", "a", now + std::chrono::milliseconds(1000)), nullptr) << "expired";

    cache.Put("a|50", "a", cache.Generation(), Body("x"), now);
    const auto before_loss = cache.Generation();
    cache.SetLive(false);
    EXPECT_EQ(cache.Get("a|50", "a", now), nullptr) << "the feed is lost: changes may go unseen";
    cache.SetLive(true);
    cache.Put("a|50", "a", before_loss, Body("x"), now);
    EXPECT_EQ(cache.Get("a|50", "a", now), nullptr)
        << "a read begun before the feed came back is not kept";
}

TEST(ListCacheTest, StaysWithinItsBytes) {
    ListCache cache({std::chrono::milliseconds(1000), 100, 100});
    const auto now = Clock::now();
    cache.SetLive(true);
    for (int i = 0; i < 50; ++i)
        cache.Put("k" + std::to_string(i), "a", cache.Generation(), Body(std::string(30, 'x')),
                  now);
    EXPECT_LE(cache.Entries(), 3U);
}

TEST(ListBodyTest, IsTheBytesOfTheJsonObject) {
    StoreView plain;
    plain.id = "11111111-1111-4111-8111-111111111111";
    plain.name = "shop";
    plain.status = "ready";
    plain.simulated = true;
    plain.reason = "a \"quoted\" reason\n";
    StoreView ready = plain;
    ready.ready_json = ToJson(plain).dump();
    for (const auto& cursor :
         {std::optional<std::string>(), std::optional<std::string>("MTIzOmFi")}) {
        nlohmann::json expected = {
            {"items", {ToJson(plain), ToJson(plain)}},
            {"next_cursor", cursor ? nlohmann::json(*cursor) : nlohmann::json(nullptr)}};
        EXPECT_EQ(ListBody({plain, ready}, cursor), expected.dump() + "\n");
    }
    EXPECT_EQ(ListBody({}, std::nullopt), "{\"items\":[],\"next_cursor\":null}\n");
}

}  // namespace
}  // namespace storefleet::query
