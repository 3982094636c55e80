#pragma once

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "storefleet/http/server.hpp"
#include "storefleet/metrics/registry.hpp"

namespace storefleet::http {

// Names one accepted stream for as long as it is open. Never reused, unlike a descriptor, so
// a handle kept past the stream's end names nothing rather than a newer connection.
using SseStreamId = uint64_t;

// A request for the stream's path with GET, as SseServer parsed it.
struct SseRequest {
    SseStreamId id = 0;          // the stream's handle if it is accepted
    std::string path;            // without the query
    std::string client_address;  // ResolveClientAddress: the peer, or who trusted proxies name
    std::unordered_map<std::string, std::string> headers;  // names lower-case; the last one wins

    // The header's value ("" when absent); `lower_case_name` as "last-event-id".
    [[nodiscard]] std::string Header(const std::string& lower_case_name) const;
};

// Accepted: 200 with the Server-Sent Events headers, then `first_payload`; OnOpened follows.
struct SseAcceptance {
    std::string first_payload;
};

// Refused: `status` with an application/problem+json body (ProblemJson: `code`, `detail`)
// and `headers` (as "Retry-After"/"5"); the connection then closes.
struct SseRefusal {
    int status = 503;
    std::string code;
    std::string detail;
    std::vector<std::pair<std::string, std::string>> headers;
};

using SseAnswer = std::variant<SseAcceptance, SseRefusal>;

// What a stream is for: SseServer owns the sockets and calls this, always on its one thread,
// so an implementation needs no lock for the state these calls share.
class SseHandler {
public:
    virtual ~SseHandler() = default;
    // Every status OnRequest may refuse with; SseServer checks them, with its own, against
    // the public API's document (SseServer::CheckPublicApi).
    [[nodiscard]] virtual std::set<int> RefusalStatuses() const = 0;
    // A complete request for the path: accept it or refuse it.
    virtual SseAnswer OnRequest(const SseRequest& request) = 0;
    // Accepted and its headers queued: send what it gets first (a catch-up). Not called when
    // the client went away meanwhile.
    virtual void OnOpened(SseStreamId id) = 0;
    // An accepted stream ended: the client went away or was too slow, Close(), or Stop().
    virtual void OnClosed(SseStreamId id) = 0;

    // A descriptor that becomes readable when there is something to send (-1: none now, the
    // server polls instead). Asked at start, after each wake-up and after each OnPoll: the
    // answer may change (a reconnected source).
    virtual int WakeFd() = 0;
    // WakeFd was readable: consume what made it so. OnPoll follows.
    virtual void OnWake() = 0;
    // After a wake-up, and every `poll_interval` when none comes: send what is new.
    virtual void OnPoll() = 0;
    // About once a second, after the keep-alives: checks that need time (revalidation).
    virtual void OnSweep(std::chrono::steady_clock::time_point now) = 0;
};

// A Server-Sent Events endpoint on a port of its own: one path, GET, any number of
// long-lived streams on one epoll thread (an idle stream costs a socket and a few hundred
// bytes). It parses the request line and headers (431 past 8 KiB; 400, 404, 405 as problems),
// resolves the client address (client_address.hpp), asks the handler, writes the 200 or the
// problem, and then keeps each stream: a comment every `heartbeat` so proxies do not time it
// out, a client that does not read (more than `max_buffered_bytes` waiting) cut off (it
// reconnects), a request not complete within `request_timeout` dropped. Past
// `max_connections` a connection is answered 503. Out of file descriptors, it stops
// accepting for 100 ms instead of spinning on the listener, and the open streams go on.
//
// Metrics (`metrics_prefix` + ...): streams_open (connections open now, gauge),
// stream_slow_clients_total, stream_accept_pauses_total.
//
// Lifecycle: constructed, Start() (binds and starts the thread), Stop() (joins it and closes
// every connection, each accepted one told to OnClosed). Send, Close and IsOpen are for the
// handler, on the server's thread only.
class SseServer {
public:
    struct Options {
        std::string address = "127.0.0.1";
        uint16_t port = 0;  // 0: the kernel picks; see Port()
        std::string path;   // the one path served, as "/api/v1/stores/events"
        std::size_t max_connections = 10'000;
        std::size_t max_buffered_bytes = 1 << 20;
        std::chrono::milliseconds heartbeat{15'000};
        std::chrono::milliseconds poll_interval{1'000};
        std::chrono::milliseconds request_timeout{10'000};  // to send the request headers
        std::string metrics_prefix = "storefleet_sse_";
    };

    SseServer(Options options, SseHandler& handler, metrics::Registry& registry);
    ~SseServer();
    SseServer(const SseServer&) = delete;
    SseServer& operator=(const SseServer&) = delete;

    // The public API's route table (PublicApiRoutes()) must give `service` exactly this
    // server's route, GET `path`, and the OpenAPI document (`openapi`, as JSON) must list
    // exactly the statuses it can answer there: 200, 431, 503 (past max_connections) and
    // the handler's RefusalStatuses(). Throws std::logic_error naming every difference, so
    // the document and the stream cannot drift apart, as HttpServer::ServePublicApiAs does
    // for the REST routes.
    void CheckPublicApi(const std::string& service, const std::vector<PublicRoute>& public_routes,
                        const nlohmann::json& openapi) const;
    // The statuses this server and its handler can answer on the path.
    [[nodiscard]] std::set<int> Statuses() const;

    // Binds and starts the thread; throws if the port cannot be bound.
    void Start();
    void Stop();
    [[nodiscard]] uint16_t Port() const { return port_; }

    // Queues `bytes` on the stream and writes what the socket takes now. False when the
    // stream is not open (any more): gone, or cut off now because the client does not read.
    bool Send(SseStreamId id, std::string_view bytes);
    void Close(SseStreamId id);
    [[nodiscard]] bool IsOpen(SseStreamId id) const;

private:
    struct Connection;
    void Run();
    void Accept();
    void OnReadable(Connection& connection);
    void OnRequest(Connection& connection);
    void Flush(Connection& connection);
    void Close(Connection& connection);
    bool Send(Connection& connection, std::string_view bytes);
    void Answer(Connection& connection, const SseRefusal& refusal);
    void Sweep(std::chrono::steady_clock::time_point now);
    void UpdateWakeFd();
    void Watch(int operation, int fd, uint32_t events, uint64_t key);

    Options options_;
    SseHandler& handler_;
    metrics::Gauge& open_connections_;
    metrics::Counter& slow_clients_;
    metrics::Counter& accept_pauses_;
    int listen_fd_ = -1;
    // Out of descriptors: the listener leaves epoll until then (it would wake the loop again
    // at once, for ever), and the connections already open go on.
    std::optional<std::chrono::steady_clock::time_point> accept_paused_until_;
    int epoll_fd_ = -1;
    int stop_fd_ = -1;
    int wake_fd_ = -1;  // the handler's, as registered with epoll
    uint16_t port_ = 0;
    std::chrono::steady_clock::time_point last_heartbeat_{};
    // Every connection by its key, which epoll carries too; accepted ones' keys are their
    // SseStreamId.
    std::map<uint64_t, Connection> connections_;
    uint64_t next_key_;
    std::thread thread_;
    std::atomic<bool> running_{false};
};

// Each stream is a socket: raises the soft limit on open files to the hard one (often 1024
// soft). Returns the soft limit now.
uint64_t RaiseOpenFileLimit();

}  // namespace storefleet::http
