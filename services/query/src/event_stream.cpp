#include "event_stream.hpp"

#include "storefleet/http/client_address.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <unordered_map>

#include "storefleet/common/log.hpp"
#include "storefleet/http/json_response.hpp"

namespace storefleet::query {

using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kPath = "/api/v1/stores/events";
constexpr std::size_t kMaxRequestBytes = 8 * 1024;
constexpr int kCatchUpPage = 500;

std::string Lower(std::string text) {
    for (auto& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return text;
}

std::string Trim(const std::string& text) {
    const auto begin = text.find_first_not_of(" \t");
    if (begin == std::string::npos) return "";
    const auto end = text.find_last_not_of(" \t\r");
    return text.substr(begin, end - begin + 1);
}

const char* Reason(int status) {
    switch (status) {
        case 400: return "Bad Request";
        case 401: return "Unauthorized";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 431: return "Request Header Fields Too Large";
        case 429: return "Too Many Requests";
        case 503: return "Service Unavailable";
        default: return "Error";
    }
}

}  // namespace

std::string StoreEventFrame(const StoreChange& change) {
    // nlohmann's compact dump has no newline, so the data fits one `data:` line.
    return "id: " + std::to_string(change.change_id) + "\nevent: store\ndata: " + ToJson(change.store).dump() + "\n\n";
}

struct EventStreamServer::Connection {
    int fd = -1;
    std::string peer;
    std::string in;
    std::string out;
    std::size_t out_offset = 0;  // bytes of `out` already written
    bool streaming = false;
    bool closing = false;  // close once `out` is written
    bool want_write = false;
    std::string tenant_id;
    bool admin = false;
    std::string token_sha256;
    Clock::time_point opened;
};

EventStreamServer::EventStreamServer(Options options, ChangeFeed& feed, http::Authenticator& authenticator,
                                     http::RateLimiter& client_limiter, metrics::Registry& registry)
    : options_(std::move(options)),
      feed_(feed),
      authenticator_(authenticator),
      client_limiter_(client_limiter),
      open_streams_(registry.GetGauge("storefleet_query_streams_open", "Live status streams (SSE) open now.")),
      events_sent_(registry.GetCounter("storefleet_query_stream_events_total", "Store events written to streams.")),
      slow_clients_(registry.GetCounter("storefleet_query_stream_slow_clients_total",
                                        "Streams cut off because the client did not read.")),
      accept_pauses_(registry.GetCounter("storefleet_query_stream_accept_pauses_total",
                                         "Times the stream stopped accepting for a moment: out of file descriptors.")) {}

EventStreamServer::~EventStreamServer() { Stop(); }

void EventStreamServer::Start() {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (listen_fd_ < 0) throw std::runtime_error(std::string("stream: socket: ") + std::strerror(errno));
    int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(options_.port);
    if (::inet_pton(AF_INET, options_.address.c_str(), &address.sin_addr) != 1) {
        throw std::runtime_error("stream: not an IPv4 address: " + options_.address);
    }
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
        ::listen(listen_fd_, 1024) != 0) {
        throw std::runtime_error("stream: cannot listen on " + options_.address + ":" +
                                 std::to_string(options_.port) + ": " + std::strerror(errno));
    }
    socklen_t length = sizeof(address);
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
    stop_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    for (int fd : {listen_fd_, stop_fd_}) {
        epoll_event event{};
        event.events = EPOLLIN;
        event.data.fd = fd;
        ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event);
    }
    running_ = true;
    thread_ = std::thread([this] { Run(); });
    log::Info("stream server listening", {{"address", options_.address}, {"port", port_}});
}

void EventStreamServer::Stop() {
    if (!thread_.joinable()) return;
    running_ = false;
    const uint64_t one = 1;
    [[maybe_unused]] auto written = ::write(stop_fd_, &one, sizeof(one));
    thread_.join();
    while (!connections_.empty()) Close(connections_.begin()->first);
    for (int fd : {listen_fd_, epoll_fd_, stop_fd_}) {
        if (fd >= 0) ::close(fd);
    }
    listen_fd_ = epoll_fd_ = stop_fd_ = -1;
}

void EventStreamServer::Run() {
    std::array<epoll_event, 256> events{};
    auto next_poll = Clock::now();
    auto next_sweep = Clock::now() + std::chrono::seconds(1);
    UpdateWakeFd();
    while (running_) {
        const auto now = Clock::now();
        if (accept_paused_until_ && now >= *accept_paused_until_) {
            accept_paused_until_.reset();
            epoll_event listen_event{};
            listen_event.events = EPOLLIN;
            listen_event.data.fd = listen_fd_;
            ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &listen_event);
        }
        auto until = std::min(next_poll, next_sweep);
        if (accept_paused_until_) until = std::min(until, *accept_paused_until_);
        const int timeout = until <= now ? 0 : static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(until - now).count());
        const int ready = ::epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), timeout);
        bool woken = false;
        for (int i = 0; i < ready && running_; ++i) {
            const int fd = events[i].data.fd;
            const uint32_t what = events[i].events;
            if (fd == stop_fd_) {
                running_ = false;
            } else if (fd == listen_fd_) {
                Accept();
            } else if (fd == wake_fd_) {
                feed_.Drain();
                UpdateWakeFd();  // at once: a reopened listener may have a new descriptor
                woken = true;
            } else if (auto found = connections_.find(fd); found != connections_.end()) {
                if ((what & (EPOLLERR | EPOLLHUP)) != 0) {
                    Close(fd);
                    continue;
                }
                if ((what & EPOLLIN) != 0) OnReadable(found->second);
                found = connections_.find(fd);
                if (found != connections_.end() && (what & EPOLLOUT) != 0) Flush(found->second);
            }
        }
        const auto after = Clock::now();
        if (woken || after >= next_poll) {
            Broadcast();
            UpdateWakeFd();
            next_poll = after + options_.poll_interval;
        }
        if (after >= next_sweep) {
            Sweep(after);
            next_sweep = after + std::chrono::seconds(1);
        }
    }
}

void EventStreamServer::UpdateWakeFd() {
    int fd = -1;
    try {
        fd = feed_.WakeFd();
    } catch (const std::exception& error) {
        log::Warn("stream: no change notifications; polling", {{"error", error.what()}});
    }
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.fd = fd;
    if (fd != wake_fd_) {
        if (wake_fd_ >= 0) ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, wake_fd_, nullptr);
        wake_fd_ = fd;
        if (fd >= 0) ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event);
    } else if (fd >= 0 && ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &event) != 0 && errno == ENOENT) {
        // The same number, but a new connection: the old one left epoll when it closed.
        ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event);
    }
}

void EventStreamServer::Accept() {
    for (;;) {
        sockaddr_in peer{};
        socklen_t length = sizeof(peer);
        const int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&peer), &length, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                // The pending connection stays in the backlog and the listener stays readable:
                // without a pause the loop would spin on it. Retried in 100 ms.
                ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, listen_fd_, nullptr);
                accept_paused_until_ = Clock::now() + std::chrono::milliseconds(100);
                accept_pauses_.Inc();
                log::Warn("stream: out of file descriptors; not accepting for 100 ms",
                          {{"error", std::strerror(errno)}, {"open", connections_.size()}});
            }
            return;  // EAGAIN, or an error the next wake-up retries
        }
        char text[INET_ADDRSTRLEN] = {};
        ::inet_ntop(AF_INET, &peer.sin_addr, text, sizeof(text));
        Connection connection;
        connection.fd = fd;
        connection.peer = text;
        connection.opened = Clock::now();
        epoll_event event{};
        event.events = EPOLLIN;
        event.data.fd = fd;
        ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event);
        auto& stored = connections_[fd] = std::move(connection);
        if (connections_.size() > options_.max_connections) {
            Answer(stored, 503, "unavailable", "too many live streams on this replica; retry shortly", "Retry-After: 5\r\n");
        }
    }
}

void EventStreamServer::OnReadable(Connection& connection) {
    char buffer[4096];
    for (;;) {
        const ssize_t got = ::recv(connection.fd, buffer, sizeof(buffer), 0);
        if (got == 0) {
            Close(connection.fd);
            return;
        }
        if (got < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK) Close(connection.fd);
            return;
        }
        if (connection.streaming || connection.closing) continue;  // nothing more is expected
        connection.in.append(buffer, static_cast<std::size_t>(got));
        if (connection.in.find("\r\n\r\n") != std::string::npos) {
            OnRequest(connection);
            return;
        }
        if (connection.in.size() > kMaxRequestBytes) {
            Answer(connection, 431, "invalid_request", "request headers larger than 8 KiB");
            return;
        }
    }
}

void EventStreamServer::OnRequest(Connection& connection) {
    const std::string head = connection.in.substr(0, connection.in.find("\r\n\r\n"));
    connection.in.clear();
    const auto line_end = head.find("\r\n");
    const std::string request_line = head.substr(0, line_end);
    std::unordered_map<std::string, std::string> headers;
    for (std::size_t at = line_end; at != std::string::npos && at < head.size();) {
        const auto next = head.find("\r\n", at + 2);
        const std::string line = head.substr(at + 2, next == std::string::npos ? std::string::npos : next - at - 2);
        const auto colon = line.find(':');
        if (colon != std::string::npos) headers[Lower(Trim(line.substr(0, colon)))] = Trim(line.substr(colon + 1));
        at = next;
    }
    const auto first_space = request_line.find(' ');
    const auto second_space = request_line.find(' ', first_space + 1);
    if (first_space == std::string::npos || second_space == std::string::npos) {
        Answer(connection, 400, "invalid_request", "malformed request line");
        return;
    }
    const std::string method = request_line.substr(0, first_space);
    std::string target = request_line.substr(first_space + 1, second_space - first_space - 1);
    target = target.substr(0, target.find('?'));
    if (target != kPath) {
        Answer(connection, 404, "not_found", "no such endpoint");
        return;
    }
    if (method != "GET") {
        Answer(connection, 405, "method_not_allowed", "this path answers GET only", "Allow: GET\r\n");
        return;
    }
    // The same order as the REST API: the per-address limiter before any token lookup.
    auto header = [&headers](const char* name) {
        auto found = headers.find(name);
        return found == headers.end() ? std::string() : found->second;
    };
    const std::string client = http::ResolveClientAddress(connection.peer, header("x-forwarded-for"),
                                                          header("x-real-ip"), http::CurrentTrustedProxies());
    std::chrono::milliseconds retry_after{0};
    if (!client_limiter_.Allow(client, http::RateLimiter::Clock::now(), retry_after)) {
        const auto seconds = std::max<int64_t>(1, (retry_after.count() + 999) / 1000);
        Answer(connection, 429, "rate_limited", "too many requests from this client address; retry after " +
                                                    std::to_string(seconds) + " s",
               "Retry-After: " + std::to_string(seconds) + "\r\n");
        return;
    }
    const auto authorization = headers.find("authorization");
    const std::string sha = authorization == headers.end() ? "" : http::Authenticator::TokenSha256(authorization->second);
    if (sha.empty()) {
        Answer(connection, 401, "unauthorized", "send an API token as 'Authorization: Bearer <token>'",
               "WWW-Authenticate: Bearer\r\n");
        return;
    }
    std::optional<http::Principal> principal;
    try {
        principal = authenticator_.ResolveSha256(sha, Clock::now());
    } catch (const std::exception& error) {
        log::Warn("stream: token lookup failed; answering 503", {{"error", error.what()}});
        Answer(connection, 503, "unavailable", "the read model cannot answer right now; retry shortly", "Retry-After: 1\r\n");
        return;
    }
    if (!principal) {
        Answer(connection, 401, "unauthorized", "unknown, expired or revoked API token",
               "WWW-Authenticate: Bearer error=\"invalid_token\"\r\n");
        return;
    }
    std::optional<int64_t> resume_after;
    if (auto last = headers.find("last-event-id"); last != headers.end() && !last->second.empty()) {
        int64_t id = -1;
        const auto& text = last->second;
        auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), id);
        if (error != std::errc() || end != text.data() + text.size() || id < 0) {
            Answer(connection, 400, "invalid_request", "Last-Event-ID must be the id of an event this stream sent");
            return;
        }
        resume_after = id;
    }
    if (streams_of_tenant_[principal->tenant_id] >= options_.max_streams_per_tenant) {
        Answer(connection, 429, "too_many_streams",
               "this tenant already has " + std::to_string(options_.max_streams_per_tenant) +
                   " live streams on this replica; close one or retry later",
               "Retry-After: 5\r\n");
        return;
    }
    const int fd = connection.fd;
    bool started = false;
    try {
        if (!head_known_) Broadcast();
        if (!head_known_) throw std::runtime_error("the change log cannot be read");
        connection.tenant_id = principal->tenant_id;
        connection.admin = principal->admin;
        connection.token_sha256 = sha;
        connection.streaming = true;
        ++streams_of_tenant_[connection.tenant_id];
        started = true;
        // Any Send may close the connection (the client went away): look it up again after.
        Send(connection,
             "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\n"
             "X-Accel-Buffering: no\r\nConnection: close\r\n\r\nretry: 2000\n\n");
        if (!connections_.contains(fd)) return;
        if (resume_after && !CatchUp(connections_.at(fd), *resume_after)) return;
        Send(connections_.at(fd),
             "id: " + std::to_string(head_) + "\nevent: open\ndata: {\"head\":\"" + std::to_string(head_) + "\"}\n\n");
        open_streams_.Set(static_cast<double>(connections_.size()));
    } catch (const std::exception& error) {
        log::Warn("stream: cannot read the change log; answering 503", {{"error", error.what()}});
        if (!connections_.contains(fd)) return;
        if (started) {
            Close(fd);  // the headers may be out already: the client reconnects
        } else {
            Answer(connections_.at(fd), 503, "unavailable", "the read model cannot answer right now; retry shortly",
                   "Retry-After: 1\r\n");
        }
    }
}

bool EventStreamServer::CatchUp(Connection& connection, int64_t after) {
    const int fd = connection.fd;
    const int64_t oldest = feed_.Oldest();
    if (after > head_ || (oldest > 0 && after < oldest - 1)) {
        // Changes were pruned (or the id is not one of ours): the client must re-read.
        Send(connection, "event: reset\ndata: {\"reason\":\"Last-Event-ID is outside the 24 h replay window; "
                         "read the list again\"}\n\n");
        return connections_.contains(fd);
    }
    const std::string tenant = connection.admin ? "" : connection.tenant_id;
    while (after < head_) {
        auto changes = feed_.After(after, tenant, kCatchUpPage);
        for (const auto& change : changes) {
            if (change.change_id > head_) return connections_.contains(fd);  // the broadcast sends those
            Send(connections_.at(fd), StoreEventFrame(change));
            if (!connections_.contains(fd)) return false;
            events_sent_.Inc();
            after = change.change_id;
        }
        if (changes.size() < static_cast<std::size_t>(kCatchUpPage)) break;
    }
    return connections_.contains(fd);
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
            auto changes = feed_.After(head_, "", 1000);
            for (const auto& change : changes) {
                if (options_.on_change) options_.on_change(change.tenant_id);
                const std::string frame = StoreEventFrame(change);
                std::vector<int> to;
                for (auto& [fd, connection] : connections_) {
                    if (connection.streaming && !connection.closing &&
                        (connection.admin || connection.tenant_id == change.tenant_id)) {
                        to.push_back(fd);
                    }
                }
                for (int fd : to) {
                    if (auto found = connections_.find(fd); found != connections_.end()) {
                        Send(found->second, frame);
                        events_sent_.Inc();
                    }
                }
                head_ = change.change_id;
            }
            if (changes.size() < 1000) break;
        }
        if (options_.on_live) options_.on_live(true);
    } catch (const std::exception& error) {
        if (options_.on_live) options_.on_live(false);
        log::Warn("stream: cannot read new store changes; retrying", {{"error", error.what()}});
    }
}

void EventStreamServer::Sweep(Clock::time_point now) {
    if (last_heartbeat_ == Clock::time_point{}) last_heartbeat_ = last_revalidation_ = now;
    const bool heartbeat = now - last_heartbeat_ >= options_.heartbeat;
    if (heartbeat) last_heartbeat_ = now;
    std::vector<int> fds;
    for (const auto& [fd, connection] : connections_) fds.push_back(fd);
    for (int fd : fds) {
        auto found = connections_.find(fd);
        if (found == connections_.end()) continue;
        Connection& connection = found->second;
        if (!connection.streaming && !connection.closing && now - connection.opened > options_.request_timeout) {
            Close(fd);
        } else if (connection.streaming && heartbeat) {
            Send(connection, ": keep-alive\n\n");
        }
    }
    if (now - last_revalidation_ >= options_.revalidate_interval) {
        last_revalidation_ = now;
        // A revoked or expired token ends its streams (the authenticator's cache keeps an
        // answer for about a second, so this costs one lookup per token per second).
        std::unordered_map<std::string, bool> valid;
        fds.clear();
        for (const auto& [fd, connection] : connections_) {
            if (connection.streaming) fds.push_back(fd);
        }
        for (int fd : fds) {
            auto found = connections_.find(fd);
            if (found == connections_.end()) continue;
            const std::string sha = found->second.token_sha256;
            if (!valid.contains(sha)) {
                try {
                    valid[sha] = authenticator_.ResolveSha256(sha, now).has_value();
                } catch (const std::exception&) {
                    valid[sha] = true;  // the database is away: keep streaming, check again later
                }
            }
            if (!valid[sha]) Close(fd);
        }
    }
    open_streams_.Set(static_cast<double>(connections_.size()));
}

void EventStreamServer::Send(Connection& connection, const std::string& bytes) {
    if (connection.out.size() - connection.out_offset + bytes.size() > options_.max_buffered_bytes) {
        slow_clients_.Inc();
        log::Warn("stream: client does not read; closing its stream", {{"client", connection.peer}});
        Close(connection.fd);
        return;
    }
    connection.out += bytes;
    Flush(connection);
}

void EventStreamServer::Flush(Connection& connection) {
    while (connection.out_offset < connection.out.size()) {
        const ssize_t sent = ::send(connection.fd, connection.out.data() + connection.out_offset,
                                    connection.out.size() - connection.out_offset, MSG_NOSIGNAL);
        if (sent > 0) {
            connection.out_offset += static_cast<std::size_t>(sent);
            continue;
        }
        if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!connection.want_write) {
                epoll_event event{};
                event.events = EPOLLIN | EPOLLOUT;
                event.data.fd = connection.fd;
                ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, connection.fd, &event);
                connection.want_write = true;
            }
            return;
        }
        Close(connection.fd);
        return;
    }
    connection.out.clear();
    connection.out_offset = 0;
    if (connection.want_write) {
        epoll_event event{};
        event.events = EPOLLIN;
        event.data.fd = connection.fd;
        ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, connection.fd, &event);
        connection.want_write = false;
    }
    if (connection.closing) Close(connection.fd);
}

void EventStreamServer::Answer(Connection& connection, int status, const std::string& code, const std::string& detail,
                               const std::string& extra_headers) {
    const std::string body =
        http::ProblemJson({static_cast<Pistache::Http::Code>(status), code, detail, {}}).dump() + "\n";
    connection.closing = true;
    connection.out += "HTTP/1.1 " + std::to_string(status) + " " + Reason(status) +
                      "\r\nContent-Type: application/problem+json\r\nContent-Length: " + std::to_string(body.size()) +
                      "\r\nConnection: close\r\n" + extra_headers + "\r\n" + body;
    Flush(connection);
}

void EventStreamServer::Close(int fd) {
    auto found = connections_.find(fd);
    if (found == connections_.end()) return;
    if (found->second.streaming) {
        auto count = streams_of_tenant_.find(found->second.tenant_id);
        if (count != streams_of_tenant_.end() && --count->second == 0) streams_of_tenant_.erase(count);
    }
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
    ::close(fd);
    connections_.erase(found);
    open_streams_.Set(static_cast<double>(connections_.size()));
}

}  // namespace storefleet::query
