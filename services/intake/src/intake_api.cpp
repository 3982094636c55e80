#include "intake_api.hpp"

#include "storefleet/common/ids.hpp"
#include "storefleet/common/log.hpp"
#include "storefleet/http/auth.hpp"
#include "storefleet/http/json_response.hpp"
#include "storefleet/pg/errors.hpp"

namespace storefleet::intake {

using Pistache::Http::Code;
using Pistache::Http::ResponseWriter;
using Pistache::Rest::Request;

namespace {

constexpr int kDatabaseRetryAfterSeconds = 2;

Code CodeFor(const Error& error) {
    if (error.code == "invalid_request") return Code::Bad_Request;
    if (error.code == "not_found") return Code::Not_Found;
    if (error.code == "name_taken") return Code::Conflict;
    if (error.code == "quota_exceeded") return Code::Forbidden;
    if (error.code == "idempotency_key_reused") return Code::Unprocessable_Entity;
    if (error.code == "idempotency_conflict") return Code::Conflict;
    if (error.code == "store_deleting") return Code::Conflict;
    if (error.code == "nothing_to_retry") return Code::Conflict;
    if (error.code == "store_suspended") return Code::Conflict;
    if (error.code == "data_operation_running") return Code::Conflict;
    if (error.code == "backup_not_restorable") return Code::Conflict;
    if (error.code == "precondition_failed") return Code::Precondition_Failed;
    if (error.code == "unauthorized") return Code::Unauthorized;
    return error.retryable() ? Code::Service_Unavailable : Code::Bad_Request;
}

bool SaneHeaderValue(const std::string& value, std::size_t max) {
    if (value.empty() || value.size() > max) return false;
    for (char c : value) {
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
              c == ':')) {
            return false;
        }
    }
    return true;
}

}  // namespace

std::optional<DatabaseUnavailable> ClassifyDatabaseFailure(const std::exception& error) {
    DatabaseUnavailable unavailable;
    unavailable.retry_after_seconds = kDatabaseRetryAfterSeconds;
    if (dynamic_cast<const pqxx::in_doubt_error*>(&error) != nullptr) {
        unavailable.maybe_applied = true;
        unavailable.message =
            "the store database became unavailable while committing; the request may have "
            "been accepted: retry after " +
            std::to_string(kDatabaseRetryAfterSeconds) +
            " s (with the same Idempotency-Key for a create)";
        return unavailable;
    }
    if (!pg::IsUnavailable(error)) return std::nullopt;
    unavailable.message = "the store database is unavailable; retry after " +
                          std::to_string(kDatabaseRetryAfterSeconds) + " s";
    return unavailable;
}

namespace {

// Runs a handler that needs Postgres (the token lookup included); if Postgres cannot be
// reached, answers 503 with Retry-After instead of 500. Any answer is sent only at the end
// of a handler, so nothing has been written when this catches.
template <typename Fn>
void UnlessDatabaseUnavailable(ResponseWriter& response, metrics::Counter& unavailable_total,
                               Fn&& handle) {
    try {
        handle();
    } catch (const std::exception& error) {
        if (!AnswerIfDatabaseUnavailable(response, error)) throw;
        unavailable_total.Inc();
    }
}

}  // namespace

bool AnswerIfDatabaseUnavailable(ResponseWriter& response, const std::exception& error) {
    auto unavailable = ClassifyDatabaseFailure(error);
    if (!unavailable) return false;
    // pqxx's text says which host and port failed, never the password.
    log::Warn("database unavailable; answering 503",
              {{"error", error.what()}, {"maybe_applied", unavailable->maybe_applied}});
    http::SetHeader(response, "Retry-After", std::to_string(unavailable->retry_after_seconds));
    http::SendError(response, Code::Service_Unavailable, "unavailable", unavailable->message);
    return true;
}

std::string CorrelationIdOf(const Request& request) {
    std::string given = http::RequestHeader(request, "X-Correlation-Id");
    return SaneHeaderValue(given, 64) ? given : NewUuid();
}

IntakeApi::IntakeApi(IntakeStore& store, http::Authenticator& authenticator,
                     http::RateLimiter& client_limiter, http::RateLimiter& tenant_limiter,
                     metrics::Registry& registry, std::function<void()> on_accepted)
    : store_(store),
      authenticator_(authenticator),
      client_limiter_(client_limiter),
      tenant_limiter_(tenant_limiter),
      accepted_(registry.GetCounter("storefleet_intake_commands_accepted_total",
                                    "Store commands committed to the outbox.")),
      rejected_(registry.GetCounter("storefleet_intake_commands_rejected_total",
                                    "Store commands refused (auth, validation, quota, rate).")),
      unavailable_(
          registry.GetCounter("storefleet_intake_database_unavailable_total",
                              "Requests answered 503 because Postgres could not be used.")),
      on_accepted_(std::move(on_accepted)) {}

void IntakeApi::Register(http::HttpServer& server) {
    server.Post("/api/v1/stores", [this](const Request& request, ResponseWriter& response) {
        UnlessDatabaseUnavailable(response, unavailable_, [&] { CreateStore(request, response); });
    });
    server.Delete("/api/v1/stores/:id", [this](const Request& request, ResponseWriter& response) {
        UnlessDatabaseUnavailable(response, unavailable_, [&] { DeleteStore(request, response); });
    });
    server.Patch("/api/v1/stores/:id", [this](const Request& request, ResponseWriter& response) {
        UnlessDatabaseUnavailable(response, unavailable_, [&] { ChangeStore(request, response); });
    });
    server.Post("/api/v1/stores/:id/retry", [this](const Request& request,
                                                   ResponseWriter& response) {
        UnlessDatabaseUnavailable(response, unavailable_, [&] { RetryStore(request, response); });
    });
    server.Post("/api/v1/stores/:id/backups", [this](const Request& request,
                                                     ResponseWriter& response) {
        UnlessDatabaseUnavailable(response, unavailable_, [&] { BackupStore(request, response); });
    });
    server.Get("/api/v1/stores/:id/backups", [this](const Request& request,
                                                    ResponseWriter& response) {
        UnlessDatabaseUnavailable(response, unavailable_, [&] { ListBackups(request, response); });
    });
    server.Post("/api/v1/stores/:id/restore", [this](const Request& request,
                                                     ResponseWriter& response) {
        UnlessDatabaseUnavailable(response, unavailable_, [&] { RestoreStore(request, response); });
    });
}

void IntakeApi::BackupStore(const Request& request, ResponseWriter& response) {
    auto tenant = Admit(request, response);
    if (!tenant) return;
    const auto store_id = request.param(":id").as<std::string>();
    const std::string correlation_id = CorrelationIdOf(request);
    AnswerData(response, *tenant, store_id, correlation_id,
               store_.RequestBackup(*tenant, store_id, correlation_id), "store backup");
}

void IntakeApi::ListBackups(const Request& request, ResponseWriter& response) {
    auto tenant = Admit(request, response);
    if (!tenant) return;
    const auto store_id = request.param(":id").as<std::string>();
    auto listed = store_.ListBackups(*tenant, store_id);
    if (!listed.ok()) {
        http::SendError(response, CodeFor(listed.error()), listed.error().code,
                        listed.error().message);
        return;
    }
    http::SendJson(response, Code::Ok, *listed);
}

void IntakeApi::RestoreStore(const Request& request, ResponseWriter& response) {
    auto tenant = Admit(request, response);
    if (!tenant) return;
    if (!http::HasJsonBody(request)) {
        rejected_.Inc();
        http::SendError(response, Code::Unsupported_Media_Type, "unsupported_media_type",
                        "send {\"backup_id\": ...} as JSON with 'Content-Type: application/json'");
        return;
    }
    const auto body = nlohmann::json::parse(request.body(), nullptr, false);
    if (!body.is_object() || !body.contains("backup_id") || !body["backup_id"].is_string()) {
        rejected_.Inc();
        http::SendError(response, Code::Bad_Request, "invalid_request",
                        "backup_id (a string: the id of one of the store's backups) is required",
                        "backup_id");
        return;
    }
    const auto store_id = request.param(":id").as<std::string>();
    const std::string correlation_id = CorrelationIdOf(request);
    AnswerData(response, *tenant, store_id, correlation_id,
               store_.RequestRestore(*tenant, store_id, body["backup_id"].get<std::string>(),
                                     correlation_id),
               "store restore");
}

void IntakeApi::AnswerData(ResponseWriter& response, const Tenant& tenant,
                           const std::string& store_id, const std::string& correlation_id,
                           const DataRequestOutcome& outcome, const char* what) {
    if (outcome.refused) {
        rejected_.Inc();
        http::SendError(response, CodeFor(*outcome.refused), outcome.refused->code,
                        outcome.refused->message);
        return;
    }
    accepted_.Inc();
    on_accepted_();
    log::Info(std::string(what) + " accepted", {{"store_id", store_id},
                                                {"tenant", tenant.id},
                                                {"id", outcome.body.value("id", "")},
                                                {"correlation_id", correlation_id}});
    http::SetHeader(response, "Location", "/api/v1/stores/" + store_id + "/backups");
    http::SendJson(response, Code::Accepted, outcome.body);
}

std::optional<Tenant> IntakeApi::Admit(const Request& request, ResponseWriter& response) {
    // Before the token lookup, so a flood of bad tokens from one address stops here.
    if (!http::AdmitOrAnswer429(client_limiter_, http::ClientAddress(request), "client address",
                                response)) {
        rejected_.Inc();
        return std::nullopt;
    }
    auto principal = authenticator_.Authenticate(request, response);
    if (!principal) {
        rejected_.Inc();
        return std::nullopt;
    }
    if (!http::AdmitOrAnswer429(tenant_limiter_, principal->tenant_id, "tenant", response,
                                principal->rate_per_second)) {
        rejected_.Inc();
        return std::nullopt;
    }
    return Tenant{principal->tenant_id, principal->token_id};
}

void IntakeApi::CreateStore(const Request& request, ResponseWriter& response) {
    auto tenant = Admit(request, response);
    if (!tenant) return;
    if (!http::HasJsonBody(request)) {
        rejected_.Inc();
        http::SendError(response, Code::Unsupported_Media_Type, "unsupported_media_type",
                        "send the store as JSON with 'Content-Type: application/json'");
        return;
    }
    auto parsed = ParseStoreRequest(request.body(), real_node_engines_);
    if (!parsed.ok()) {
        rejected_.Inc();
        http::SendError(response, CodeFor(parsed.error()), parsed.error().code,
                        parsed.error().message, parsed.error().field);
        return;
    }
    const std::string idempotency_key = http::RequestHeader(request, "Idempotency-Key");
    if (!idempotency_key.empty() && !SaneHeaderValue(idempotency_key, 128)) {
        rejected_.Inc();
        http::SendError(
            response, Code::Bad_Request, "invalid_request",
            "Idempotency-Key must be 1-128 characters of letters, digits, '-', '_', '.', ':'",
            "Idempotency-Key");
        return;
    }
    const std::string correlation_id = CorrelationIdOf(request);
    if (idempotency_key.empty()) {
        // Committed with the other creates of its batch and answered from the batcher's
        // thread; this HTTP thread goes back to its connections at once.
        auto deferred = std::make_shared<http::DeferredResponse>(http::Defer(response));
        store_.CreateStoreAsync(
            *tenant, *parsed, correlation_id,
            [this, deferred, tenant_id = tenant->id, correlation_id](
                const Result<Accepted>& accepted, const std::exception_ptr& error) {
                auto& writer = deferred->writer();
                if (error) {
                    AnswerFailure(writer, error);
                    return;
                }
                AnswerCreate(writer, tenant_id, correlation_id, accepted);
            });
        return;
    }
    AnswerCreate(response, tenant->id, correlation_id,
                 store_.CreateStore(*tenant, *parsed, idempotency_key, correlation_id));
}

void IntakeApi::AnswerCreate(ResponseWriter& response, const std::string& tenant_id,
                             const std::string& correlation_id, const Result<Accepted>& accepted) {
    if (!accepted.ok()) {
        rejected_.Inc();
        http::SendError(response, CodeFor(accepted.error()), accepted.error().code,
                        accepted.error().message, accepted.error().field);
        return;
    }
    accepted_.Inc();
    on_accepted_();
    log::Info("store requested", {{"store_id", accepted->body.value("id", "")},
                                  {"tenant", tenant_id},
                                  {"correlation_id", correlation_id}});
    http::SetHeader(response, "Location", "/api/v1/stores/" + accepted->body.value("id", ""));
    // A store's first desired state is generation 1 (an answer stored with an
    // Idempotency-Key before generations were kept says so too).
    http::SetHeader(response, "ETag", DesiredEtag(1));
    nlohmann::json body = accepted->body;
    if (!body.contains("generation")) body["generation"] = 1;
    http::SendJson(response, static_cast<Code>(accepted->http_status), body);
}

void IntakeApi::AnswerFailure(ResponseWriter& response, std::exception_ptr error) {
    try {
        UnlessDatabaseUnavailable(response, unavailable_, [&] { std::rethrow_exception(error); });
    } catch (const std::exception& other) {
        log::Error("a create failed", {{"error", other.what()}});
        http::SendError(response, Code::Internal_Server_Error, "internal",
                        "internal error; the request may be retried");
    }
}

void IntakeApi::DeleteStore(const Request& request, ResponseWriter& response) {
    auto tenant = Admit(request, response);
    if (!tenant) return;
    const auto store_id = request.param(":id").as<std::string>();
    const std::string correlation_id = CorrelationIdOf(request);
    auto accepted = store_.RequestDeletion(*tenant, store_id, correlation_id);
    if (!accepted.ok()) {
        rejected_.Inc();
        http::SendError(response, CodeFor(accepted.error()), accepted.error().code,
                        accepted.error().message);
        return;
    }
    accepted_.Inc();
    on_accepted_();
    log::Info("store deletion requested",
              {{"store_id", store_id}, {"tenant", tenant->id}, {"correlation_id", correlation_id}});
    http::SendJson(response, Code::Accepted, accepted->body);
}

namespace {

// A PATCH body is a JSON merge patch (RFC 7396): its media type, any parameters.
bool IsMergePatch(const Request& request) {
    std::string type = http::RequestHeader(request, "Content-Type");
    type = type.substr(0, type.find(';'));
    while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) type.pop_back();
    for (auto& c : type) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return type == "application/merge-patch+json";
}

}  // namespace

void IntakeApi::ChangeStore(const Request& request, ResponseWriter& response) {
    auto tenant = Admit(request, response);
    if (!tenant) return;
    auto refuse = [&](Code code, const std::string& error_code, const std::string& message,
                      const std::string& field = "") {
        rejected_.Inc();
        http::SendError(response, code, error_code, message, field);
    };
    if (!IsMergePatch(request)) {
        refuse(Code::Unsupported_Media_Type, "unsupported_media_type",
               "send the change as a JSON merge patch with 'Content-Type: "
               "application/merge-patch+json'");
        return;
    }
    auto patch = ParseStorePatch(request.body());
    if (!patch.ok()) {
        refuse(CodeFor(patch.error()), patch.error().code, patch.error().message,
               patch.error().field);
        return;
    }
    auto if_match = IfMatch::Parse(http::RequestHeader(request, "If-Match"));
    if (!if_match) {
        refuse(Code::Bad_Request, "invalid_request",
               "If-Match must be * or the store's desired_etag as read, e.g. \"g3\" (quotes "
               "included)",
               "If-Match");
        return;
    }
    if (if_match->Absent()) {
        // Without it, a change made from a stale read would silently undo another one.
        refuse(Code::Precondition_Required, "precondition_required",
               "a change needs If-Match: the store's desired_etag as read (GET), or * to apply "
               "it whatever changed since",
               "If-Match");
        return;
    }
    const auto store_id = request.param(":id").as<std::string>();
    const std::string correlation_id = CorrelationIdOf(request);
    AnswerChange(response, *tenant, store_id, correlation_id,
                 store_.ChangeStore(*tenant, store_id, *patch, *if_match, correlation_id),
                 "store change");
}

void IntakeApi::RetryStore(const Request& request, ResponseWriter& response) {
    auto tenant = Admit(request, response);
    if (!tenant) return;
    const auto store_id = request.param(":id").as<std::string>();
    const std::string correlation_id = CorrelationIdOf(request);
    AnswerChange(response, *tenant, store_id, correlation_id,
                 store_.RetryStore(*tenant, store_id, correlation_id), "store retry");
}

void IntakeApi::AnswerChange(ResponseWriter& response, const Tenant& tenant,
                             const std::string& store_id, const std::string& correlation_id,
                             const ChangeOutcome& outcome, const char* what) {
    if (outcome.refused) {
        rejected_.Inc();
        const Error& error = *outcome.refused;
        http::Problem problem{CodeFor(error), error.code, error.message, {}};
        if (!error.field.empty()) problem.errors.push_back({error.field, error.message});
        auto body = http::ProblemJson(problem);
        // What a client needs to read the store again before it retries its change.
        if (error.code == "precondition_failed") {
            body["current_generation"] = outcome.generation;
            body["desired_etag"] = DesiredEtag(outcome.generation);
        }
        http::SetHeader(response, "Content-Type", "application/problem+json");
        response.send(problem.status,
                      body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
        return;
    }
    if (outcome.sent) {
        accepted_.Inc();
        on_accepted_();
        // Ids and the generation only: never the desired state's values (an e-mail address).
        log::Info(std::string(what) + " accepted", {{"store_id", store_id},
                                                    {"tenant", tenant.id},
                                                    {"generation", outcome.generation},
                                                    {"correlation_id", correlation_id}});
    }
    http::SetHeader(response, "ETag", DesiredEtag(outcome.generation));
    http::SendJson(response, static_cast<Code>(outcome.http_status), outcome.body);
}

}  // namespace storefleet::intake
