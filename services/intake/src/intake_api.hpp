#pragma once

#include <exception>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "intake_store.hpp"
#include "storefleet/http/auth.hpp"
#include "storefleet/http/rate_limiter.hpp"
#include "storefleet/http/server.hpp"
#include "storefleet/metrics/registry.hpp"

namespace storefleet::intake {

// The write API: POST /api/v1/stores, PATCH and DELETE /api/v1/stores/{id} and POST
// /api/v1/stores/{id}/retry. Rate-limits per
// client address (before any token lookup), authenticates the bearer token to a tenant,
// rate-limits per tenant, validates, and hands the command to IntakeStore; `on_accepted`
// wakes the outbox relay. Every refusal is an application/problem+json.
class IntakeApi {
public:
    IntakeApi(IntakeStore& store, http::Authenticator& authenticator,
              http::RateLimiter& client_limiter, http::RateLimiter& tenant_limiter,
              metrics::Registry& registry, std::function<void()> on_accepted);
    void Register(http::HttpServer& server);
    // The engines a store may ask `placement: real-node` for (none unless the platform has
    // a real node); set before Register().
    void SetRealNodeEngines(std::vector<std::string> engines) {
        real_node_engines_ = std::move(engines);
    }

private:
    void CreateStore(const Pistache::Rest::Request& request,
                     Pistache::Http::ResponseWriter& response);
    void DeleteStore(const Pistache::Rest::Request& request,
                     Pistache::Http::ResponseWriter& response);
    void ChangeStore(const Pistache::Rest::Request& request,
                     Pistache::Http::ResponseWriter& response);
    void RetryStore(const Pistache::Rest::Request& request,
                    Pistache::Http::ResponseWriter& response);
    // Backups (decision 14; intake_backups.cpp): POST and GET .../backups, POST .../restore.
    void BackupStore(const Pistache::Rest::Request& request,
                     Pistache::Http::ResponseWriter& response);
    void ListBackups(const Pistache::Rest::Request& request,
                     Pistache::Http::ResponseWriter& response);
    void RestoreStore(const Pistache::Rest::Request& request,
                      Pistache::Http::ResponseWriter& response);
    void AnswerData(Pistache::Http::ResponseWriter& response, const Tenant& tenant,
                    const std::string& store_id, const std::string& correlation_id,
                    const DataRequestOutcome& outcome, const char* what);
    // A change's or a retry's answer: ChangeAccepted with the desired state's ETag, or the
    // refusal as a problem (a 412's names the current generation).
    void AnswerChange(Pistache::Http::ResponseWriter& response, const Tenant& tenant,
                      const std::string& store_id, const std::string& correlation_id,
                      const ChangeOutcome& outcome, const char* what);
    // 202 with Location, or the create's refusal as a problem.
    void AnswerCreate(Pistache::Http::ResponseWriter& response, const std::string& tenant_id,
                      const std::string& correlation_id, const Result<Accepted>& accepted);
    // A create's batch failed: 503 with Retry-After when Postgres could not be used, else 500.
    void AnswerFailure(Pistache::Http::ResponseWriter& response, std::exception_ptr error);
    // Authenticates and rate-limits; on failure it has already answered.
    std::optional<Tenant> Admit(const Pistache::Rest::Request& request,
                                Pistache::Http::ResponseWriter& response);

    IntakeStore& store_;
    http::Authenticator& authenticator_;
    http::RateLimiter& client_limiter_;
    http::RateLimiter& tenant_limiter_;
    metrics::Counter& accepted_;
    metrics::Counter& rejected_;
    metrics::Counter& unavailable_;
    std::function<void()> on_accepted_;
    std::vector<std::string> real_node_engines_;
};

// How a failure to use Postgres is answered. A database that cannot be reached (or not
// now: shutting down, starting up, out of connections, every pooled connection busy)
// means 503 with Retry-After, never 500: the client may simply retry. `maybe_applied`:
// the connection broke while committing, so the request may have taken effect; a retry is
// still safe (DELETE repeats harmlessly, a create with the same Idempotency-Key gets the
// first answer). nullopt: not an outage but a bug, left to the server's 500.
struct DatabaseUnavailable {
    int retry_after_seconds = 2;
    bool maybe_applied = false;
    std::string message;
};
std::optional<DatabaseUnavailable> ClassifyDatabaseFailure(const std::exception& error);

// Answers 503 with Retry-After when `error` is a database outage (ClassifyDatabaseFailure)
// and returns true; false for anything else, which the caller rethrows (`throw;`).
bool AnswerIfDatabaseUnavailable(Pistache::Http::ResponseWriter& response,
                                 const std::exception& error);

// The correlation id of a request: X-Correlation-Id if the caller sent a sane one.
std::string CorrelationIdOf(const Pistache::Rest::Request& request);

}  // namespace storefleet::intake
