#pragma once

#include <functional>

#include "intake_store.hpp"
#include "rate_limiter.hpp"
#include "storefleet/common/tenant_cache.hpp"
#include "storefleet/http/server.hpp"
#include "storefleet/metrics/registry.hpp"

namespace storefleet::intake {

// The write API: POST /api/v1/stores and DELETE /api/v1/stores/{id}. Authenticates the
// bearer token to a tenant, rate-limits per tenant, validates, and hands the command to
// IntakeStore; `on_accepted` wakes the outbox relay.
class IntakeApi {
public:
    IntakeApi(IntakeStore& store, RateLimiter& limiter, TenantCache& tenants, metrics::Registry& registry,
              std::function<void()> on_accepted);
    void Register(http::HttpServer& server);

private:
    void CreateStore(const Pistache::Rest::Request& request, Pistache::Http::ResponseWriter& response);
    void DeleteStore(const Pistache::Rest::Request& request, Pistache::Http::ResponseWriter& response);
    // Authenticates and rate-limits; on failure it has already answered.
    std::optional<Tenant> Admit(const Pistache::Rest::Request& request,
                                Pistache::Http::ResponseWriter& response);

    IntakeStore& store_;
    RateLimiter& limiter_;
    TenantCache& tenants_;
    metrics::Counter& accepted_;
    metrics::Counter& rejected_;
    std::function<void()> on_accepted_;
};

// The correlation id of a request: X-Correlation-Id if the caller sent a sane one.
std::string CorrelationIdOf(const Pistache::Rest::Request& request);

}  // namespace storefleet::intake
