#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "list_cache.hpp"
#include "store_batcher.hpp"
#include "store_reader.hpp"
#include "storefleet/http/auth.hpp"
#include "storefleet/http/rate_limiter.hpp"
#include "storefleet/http/server.hpp"
#include "storefleet/metrics/registry.hpp"

namespace storefleet::query {

// The read API, tenant-scoped:
//   GET /api/v1/me                              who the token acts for
//   GET /api/v1/stores?limit=&cursor=&status=&engine=&name_prefix=
//                                               newest first, keyset-paginated
//   GET /api/v1/stores/{id}                     one store (ETag, If-None-Match -> 304)
//   GET /api/v1/stores/{id}/events              its timeline, oldest first
// A per-address limiter runs first, then the bearer token is authenticated exactly as
// intake does (same 401s). Another tenant's store answers 404, never 403, so ids cannot be
// probed. Handlers run on the HTTP server's threads; the reader, the authenticator and the
// limiter are thread-safe.
class QueryApi {
public:
    QueryApi(StoreReader& reader, http::Authenticator& authenticator,
             http::RateLimiter& client_limiter, metrics::Registry& registry);
    void Register(http::HttpServer& server);
    // Said by GET /api/v1/me: the engines that may ask for placement real-node.
    void SetRealNodeEngines(std::vector<std::string> engines) {
        real_node_engines_ = std::move(engines);
    }
    // Serve list pages from `cache` while they are current (see ListCache); set before
    // Register(). Without one, every list reads Postgres.
    void SetListCache(ListCache* cache) { list_cache_ = cache; }
    // Read single stores through `batcher` (see StoreBatcher): the GET's HTTP thread returns
    // at once and the answer is sent when its batch has been read. Without one, each GET
    // reads on its own HTTP thread.
    void SetStoreBatcher(StoreBatcher* batcher) { store_batcher_ = batcher; }
    // A per-tenant limit on reads, after authentication (one tenant's polling must not starve
    // the others of the read model). Without one, only the per-address limit applies.
    void SetTenantLimiter(http::RateLimiter* limiter) { tenant_limiter_ = limiter; }

private:
    void ListStores(const Pistache::Rest::Request& request,
                    Pistache::Http::ResponseWriter& response);
    void GetStore(const Pistache::Rest::Request& request, Pistache::Http::ResponseWriter& response);
    // The answer to GET /stores/{id}: 200 with an ETag, 304, or 404.
    static void AnswerStore(Pistache::Http::ResponseWriter& response,
                            const std::optional<StoreView>& store, const std::string& store_id,
                            const std::string& if_none_match);
    // 503 with Retry-After: Postgres could not answer.
    void AnswerUnavailable(Pistache::Http::ResponseWriter& response, const std::string& what,
                           const std::string& path);
    void GetTimeline(const Pistache::Rest::Request& request,
                     Pistache::Http::ResponseWriter& response);
    void GetMe(const Pistache::Rest::Request& request, Pistache::Http::ResponseWriter& response);
    // The caller's tenant; on failure it has already answered 429 or 401.
    std::optional<std::string> Authenticate(const Pistache::Rest::Request& request,
                                            Pistache::Http::ResponseWriter& response,
                                            http::Principal* principal = nullptr);

    StoreReader& reader_;
    http::Authenticator& authenticator_;
    http::RateLimiter& client_limiter_;
    metrics::Counter& unauthorized_;
    metrics::Counter& unavailable_;
    std::vector<std::string> real_node_engines_;
    ListCache* list_cache_ = nullptr;
    StoreBatcher* store_batcher_ = nullptr;
    http::RateLimiter* tenant_limiter_ = nullptr;
    metrics::Counter& list_cache_hits_;
    metrics::Counter& list_cache_misses_;
};

}  // namespace storefleet::query
