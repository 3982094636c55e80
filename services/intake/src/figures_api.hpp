#pragma once

#include <optional>

#include "figures_source.hpp"
#include "storefleet/http/auth.hpp"
#include "storefleet/http/rate_limiter.hpp"
#include "storefleet/http/server.hpp"

namespace storefleet::intake {

// GET /api/v1/admin/figures?window=1h: the platform figures the admin view charts (stores
// by status, POST-to-Ready percentiles and throughput per bucket, consumer lag per
// partition), behind an admin token like the rest of /api/v1/admin/ (401 without a token,
// 403 for a tenant's). A bad window is a 400 naming the field; Postgres down is a 503;
// Kafka down leaves the lag "available": false and the rest answered.
class FiguresApi {
public:
    FiguresApi(FiguresService& figures, http::Authenticator& authenticator,
               http::RateLimiter& client_limiter);
    void Register(http::HttpServer& server);

private:
    FiguresService& figures_;
    http::Authenticator& authenticator_;
    http::RateLimiter& client_limiter_;
};

}  // namespace storefleet::intake
