#pragma once

#include <optional>
#include <string>

#include "admin_store.hpp"
#include "rollouts.hpp"
#include "storefleet/http/auth.hpp"
#include "storefleet/http/rate_limiter.hpp"
#include "storefleet/http/server.hpp"

namespace storefleet::intake {

// The platform admin's API, behind an admin token (role "admin"; any other token gets 403):
//   GET    /api/v1/admin/tenants                     every tenant with quota, rate, live stores
//   POST   /api/v1/admin/tenants                     {"id","store_quota"?,"rate_per_second"?}
//   PATCH  /api/v1/admin/tenants/{id}                {"store_quota"?,"rate_per_second"?}
//   GET    /api/v1/admin/tenants/{id}/tokens         the tenant's tokens (never their secrets)
//   POST   /api/v1/admin/tenants/{id}/tokens         {"name","role"?,"expires_in_seconds"?}: the
//   token, once POST   /api/v1/admin/tokens/{id}/rotate          revokes it; its replacement, once
//   DELETE /api/v1/admin/tokens/{id}                 revokes it (within a second everywhere)
//   GET    /api/v1/admin/tenants/{id}/stores         any tenant's stores
//   GET    /api/v1/admin/stores?limit=               every tenant's stores, newest first
//   GET    /api/v1/admin/audit?tenant=&limit=        the audit trail, newest first
//   GET    /api/v1/admin/rollouts?limit=             fleet rollouts, newest first (decision 13)
//   POST   /api/v1/admin/rollouts                    {"engine","target_version","selector"?,
//                                                     "strategy"?,"on_halt"?}: 201, 409 when one
//                                                     of the engine is not over
//   GET    /api/v1/admin/rollouts/{id}               its waves, counts and failures
//   POST   /api/v1/admin/rollouts/{id}/pause|resume|abort
// Each change is written to the audit trail with the actor "token:<admin token id>". The
// front door routes /api/v1/admin/ here for every method.
class AdminApi {
public:
    AdminApi(AdminStore& store, http::Authenticator& authenticator,
             http::RateLimiter& client_limiter);
    void Register(http::HttpServer& server);
    // Serves the rollout routes too (set before Register).
    void SetRollouts(Rollouts& rollouts) { rollouts_ = &rollouts; }

private:
    // The admin's principal; otherwise it has answered 429, 401 or 403.
    std::optional<http::Principal> Admit(const Pistache::Rest::Request& request,
                                         Pistache::Http::ResponseWriter& response);

    AdminStore& store_;
    http::Authenticator& authenticator_;
    http::RateLimiter& client_limiter_;
    Rollouts* rollouts_ = nullptr;
};

}  // namespace storefleet::intake
