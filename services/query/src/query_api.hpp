#pragma once

#include <optional>
#include <string>

#include "store_reader.hpp"
#include "storefleet/http/server.hpp"
#include "storefleet/metrics/registry.hpp"
#include "storefleet/common/tenant_cache.hpp"

namespace storefleet::query {

// The read API, tenant-scoped:
//   GET /api/v1/stores?limit=&cursor=&status=   newest first, keyset-paginated
//   GET /api/v1/stores/{id}                     one store
//   GET /api/v1/stores/{id}/events              its timeline, oldest first
// A bearer token authenticates the tenant exactly as intake does (same 401s). Another
// tenant's store answers 404, never 403, so ids cannot be probed. Handlers run on the
// HTTP server's threads; the reader and the cache are thread-safe.
class QueryApi {
  public:
    QueryApi(StoreReader& reader, TenantCache& tenants, metrics::Registry& registry);
    void Register(http::HttpServer& server);

  private:
    void ListStores(const Pistache::Rest::Request& request,
                    Pistache::Http::ResponseWriter& response);
    void GetStore(const Pistache::Rest::Request& request, Pistache::Http::ResponseWriter& response);
    void GetTimeline(const Pistache::Rest::Request& request,
                     Pistache::Http::ResponseWriter& response);
    // The caller's tenant; on failure it has already answered 401.
    std::optional<std::string> Authenticate(const Pistache::Rest::Request& request,
                                            Pistache::Http::ResponseWriter& response);

    StoreReader& reader_;
    TenantCache& tenants_;
    metrics::Counter& unauthorized_;
    metrics::Counter& unavailable_;
};

}  // namespace storefleet::query
