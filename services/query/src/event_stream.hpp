#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <unordered_map>

#include "change_feed.hpp"
#include "storefleet/http/auth.hpp"
#include "storefleet/http/rate_limiter.hpp"
#include "storefleet/http/sse_server.hpp"
#include "storefleet/metrics/registry.hpp"

namespace storefleet::query {

// GET /api/v1/stores/events: store changes as Server-Sent Events, on a port of its own
// (the front door routes that one path here, unbuffered).
//
// Each event is `id: <change id>`, `event: store`, `data: <the store as GET /stores/{id}
// shows it>`, in commit order, scoped to the caller's tenant (an admin token sees every
// tenant). A client that reconnects with `Last-Event-ID` gets every change after that id
// before any new one, so a disconnect loses nothing; one resuming from before the oldest
// change still kept (24 h) gets `event: reset` (re-read the list) and continues live. The
// first event, `event: open`, carries the current head as its id, so a client that
// reconnects from there misses nothing either.
//
// An admin's stream also carries fleet rollouts (decision 13): after `open`, one `event:
// rollout` per active rollout, then one each time a committed change alters one (intake's
// NOTIFY; every active one, or finished in the last minute, is re-read when notifications may
// have been missed, and only what differs from the last frame is sent). Rollout events have no id
// (they are not in the change log, so a resume is not about them: the snapshot after `open` is). A
// tenant's stream has none: a rollout is the fleet's business; a tenant sees its own stores' chart
// versions change in their `event: store`. A token revoked or expired ends its streams within about
// a second; one tenant holds at most `max_streams_per_tenant` streams (429 too_many_streams). The
// limiter and the authenticator run before anything is streamed, as in the REST API.
//
// This is the stream's domain; the connections, keep-alives, slow clients and the
// descriptor limit are http::SseServer's, whose one thread runs everything here.
class EventStreamServer final : private http::SseHandler {
public:
    struct Options {
        std::string address = "127.0.0.1";
        uint16_t port = 0;  // 0: the kernel picks; see Port()
        std::size_t max_connections = 10'000;
        // Live streams one tenant may hold on this replica (one tenant must not take them all).
        std::size_t max_streams_per_tenant = 100;
        std::size_t max_buffered_bytes = 1 << 20;
        std::chrono::milliseconds heartbeat{15'000};
        std::chrono::milliseconds poll_interval{1'000};     // fallback when NOTIFY is lost
        std::chrono::milliseconds request_timeout{10'000};  // to send the request headers
        std::chrono::milliseconds revalidate_interval{1'000};
        // Told, on the stream's thread, of every change read from the feed (its tenant),
        // and whether the feed is followed (false after a failure to read it): the list
        // cache's invalidation.
        std::function<void(const std::string& tenant_id)> on_change;
        std::function<void(bool live)> on_live;
    };

    EventStreamServer(Options options, ChangeFeed& feed, http::Authenticator& authenticator,
                      http::RateLimiter& client_limiter, metrics::Registry& registry);
    ~EventStreamServer() override;
    EventStreamServer(const EventStreamServer&) = delete;
    EventStreamServer& operator=(const EventStreamServer&) = delete;

    // Checks the route and its answers against docs/openapi.yaml (throws std::logic_error
    // when they differ), binds and starts the thread; throws if the port cannot be bound.
    void Start();
    void Stop();
    [[nodiscard]] uint16_t Port() const { return transport_.Port(); }

private:
    // Who an open stream is for.
    struct Subscriber {
        std::string tenant_id;
        bool admin = false;
        std::string token_sha256;
    };

    [[nodiscard]] std::set<int> RefusalStatuses() const override;
    http::SseAnswer OnRequest(const http::SseRequest& request) override;
    void OnOpened(http::SseStreamId id) override;
    void OnClosed(http::SseStreamId id) override;
    int WakeFd() override { return feed_.WakeFd(); }
    void OnWake() override { feed_.Drain(); }
    void OnPoll() override {
        Broadcast();
        BroadcastRollouts();
    }
    void OnSweep(std::chrono::steady_clock::time_point now) override;

    // Sends the changes after `after` of the stream's tenant up to the head; false when the
    // stream ended meanwhile.
    bool CatchUp(http::SseStreamId id, int64_t after);
    void Broadcast();
    // Sends the rollouts changed since the last call to the admins' streams.
    void BroadcastRollouts();

    Options options_;
    ChangeFeed& feed_;
    http::Authenticator& authenticator_;
    http::RateLimiter& client_limiter_;
    metrics::Counter& events_sent_;
    int64_t head_ = 0;  // every change up to here has been broadcast
    bool head_known_ = false;
    std::chrono::steady_clock::time_point last_revalidation_{};
    std::map<http::SseStreamId, Subscriber> subscribers_;
    std::unordered_map<http::SseStreamId, int64_t>
        resume_after_;  // accepted, catch-up not yet sent
    std::unordered_map<std::string, std::size_t> streams_of_tenant_;  // live streams per tenant
    // The last frame broadcast of each rollout seen (a few per day), so a re-read sends only
    // what changed.
    std::unordered_map<std::string, std::string> rollout_frames_;
    bool rollouts_missed_ = false;  // a read failed: the next one reads every active rollout
    http::SseServer transport_;
};

// The SSE frame of one change: `id: <change id>`, `event: store`, `data: <store JSON>`.
std::string StoreEventFrame(const ChangeLogEntry& change);

}  // namespace storefleet::query
