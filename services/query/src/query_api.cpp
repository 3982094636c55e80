#include "query_api.hpp"

#include "openapi_document.hpp"
#include "storefleet/common/ids.hpp"
#include "storefleet/common/log.hpp"
#include "storefleet/http/auth.hpp"
#include "storefleet/http/json_response.hpp"

namespace storefleet::query {

using Pistache::Http::Code;
using Pistache::Http::ResponseWriter;
using Pistache::Rest::Request;

namespace {

void NotFound(ResponseWriter& response, const std::string& store_id) {
    http::SendError(response, Code::Not_Found, "not_found",
                    "no store with id '" + store_id.substr(0, 64) + "'");
}

}  // namespace

QueryApi::QueryApi(StoreReader& reader, http::Authenticator& authenticator,
                   http::RateLimiter& client_limiter, metrics::Registry& registry)
    : reader_(reader),
      authenticator_(authenticator),
      client_limiter_(client_limiter),
      unauthorized_(registry.GetCounter("storefleet_query_unauthorized_total",
                                        "Requests refused for a missing or unknown API token.")),
      unavailable_(registry.GetCounter("storefleet_query_unavailable_total",
                                       "Requests answered 503 because Postgres could not answer.")),
      list_cache_hits_(registry.GetCounter("storefleet_query_list_cache_hits_total",
                                           "List pages served from the list cache.")),
      list_cache_misses_(
          registry.GetCounter("storefleet_query_list_cache_misses_total",
                              "List pages read from Postgres (the cache had none current).")) {}

void QueryApi::Register(http::HttpServer& server) {
    // Transient database failures become a 503 the client may retry; anything else
    // escapes to the server's handler (500, logged).
    auto guarded = [this](void (QueryApi::*handler)(const Request&, ResponseWriter&)) {
        return [this, handler](const Request& request, ResponseWriter& response) {
            try {
                (this->*handler)(request, response);
            } catch (const ReadUnavailable& error) {
                AnswerUnavailable(response, error.what(), request.resource());
            }
        };
    };
    // The API's contract: public, like any documentation.
    server.Get("/api/v1/openapi.json", [](const Request&, ResponseWriter& response) {
        response.headers().add<Pistache::Http::Header::ContentType>(MIME(Application, Json));
        http::SetHeader(response, "Cache-Control", "public, max-age=300");
        response.send(Code::Ok, OpenApiJson());
    });
    server.Get("/api/v1/me", guarded(&QueryApi::GetMe));
    server.Get("/api/v1/stores", guarded(&QueryApi::ListStores));
    server.Get("/api/v1/stores/:id", guarded(&QueryApi::GetStore));
    server.Get("/api/v1/stores/:id/events", guarded(&QueryApi::GetTimeline));
}

void QueryApi::AnswerUnavailable(ResponseWriter& response, const std::string& what,
                                 const std::string& path) {
    unavailable_.Inc();
    log::Warn("read model unavailable", {{"error", what}, {"path", path}});
    http::SetHeader(response, "Retry-After", "1");
    http::SendError(response, Code::Service_Unavailable, "unavailable",
                    "the read model cannot answer right now; retry shortly");
}

std::optional<std::string> QueryApi::Authenticate(const Request& request, ResponseWriter& response,
                                                  http::Principal* principal) {
    if (!http::AdmitOrAnswer429(client_limiter_, http::ClientAddress(request), "client address",
                                response)) {
        return std::nullopt;
    }
    auto found = authenticator_.Authenticate(request, response);
    if (!found) {
        unauthorized_.Inc();
        return std::nullopt;
    }
    if (tenant_limiter_ != nullptr &&
        !http::AdmitOrAnswer429(*tenant_limiter_, found->tenant_id, "tenant", response)) {
        return std::nullopt;
    }
    if (principal != nullptr) *principal = *found;
    return found->tenant_id;
}

void QueryApi::GetMe(const Request& request, ResponseWriter& response) {
    http::Principal principal;
    if (!Authenticate(request, response, &principal)) return;
    http::SendJson(response, Code::Ok,
                   {{"tenant_id", principal.tenant_id},
                    {"role", principal.admin ? "admin" : "tenant"},
                    {"real_node_engines", real_node_engines_}});
}

void QueryApi::ListStores(const Request& request, ResponseWriter& response) {
    auto tenant = Authenticate(request, response);
    if (!tenant) return;
    const auto& query = request.query();
    auto parsed = ParseListRequest(query.get("limit"), query.get("cursor"), query.get("status"),
                                   query.get("engine"), query.get("name_prefix"));
    if (!parsed.ok()) {
        http::SendError(response, Code::Bad_Request, parsed.error().code, parsed.error().message,
                        parsed.error().field);
        return;
    }
    response.headers().add<Pistache::Http::Header::ContentType>(MIME(Application, Json));
    std::string key;
    uint64_t generation = 0;
    if (list_cache_ != nullptr) {
        // The page's parameters as parsed (so equivalent spellings share an entry).
        key = *tenant + '\x1f' + std::to_string(parsed->limit) + '\x1f' +
              (parsed->after ? EncodeCursor(*parsed->after) : std::string()) + '\x1f' +
              parsed->status + '\x1f' + parsed->engine + '\x1f' + parsed->name_prefix;
        if (auto body = list_cache_->Get(key, *tenant, ListCache::Clock::now())) {
            list_cache_hits_.Inc();
            response.send(Code::Ok, *body);
            return;
        }
        list_cache_misses_.Inc();
        generation = list_cache_->Generation();
    }
    Page page = MakePage(reader_.ListStores(*tenant, *parsed), parsed->limit);
    // The rows' JSON comes ready from the read model: the body is copied, not re-encoded.
    auto body = std::make_shared<const std::string>(ListBody(page.items, page.next_cursor));
    if (list_cache_ != nullptr)
        list_cache_->Put(key, *tenant, generation, body, ListCache::Clock::now());
    response.send(Code::Ok, *body);
}

void QueryApi::GetStore(const Request& request, ResponseWriter& response) {
    auto tenant = Authenticate(request, response);
    if (!tenant) return;
    const auto store_id = request.param(":id").as<std::string>();
    const std::string if_none_match = http::RequestHeader(request, "If-None-Match");
    // Not a UUID cannot be a store: answered without asking Postgres to cast it.
    if (!IsUuid(store_id)) {
        NotFound(response, store_id);
        return;
    }
    if (store_batcher_ == nullptr) {
        AnswerStore(response, reader_.GetStore(*tenant, store_id), store_id, if_none_match);
        return;
    }
    // Answered from the batcher's thread once its batch is read (std::function needs a
    // copyable capture, hence the shared_ptr).
    auto deferred = std::make_shared<http::DeferredResponse>(http::Defer(response));
    store_batcher_->Submit(
        {*tenant, store_id},
        [this, deferred, store_id, if_none_match, path = request.resource()](
            const std::optional<StoreView>& store, const std::exception_ptr& error) {
            auto& writer = deferred->writer();
            if (!error) {
                AnswerStore(writer, store, store_id, if_none_match);
                return;
            }
            try {
                std::rethrow_exception(error);
            } catch (const ReadUnavailable& unavailable) {
                AnswerUnavailable(writer, unavailable.what(), path);
            } catch (const std::exception& other) {
                log::Error("reading a store failed", {{"error", other.what()}, {"path", path}});
                http::SendError(writer, Code::Internal_Server_Error, "internal",
                                "internal error; the request may be retried");
            }
        });
}

void QueryApi::AnswerStore(ResponseWriter& response, const std::optional<StoreView>& store,
                           const std::string& store_id, const std::string& if_none_match) {
    if (!store) {
        NotFound(response, store_id);
        return;
    }
    // A strong validator of exactly the bytes sent: clients polling one store get 304
    // while nothing changed.
    const std::string body = StoreJsonText(*store) + "\n";
    const std::string etag = "\"" + Sha256Hex(body).substr(0, 32) + "\"";
    http::SetHeader(response, "ETag", etag);
    http::SetHeader(response, "Cache-Control", "private, no-cache");
    if (!if_none_match.empty() && (if_none_match == etag || if_none_match == "*" ||
                                   if_none_match.find(etag) != std::string::npos)) {
        response.send(Code::Not_Modified);
        return;
    }
    response.headers().add<Pistache::Http::Header::ContentType>(MIME(Application, Json));
    response.send(Code::Ok, body);
}

void QueryApi::GetTimeline(const Request& request, ResponseWriter& response) {
    auto tenant = Authenticate(request, response);
    if (!tenant) return;
    const auto store_id = request.param(":id").as<std::string>();
    auto events = IsUuid(store_id) ? reader_.GetTimeline(*tenant, store_id) : std::nullopt;
    if (!events) {
        NotFound(response, store_id);
        return;
    }
    http::SendJson(response, Code::Ok, TimelineJson(*events));
}

}  // namespace storefleet::query
