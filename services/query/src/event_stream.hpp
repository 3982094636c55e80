#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <cstdint>
#include <map>
#include <optional>
#include <unordered_map>
#include <string>
#include <thread>

#include "change_feed.hpp"
#include "storefleet/http/auth.hpp"
#include "storefleet/http/rate_limiter.hpp"
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
// reconnects from there misses nothing either. A comment every `heartbeat` keeps proxies
// from timing the stream out. A token revoked or expired ends its streams within about a
// second.
//
// One thread serves every connection with epoll: an idle stream costs a socket and a few
// hundred bytes. A client that does not read (more than `max_buffered_bytes` waiting) is
// cut off; it reconnects with its Last-Event-ID. The limiter and the authenticator run
// before anything is streamed, as in the REST API.
class EventStreamServer {
  public:
    struct Options {
        std::string address = "127.0.0.1";
        uint16_t port = 0;  // 0: the kernel picks; see Port()
        std::size_t max_connections = 10'000;
        // Live streams one tenant may hold on this replica (one tenant must not take them all).
        std::size_t max_streams_per_tenant = 100;
        std::size_t max_buffered_bytes = 1 << 20;
        std::chrono::milliseconds heartbeat{15'000};
        std::chrono::milliseconds poll_interval{1'000};    // fallback when NOTIFY is lost
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
    ~EventStreamServer();
    EventStreamServer(const EventStreamServer&) = delete;
    EventStreamServer& operator=(const EventStreamServer&) = delete;

    // Binds and starts the thread; throws if the port cannot be bound.
    void Start();
    void Stop();
    [[nodiscard]] uint16_t Port() const { return port_; }

  private:
    struct Connection;
    void Run();
    void Accept();
    void OnReadable(Connection& connection);
    void OnRequest(Connection& connection);
    void Flush(Connection& connection);
    void Close(int fd);
    void Send(Connection& connection, const std::string& bytes);
    void Answer(Connection& connection, int status, const std::string& code, const std::string& detail,
                const std::string& extra_headers = "");
    bool CatchUp(Connection& connection, int64_t after);
    void Broadcast();
    void Sweep(std::chrono::steady_clock::time_point now);
    void UpdateWakeFd();

    Options options_;
    ChangeFeed& feed_;
    http::Authenticator& authenticator_;
    http::RateLimiter& client_limiter_;
    metrics::Gauge& open_streams_;
    metrics::Counter& events_sent_;
    metrics::Counter& slow_clients_;
    metrics::Counter& accept_pauses_;
    int listen_fd_ = -1;
    // Out of descriptors: the listener leaves epoll until then (it would wake the loop again
    // at once, for ever), and the connections already open go on.
    std::optional<std::chrono::steady_clock::time_point> accept_paused_until_;
    int epoll_fd_ = -1;
    int stop_fd_ = -1;
    int wake_fd_ = -1;  // the feed's, as registered with epoll
    uint16_t port_ = 0;
    int64_t head_ = 0;  // every change up to here has been broadcast
    bool head_known_ = false;
    std::chrono::steady_clock::time_point last_heartbeat_{};
    std::chrono::steady_clock::time_point last_revalidation_{};
    std::map<int, Connection> connections_;
    std::unordered_map<std::string, std::size_t> streams_of_tenant_;  // live streams per tenant
    std::thread thread_;
    std::atomic<bool> running_{false};
};

// The SSE frame of one change: `id: <change id>`, `event: store`, `data: <store JSON>`.
std::string StoreEventFrame(const StoreChange& change);

}  // namespace storefleet::query
