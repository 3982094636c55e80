#include "event_stream.hpp"

#include <algorithm>
#include <charconv>
#include <stdexcept>

#include "openapi_document.hpp"
#include "storefleet/common/log.hpp"
#include "storefleet/http/public_routes.hpp"

namespace storefleet::query {

using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kPath = "/api/v1/stores/events";
constexpr int kCatchUpPage = 500;
constexpr int kBroadcastPage = 1000;

http::SseRefusal Unavailable() {
    return {503,
            "unavailable",
            "the read model cannot answer right now; retry shortly",
            {{"Retry-After", "1"}}};
}

}  // namespace

std::string StoreEventFrame(const ChangeLogEntry& change) {
    // nlohmann's compact dump has no newline, so the data fits one `data:` line.
    return "id: " + std::to_string(change.change_id) +
           "\nevent: store\ndata: " + ToJson(change.store).dump() + "\n\n";
}

EventStreamServer::EventStreamServer(Options options, ChangeFeed& feed,
                                     http::Authenticator& authenticator,
                                     http::RateLimiter& client_limiter, metrics::Registry& registry)
    : options_(std::move(options)),
      feed_(feed),
      authenticator_(authenticator),
      client_limiter_(client_limiter),
      events_sent_(registry.GetCounter("storefleet_query_stream_events_total",
                                       "Store events written to streams.")),
      transport_({.address = options_.address,
                  .port = options_.port,
                  .path = kPath,
                  .max_connections = options_.max_connections,
                  .max_buffered_bytes = options_.max_buffered_bytes,
                  .heartbeat = options_.heartbeat,
                  .poll_interval = options_.poll_interval,
                  .request_timeout = options_.request_timeout,
                  .metrics_prefix = "storefleet_query_"},
                 *this, registry) {}

EventStreamServer::~EventStreamServer() { Stop(); }

void EventStreamServer::Start() {
    transport_.CheckPublicApi("stream", http::PublicApiRoutes(), OpenApiDocument());
    transport_.Start();
}

void EventStreamServer::Stop() { transport_.Stop(); }

std::set<int> EventStreamServer::RefusalStatuses() const {
    // Last-Event-ID; the token; the client's rate or the tenant's streams; the read model.
    return {400, 401, 429, 503};
}

http::SseAnswer EventStreamServer::OnRequest(const http::SseRequest& request) {
    // The same order as the REST API: the per-address limiter before any token lookup.
    std::chrono::milliseconds retry_after{0};
    if (!client_limiter_.Allow(request.client_address, http::RateLimiter::Clock::now(),
                               retry_after)) {
        const auto seconds =
            std::to_string(std::max<int64_t>(1, (retry_after.count() + 999) / 1000));
        return http::SseRefusal{
            429,
            "rate_limited",
            "too many requests from this client address; retry after " + seconds + " s",
            {{"Retry-After", seconds}}};
    }
    const auto authorization = request.headers.find("authorization");
    const std::string sha = authorization == request.headers.end()
                                ? ""
                                : http::Authenticator::TokenSha256(authorization->second);
    if (sha.empty()) {
        return http::SseRefusal{401,
                                "unauthorized",
                                "send an API token as 'Authorization: Bearer <token>'",
                                {{"WWW-Authenticate", "Bearer"}}};
    }
    std::optional<http::Principal> principal;
    try {
        principal = authenticator_.ResolveSha256(sha, Clock::now());
    } catch (const std::exception& error) {
        log::Warn("stream: token lookup failed; answering 503", {{"error", error.what()}});
        return Unavailable();
    }
    if (!principal) {
        return http::SseRefusal{401,
                                "unauthorized",
                                "unknown, expired or revoked API token",
                                {{"WWW-Authenticate", "Bearer error=\"invalid_token\""}}};
    }
    std::optional<int64_t> resume_after;
    if (const std::string text = request.Header("last-event-id"); !text.empty()) {
        int64_t id = -1;
        auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), id);
        if (error != std::errc() || end != text.data() + text.size() || id < 0) {
            return http::SseRefusal{400,
                                    "invalid_request",
                                    "Last-Event-ID must be the id of an event this stream sent",
                                    {}};
        }
        resume_after = id;
    }
    if (streams_of_tenant_[principal->tenant_id] >= options_.max_streams_per_tenant) {
        return http::SseRefusal{429,
                                "too_many_streams",
                                "this tenant already has " +
                                    std::to_string(options_.max_streams_per_tenant) +
                                    " live streams on this replica; close one or retry later",
                                {{"Retry-After", "5"}}};
    }
    if (!head_known_) Broadcast();
    if (!head_known_) {
        log::Warn("stream: cannot read the change log; answering 503",
                  {{"error", "the change log cannot be read"}});
        return Unavailable();
    }
    subscribers_[request.id] = {principal->tenant_id, principal->admin, sha};
    ++streams_of_tenant_[principal->tenant_id];
    if (resume_after) resume_after_[request.id] = *resume_after;
    return http::SseAcceptance{"retry: 2000\n\n"};
}

void EventStreamServer::OnOpened(http::SseStreamId id) {
    std::optional<int64_t> resume_after;
    if (auto found = resume_after_.find(id); found != resume_after_.end()) {
        resume_after = found->second;
        resume_after_.erase(found);
    }
    try {
        if (resume_after && !CatchUp(id, *resume_after)) return;
        if (!transport_.Send(id, "id: " + std::to_string(head_) +
                                     "\nevent: open\ndata: {\"head\":\"" + std::to_string(head_) +
                                     "\"}\n\n"))
            return;
        const auto subscriber = subscribers_.find(id);
        if (subscriber != subscribers_.end() && subscriber->second.admin) {
            // Where the fleet's rollouts are now; the broadcast sends what changes after.
            for (const auto& rollout : feed_.Rollouts({.ids = {}, .all_active = true})) {
                if (!transport_.Send(id, RolloutEventFrame(rollout))) return;
                events_sent_.Inc();
            }
        }
    } catch (const std::exception& error) {
        log::Warn("stream: cannot read the change log; answering 503", {{"error", error.what()}});
        transport_.Close(id);  // the headers are out already: the client reconnects
    }
}

void EventStreamServer::OnClosed(http::SseStreamId id) {
    resume_after_.erase(id);
    auto found = subscribers_.find(id);
    if (found == subscribers_.end()) return;
    auto count = streams_of_tenant_.find(found->second.tenant_id);
    if (count != streams_of_tenant_.end() && --count->second == 0) streams_of_tenant_.erase(count);
    subscribers_.erase(found);
}

bool EventStreamServer::CatchUp(http::SseStreamId id, int64_t after) {
    const int64_t oldest = feed_.Oldest();
    if (after > head_ || (oldest > 0 && after < oldest - 1)) {
        // Changes were pruned (or the id is not one of ours): the client must re-read.
        return transport_.Send(
            id,
            "event: reset\ndata: {\"reason\":\"Last-Event-ID is outside the 24 h replay window; "
            "read the list again\"}\n\n");
    }
    const Subscriber& subscriber = subscribers_.at(id);
    const std::string tenant = subscriber.admin ? "" : subscriber.tenant_id;
    while (after < head_) {
        auto changes = feed_.After(after, tenant, kCatchUpPage);
        for (const auto& change : changes) {
            if (change.change_id > head_)
                return transport_.IsOpen(id);  // the broadcast sends those
            if (!transport_.Send(id, StoreEventFrame(change))) return false;
            events_sent_.Inc();
            after = change.change_id;
        }
        if (changes.size() < static_cast<std::size_t>(kCatchUpPage)) break;
    }
    return transport_.IsOpen(id);
}

void EventStreamServer::Broadcast() {
    try {
        if (!head_known_) {
            head_ = feed_.Head();
            head_known_ = true;
            if (options_.on_live) options_.on_live(true);
            return;
        }
        for (;;) {
            auto changes = feed_.After(head_, "", kBroadcastPage);
            for (const auto& change : changes) {
                if (options_.on_change) options_.on_change(change.tenant_id);
                const std::string frame = StoreEventFrame(change);
                // Sending may end a stream (its subscriber goes): choose first, then send.
                std::vector<http::SseStreamId> to;
                for (const auto& [id, subscriber] : subscribers_) {
                    if (subscriber.admin || subscriber.tenant_id == change.tenant_id)
                        to.push_back(id);
                }
                for (http::SseStreamId id : to) {
                    if (!transport_.IsOpen(id)) continue;
                    transport_.Send(id, frame);
                    events_sent_.Inc();
                }
                head_ = change.change_id;
            }
            if (changes.size() < static_cast<std::size_t>(kBroadcastPage)) break;
        }
        if (options_.on_live) options_.on_live(true);
    } catch (const std::exception& error) {
        if (options_.on_live) options_.on_live(false);
        log::Warn("stream: cannot read new store changes; retrying", {{"error", error.what()}});
    }
}

void EventStreamServer::BroadcastRollouts() {
    RolloutChanges changes = feed_.TakeRolloutChanges();
    const bool anyone = std::any_of(subscribers_.begin(), subscribers_.end(),
                                    [](const auto& entry) { return entry.second.admin; });
    if (!anyone) {
        // Nobody to tell: no read. An admin who connects gets the snapshot; what was sent
        // before is forgotten, so nothing is held back as "already sent".
        rollout_frames_.clear();
        rollouts_missed_ = false;
        return;
    }
    if (rollouts_missed_) changes.all_active = true;
    if (changes.Empty()) return;
    std::vector<RolloutProgress> rollouts;
    try {
        rollouts = feed_.Rollouts(changes);
        rollouts_missed_ = false;
    } catch (const std::exception& error) {
        rollouts_missed_ = true;
        log::Warn("stream: cannot read rollouts; retrying", {{"error", error.what()}});
        return;
    }
    for (const auto& rollout : rollouts) {
        std::string frame = RolloutEventFrame(rollout);
        auto& last = rollout_frames_[rollout.rollout_id];
        if (last == frame) continue;
        last = std::move(frame);
        std::vector<http::SseStreamId> to;
        for (const auto& [id, subscriber] : subscribers_) {
            if (subscriber.admin) to.push_back(id);
        }
        for (http::SseStreamId id : to) {
            if (!transport_.IsOpen(id)) continue;
            transport_.Send(id, last);
            events_sent_.Inc();
        }
    }
}

void EventStreamServer::OnSweep(Clock::time_point now) {
    if (last_revalidation_ == Clock::time_point{}) last_revalidation_ = now;
    if (now - last_revalidation_ < options_.revalidate_interval) return;
    last_revalidation_ = now;
    // A revoked or expired token ends its streams (the authenticator's cache keeps an answer
    // for about a second, so this costs one lookup per token per second).
    std::unordered_map<std::string, bool> valid;
    std::vector<std::pair<http::SseStreamId, std::string>> streams;
    streams.reserve(subscribers_.size());
    for (const auto& [id, subscriber] : subscribers_)
        streams.emplace_back(id, subscriber.token_sha256);
    for (const auto& [id, sha] : streams) {
        if (!valid.contains(sha)) {
            try {
                valid[sha] = authenticator_.ResolveSha256(sha, now).has_value();
            } catch (const std::exception&) {
                valid[sha] = true;  // the database is away: keep streaming, check again later
            }
        }
        if (!valid[sha]) transport_.Close(id);
    }
}

}  // namespace storefleet::query
