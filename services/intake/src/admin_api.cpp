#include "admin_api.hpp"

#include <charconv>

#include "intake_api.hpp"
#include "storefleet/common/log.hpp"
#include "storefleet/events/status.hpp"
#include "storefleet/http/json_response.hpp"

namespace storefleet::intake {

using Pistache::Http::Code;
using Pistache::Http::ResponseWriter;
using Pistache::Rest::Request;

namespace {

Code CodeFor(const Error& error) {
    if (error.code == "not_found") return Code::Not_Found;
    if (error.code == "conflict") return Code::Conflict;
    return Code::Bad_Request;
}

void Refuse(ResponseWriter& response, const Error& error) {
    http::SendError(response, CodeFor(error), error.code, error.message, error.field);
}

// The request's JSON object, or nullopt after answering 415 or 400.
std::optional<nlohmann::json> JsonBody(const Request& request, ResponseWriter& response,
                                       std::initializer_list<const char*> allowed) {
    if (!http::HasJsonBody(request)) {
        http::SendError(response, Code::Unsupported_Media_Type, "unsupported_media_type",
                        "send JSON with 'Content-Type: application/json'");
        return std::nullopt;
    }
    nlohmann::json body = nlohmann::json::parse(request.body(), nullptr, false);
    if (body.is_discarded() || !body.is_object()) {
        http::SendError(response, Code::Bad_Request, "invalid_request",
                        "the body must be a JSON object", "body");
        return std::nullopt;
    }
    for (const auto& [key, value] : body.items()) {
        bool known = false;
        for (const char* name : allowed) known = known || key == name;
        if (!known) {
            http::SendError(response, Code::Bad_Request, "invalid_request",
                            "unknown field '" + key.substr(0, 40) + "'", key.substr(0, 40));
            return std::nullopt;
        }
    }
    return body;
}

// A field's value if present and of the right type; on a wrong type it answers 400 and
// sets `failed`.
template <typename T>
std::optional<T> Field(const nlohmann::json& body, const char* name, ResponseWriter& response,
                       bool& failed) {
    if (failed || !body.contains(name)) return std::nullopt;
    const auto& value = body[name];
    const bool fits = std::is_same_v<T, std::string> ? value.is_string()
                      : std::is_same_v<T, bool>      ? value.is_boolean()
                      : std::is_integral_v<T>        ? value.is_number_integer()
                                                     : value.is_number();
    if (!fits) {
        http::SendError(response, Code::Bad_Request, "invalid_request",
                        std::string("field '") + name + "' has the wrong type", name);
        failed = true;
        return std::nullopt;
    }
    return value.get<T>();
}

// ?limit= (1-1000, 100 by default); nullopt after answering 400 for anything else.
std::optional<int> Limit(const Request& request, ResponseWriter& response) {
    auto text = request.query().get("limit");
    if (!text) return 100;
    int limit = 0;
    auto [end, error] = std::from_chars(text->data(), text->data() + text->size(), limit);
    if (text->empty() || error != std::errc() || end != text->data() + text->size() || limit < 1 ||
        limit > 1000) {
        http::SendError(response, Code::Bad_Request, "invalid_request",
                        "limit must be a whole number from 1 to 1000", "limit");
        return std::nullopt;
    }
    return limit;
}

}  // namespace

AdminApi::AdminApi(AdminStore& store, http::Authenticator& authenticator,
                   http::RateLimiter& client_limiter)
    : store_(store), authenticator_(authenticator), client_limiter_(client_limiter) {}

std::optional<http::Principal> AdminApi::Admit(const Request& request, ResponseWriter& response) {
    if (!http::AdmitOrAnswer429(client_limiter_, http::ClientAddress(request), "client address",
                                response)) {
        return std::nullopt;
    }
    auto principal = authenticator_.Authenticate(request, response);
    if (!principal) return std::nullopt;
    if (!principal->admin) {
        http::SendError(response, Code::Forbidden, "forbidden",
                        "this needs a platform admin token");
        return std::nullopt;
    }
    return principal;
}

void AdminApi::Register(http::HttpServer& server) {
    // Postgres outages answer 503 as everywhere in intake.
    auto guarded = [](auto handler) {
        return [handler](const Request& request, ResponseWriter& response) {
            try {
                handler(request, response);
            } catch (const std::exception& error) {
                if (!AnswerIfDatabaseUnavailable(response, error)) throw;
            }
        };
    };
    auto actor = [](const http::Principal& principal) { return "token:" + principal.token_id; };

    server.Get("/api/v1/admin/tenants",
               guarded([this](const Request& request, ResponseWriter& response) {
                   if (!Admit(request, response)) return;
                   nlohmann::json all = nlohmann::json::array();
                   for (const auto& tenant : store_.ListTenants()) all.push_back(ToJson(tenant));
                   http::SendJson(response, Code::Ok, {{"items", all}});
               }));
    server.Post(
        "/api/v1/admin/tenants",
        guarded([this, actor](const Request& request, ResponseWriter& response) {
            auto admin = Admit(request, response);
            if (!admin) return;
            auto body = JsonBody(request, response, {"id", "store_quota", "rate_per_second"});
            if (!body) return;
            bool failed = false;
            auto id = Field<std::string>(*body, "id", response, failed);
            auto quota = Field<int>(*body, "store_quota", response, failed);
            auto rate = Field<double>(*body, "rate_per_second", response, failed);
            if (failed) return;
            if (!id) {
                http::SendError(response, Code::Bad_Request, "invalid_request", "id is required",
                                "id");
                return;
            }
            auto created =
                store_.CreateTenant(actor(*admin), *id, quota.value_or(10), rate.value_or(0));
            if (!created.ok()) return Refuse(response, created.error());
            http::SetHeader(response, "Location", "/api/v1/admin/tenants/" + created->id);
            http::SendJson(response, Code::Created, ToJson(*created));
        }));
    server.Patch("/api/v1/admin/tenants/:id",
                 guarded([this, actor](const Request& request, ResponseWriter& response) {
                     auto admin = Admit(request, response);
                     if (!admin) return;
                     auto body = JsonBody(request, response, {"store_quota", "rate_per_second"});
                     if (!body) return;
                     bool failed = false;
                     auto quota = Field<int>(*body, "store_quota", response, failed);
                     auto rate = Field<double>(*body, "rate_per_second", response, failed);
                     if (failed) return;
                     auto updated = store_.UpdateTenant(
                         actor(*admin), request.param(":id").as<std::string>(), quota, rate);
                     if (!updated.ok()) return Refuse(response, updated.error());
                     http::SendJson(response, Code::Ok, ToJson(*updated));
                 }));
    server.Get("/api/v1/admin/tenants/:id/tokens",
               guarded([this](const Request& request, ResponseWriter& response) {
                   if (!Admit(request, response)) return;
                   auto tokens = store_.ListTokens(request.param(":id").as<std::string>());
                   if (!tokens.ok()) return Refuse(response, tokens.error());
                   nlohmann::json all = nlohmann::json::array();
                   for (const auto& token : *tokens) all.push_back(ToJson(token));
                   http::SendJson(response, Code::Ok, {{"items", all}});
               }));
    server.Post("/api/v1/admin/tenants/:id/tokens",
                guarded([this, actor](const Request& request, ResponseWriter& response) {
                    auto admin = Admit(request, response);
                    if (!admin) return;
                    auto body = JsonBody(request, response, {"name", "role", "expires_in_seconds"});
                    if (!body) return;
                    bool failed = false;
                    auto name = Field<std::string>(*body, "name", response, failed);
                    auto role = Field<std::string>(*body, "role", response, failed);
                    auto ttl = Field<int64_t>(*body, "expires_in_seconds", response, failed);
                    if (failed) return;
                    if (role && *role != "tenant" && *role != "admin") {
                        http::SendError(response, Code::Bad_Request, "invalid_request",
                                        "role must be tenant or admin", "role");
                        return;
                    }
                    auto issued = store_.IssueToken(
                        actor(*admin), request.param(":id").as<std::string>(), name.value_or(""),
                        role && *role == "admin",
                        ttl ? std::optional<std::chrono::seconds>(*ttl) : std::nullopt);
                    if (!issued.ok()) return Refuse(response, issued.error());
                    http::SetHeader(response, "Cache-Control", "no-store");
                    http::SendJson(response, Code::Created, ToJson(*issued));
                }));
    server.Post("/api/v1/admin/tokens/:id/rotate",
                guarded([this, actor](const Request& request, ResponseWriter& response) {
                    auto admin = Admit(request, response);
                    if (!admin) return;
                    auto issued =
                        store_.RotateToken(actor(*admin), request.param(":id").as<std::string>());
                    if (!issued.ok()) return Refuse(response, issued.error());
                    http::SetHeader(response, "Cache-Control", "no-store");
                    http::SendJson(response, Code::Created, ToJson(*issued));
                }));
    server.Delete("/api/v1/admin/tokens/:id",
                  guarded([this, actor](const Request& request, ResponseWriter& response) {
                      auto admin = Admit(request, response);
                      if (!admin) return;
                      auto revoked =
                          store_.RevokeToken(actor(*admin), request.param(":id").as<std::string>());
                      if (!revoked.ok()) return Refuse(response, revoked.error());
                      response.send(Code::No_Content);
                  }));
    server.Get("/api/v1/admin/tenants/:id/stores",
               guarded([this](const Request& request, ResponseWriter& response) {
                   if (!Admit(request, response)) return;
                   auto limit = Limit(request, response);
                   if (!limit) return;
                   auto stores =
                       store_.TenantStores(request.param(":id").as<std::string>(), *limit);
                   if (!stores.ok()) return Refuse(response, stores.error());
                   http::SendJson(response, Code::Ok, {{"items", *stores}});
               }));
    server.Get("/api/v1/admin/stores",
               guarded([this](const Request& request, ResponseWriter& response) {
                   if (!Admit(request, response)) return;
                   auto limit = Limit(request, response);
                   if (!limit) return;
                   auto stores = store_.TenantStores("", *limit);
                   if (!stores.ok()) return Refuse(response, stores.error());
                   http::SendJson(response, Code::Ok, {{"items", *stores}});
               }));
    if (rollouts_ != nullptr) {
        server.Get("/api/v1/admin/rollouts",
                   guarded([this](const Request& request, ResponseWriter& response) {
                       if (!Admit(request, response)) return;
                       auto limit = Limit(request, response);
                       if (!limit) return;
                       http::SendJson(response, Code::Ok, rollouts_->List(*limit));
                   }));
        server.Post("/api/v1/admin/rollouts",
                    guarded([this, actor](const Request& request, ResponseWriter& response) {
                        auto admin = Admit(request, response);
                        if (!admin) return;
                        if (!http::HasJsonBody(request)) {
                            http::SendError(response, Code::Unsupported_Media_Type,
                                            "unsupported_media_type",
                                            "send JSON with 'Content-Type: application/json'");
                            return;
                        }
                        auto parsed = ParseRolloutRequest(request.body(), rollouts_->Charts());
                        if (!parsed.ok()) return Refuse(response, parsed.error());
                        auto created = rollouts_->Create(*parsed, actor(*admin));
                        if (!created.ok()) return Refuse(response, created.error());
                        http::SetHeader(
                            response, "Location",
                            "/api/v1/admin/rollouts/" + (*created)["id"].get<std::string>());
                        http::SendJson(response, Code::Created, *created);
                    }));
        // The catalogue a rollout picks its target from (the dashboard's form), with each
        // version's data-migration flag and each engine's version for new stores.
        server.Get("/api/v1/admin/charts",
                   guarded([this](const Request& request, ResponseWriter& response) {
                       if (!Admit(request, response)) return;
                       const auto& charts = rollouts_->Charts();
                       const auto for_new_stores = rollouts_->ChartDefaults();
                       nlohmann::json items = nlohmann::json::array();
                       for (const auto engine : events::kEngineNames) {
                           if (!charts.Offers(engine)) continue;
                           nlohmann::json versions = nlohmann::json::array();
                           for (const auto& version : charts.Versions(engine)) {
                               const auto* found = charts.Find(engine, version);
                               versions.push_back({{"version", version},
                                                   {"app_version", found->app_version},
                                                   {"migrates_data", found->migrates_data}});
                           }
                           const auto current = for_new_stores.find(engine);
                           items.push_back({{"engine", std::string(engine)},
                                            {"for_new_stores", current == for_new_stores.end()
                                                                   ? charts.DefaultVersion(engine)
                                                                   : current->second},
                                            {"versions", versions}});
                       }
                       http::SendJson(response, Code::Ok, {{"items", items}});
                   }));
        server.Get("/api/v1/admin/rollouts/:id",
                   guarded([this](const Request& request, ResponseWriter& response) {
                       if (!Admit(request, response)) return;
                       auto found = rollouts_->Get(request.param(":id").as<std::string>());
                       if (!found.ok()) return Refuse(response, found.error());
                       http::SendJson(response, Code::Ok, *found);
                   }));
        for (const std::string action : {"pause", "resume", "abort"}) {
            server.Post(
                "/api/v1/admin/rollouts/:id/" + action,
                guarded([this, actor, action](const Request& request, ResponseWriter& response) {
                    auto admin = Admit(request, response);
                    if (!admin) return;
                    auto done = rollouts_->Act(request.param(":id").as<std::string>(), action,
                                               actor(*admin));
                    if (!done.ok()) return Refuse(response, done.error());
                    http::SendJson(response, Code::Ok, *done);
                }));
        }
    }
    server.Get("/api/v1/admin/audit",
               guarded([this](const Request& request, ResponseWriter& response) {
                   if (!Admit(request, response)) return;
                   auto limit = Limit(request, response);
                   if (!limit) return;
                   nlohmann::json all = nlohmann::json::array();
                   for (const auto& entry :
                        store_.Audit(*limit, request.query().get("tenant").value_or(""))) {
                       all.push_back(ToJson(entry));
                   }
                   http::SendJson(response, Code::Ok, {{"items", all}});
               }));
}

}  // namespace storefleet::intake
