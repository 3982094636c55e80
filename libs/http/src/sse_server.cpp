#include "storefleet/http/sse_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "storefleet/common/log.hpp"
#include "storefleet/http/client_address.hpp"
#include "storefleet/http/json_response.hpp"

namespace storefleet::http {

using Clock = std::chrono::steady_clock;

namespace {

constexpr std::size_t kMaxRequestBytes = 8 * 1024;
// epoll keys that are not connections; connections count up from kFirstConnectionKey.
constexpr uint64_t kListenKey = 1;
constexpr uint64_t kStopKey = 2;
constexpr uint64_t kWakeKey = 3;
constexpr uint64_t kFirstConnectionKey = 16;

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

std::string ReplaceAll(std::string text, const std::string& from, const std::string& to) {
    for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
        text.replace(at, from.size(), to);
    return text;
}

const char* Reason(int status) {
    switch (status) {
        case 400:
            return "Bad Request";
        case 401:
            return "Unauthorized";
        case 403:
            return "Forbidden";
        case 404:
            return "Not Found";
        case 405:
            return "Method Not Allowed";
        case 431:
            return "Request Header Fields Too Large";
        case 429:
            return "Too Many Requests";
        case 503:
            return "Service Unavailable";
        default:
            return "Error";
    }
}

}  // namespace

std::string SseRequest::Header(const std::string& lower_case_name) const {
    auto found = headers.find(lower_case_name);
    return found == headers.end() ? std::string() : found->second;
}

struct SseServer::Connection {
    int fd = -1;
    uint64_t key = 0;
    std::string peer;
    std::string in;
    std::string out;
    std::size_t out_offset = 0;  // bytes of `out` already written
    bool streaming = false;
    bool closing = false;  // close once `out` is written
    bool want_write = false;
    Clock::time_point opened;
};

SseServer::SseServer(Options options, SseHandler& handler, metrics::Registry& registry)
    : options_(std::move(options)),
      handler_(handler),
      open_connections_(registry.GetGauge(options_.metrics_prefix + "streams_open",
                                          "Live status streams (SSE) open now.")),
      slow_clients_(registry.GetCounter(options_.metrics_prefix + "stream_slow_clients_total",
                                        "Streams cut off because the client did not read.")),
      accept_pauses_(registry.GetCounter(
          options_.metrics_prefix + "stream_accept_pauses_total",
          "Times the stream stopped accepting for a moment: out of file descriptors.")),
      next_key_(kFirstConnectionKey) {}

SseServer::~SseServer() { Stop(); }

std::set<int> SseServer::Statuses() const {
    std::set<int> statuses = handler_.RefusalStatuses();
    // Accepted; headers past 8 KiB; past max_connections.
    statuses.insert({200, 431, 503});
    return statuses;
}

void SseServer::CheckPublicApi(const std::string& service,
                               const std::vector<PublicRoute>& public_routes,
                               const nlohmann::json& openapi) const {
    std::string differences;
    bool documented = false;
    for (const auto& route : public_routes) {
        if (route.service != service) continue;
        if (route.method == "GET" && route.pattern == options_.path) {
            documented = true;
        } else {
            differences +=
                " documented but not served: " + route.method + " " + route.pattern + ";";
        }
    }
    if (!documented) differences += " served but not documented: GET " + options_.path + ";";
    std::set<int> listed;
    const auto operation = nlohmann::json::json_pointer(
        "/paths/" + ReplaceAll(options_.path, "/", "~1") + "/get/responses");
    if (openapi.contains(operation) && openapi.at(operation).is_object()) {
        for (const auto& [status, response] : openapi.at(operation).items()) {
            if (!status.empty() && std::all_of(status.begin(), status.end(), ::isdigit))
                listed.insert(std::stoi(status));
        }
    }
    const std::set<int> answered = Statuses();
    for (int status : answered) {
        if (!listed.contains(status))
            differences +=
                " answers " + std::to_string(status) + " but the document does not list it;";
    }
    for (int status : listed) {
        if (!answered.contains(status))
            differences +=
                " the document lists " + std::to_string(status) + " but it never answers it;";
    }
    if (!differences.empty()) {
        throw std::logic_error("SseServer: the " + service +
                               " service's route differs from docs/openapi.yaml:" + differences);
    }
}

void SseServer::Watch(int operation, int fd, uint32_t events, uint64_t key) {
    epoll_event event{};
    event.events = events;
    event.data.u64 = key;
    ::epoll_ctl(epoll_fd_, operation, fd, &event);
}

void SseServer::Start() {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (listen_fd_ < 0)
        throw std::runtime_error(std::string("stream: socket: ") + std::strerror(errno));
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
    Watch(EPOLL_CTL_ADD, listen_fd_, EPOLLIN, kListenKey);
    Watch(EPOLL_CTL_ADD, stop_fd_, EPOLLIN, kStopKey);
    running_ = true;
    thread_ = std::thread([this] { Run(); });
    log::Info("stream server listening", {{"address", options_.address}, {"port", port_}});
}

void SseServer::Stop() {
    if (!thread_.joinable()) return;
    running_ = false;
    const uint64_t one = 1;
    [[maybe_unused]] auto written = ::write(stop_fd_, &one, sizeof(one));
    thread_.join();
    while (!connections_.empty()) Close(connections_.begin()->second);
    for (int fd : {listen_fd_, epoll_fd_, stop_fd_}) {
        if (fd >= 0) ::close(fd);
    }
    listen_fd_ = epoll_fd_ = stop_fd_ = -1;
}

void SseServer::Run() {
    std::array<epoll_event, 256> events{};
    auto next_poll = Clock::now();
    auto next_sweep = Clock::now() + std::chrono::seconds(1);
    UpdateWakeFd();
    while (running_) {
        const auto now = Clock::now();
        if (accept_paused_until_ && now >= *accept_paused_until_) {
            accept_paused_until_.reset();
            Watch(EPOLL_CTL_ADD, listen_fd_, EPOLLIN, kListenKey);
        }
        auto until = std::min(next_poll, next_sweep);
        if (accept_paused_until_) until = std::min(until, *accept_paused_until_);
        const int timeout =
            until <= now ? 0
                         : static_cast<int>(
                               std::chrono::ceil<std::chrono::milliseconds>(until - now).count());
        const int ready =
            ::epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), timeout);
        bool woken = false;
        for (int i = 0; i < ready && running_; ++i) {
            const uint64_t key = events[i].data.u64;
            const uint32_t what = events[i].events;
            if (key == kStopKey) {
                running_ = false;
            } else if (key == kListenKey) {
                Accept();
            } else if (key == kWakeKey) {
                handler_.OnWake();
                UpdateWakeFd();  // at once: a reopened source may have a new descriptor
                woken = true;
            } else if (auto found = connections_.find(key); found != connections_.end()) {
                if ((what & (EPOLLERR | EPOLLHUP)) != 0) {
                    Close(found->second);
                    continue;
                }
                if ((what & EPOLLIN) != 0) OnReadable(found->second);
                found = connections_.find(key);
                if (found != connections_.end() && (what & EPOLLOUT) != 0) Flush(found->second);
            }
        }
        const auto after = Clock::now();
        if (woken || after >= next_poll) {
            handler_.OnPoll();
            UpdateWakeFd();
            next_poll = after + options_.poll_interval;
        }
        if (after >= next_sweep) {
            Sweep(after);
            next_sweep = after + std::chrono::seconds(1);
        }
    }
}

void SseServer::UpdateWakeFd() {
    int fd = -1;
    try {
        fd = handler_.WakeFd();
    } catch (const std::exception& error) {
        log::Warn("stream: no change notifications; polling", {{"error", error.what()}});
    }
    if (fd != wake_fd_) {
        if (wake_fd_ >= 0) ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, wake_fd_, nullptr);
        wake_fd_ = fd;
        if (fd >= 0) Watch(EPOLL_CTL_ADD, fd, EPOLLIN, kWakeKey);
        return;
    }
    if (fd < 0) return;
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u64 = kWakeKey;
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &event) != 0 && errno == ENOENT) {
        // The same number, but a new descriptor: the old one left epoll when it closed.
        ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event);
    }
}

void SseServer::Accept() {
    for (;;) {
        sockaddr_in peer{};
        socklen_t length = sizeof(peer);
        const int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&peer), &length,
                                 SOCK_NONBLOCK | SOCK_CLOEXEC);
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
        const uint64_t key = next_key_++;
        Connection& connection = connections_[key];
        connection.fd = fd;
        connection.key = key;
        connection.peer = text;
        connection.opened = Clock::now();
        Watch(EPOLL_CTL_ADD, fd, EPOLLIN, key);
        if (connections_.size() > options_.max_connections) {
            Answer(connection, {503,
                                "unavailable",
                                "too many live streams on this replica; retry shortly",
                                {{"Retry-After", "5"}}});
        }
    }
}

void SseServer::OnReadable(Connection& connection) {
    char buffer[4096];
    for (;;) {
        const ssize_t got = ::recv(connection.fd, buffer, sizeof(buffer), 0);
        if (got == 0) {
            Close(connection);
            return;
        }
        if (got < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK) Close(connection);
            return;
        }
        if (connection.streaming || connection.closing) continue;  // nothing more is expected
        connection.in.append(buffer, static_cast<std::size_t>(got));
        if (connection.in.find("\r\n\r\n") != std::string::npos) {
            OnRequest(connection);
            return;
        }
        if (connection.in.size() > kMaxRequestBytes) {
            Answer(connection, {431, "invalid_request", "request headers larger than 8 KiB", {}});
            return;
        }
    }
}

void SseServer::OnRequest(Connection& connection) {
    const std::string head = connection.in.substr(0, connection.in.find("\r\n\r\n"));
    connection.in.clear();
    const auto line_end = head.find("\r\n");
    const std::string request_line = head.substr(0, line_end);
    SseRequest request;
    request.id = connection.key;
    for (std::size_t at = line_end; at != std::string::npos && at < head.size();) {
        const auto next = head.find("\r\n", at + 2);
        const std::string line =
            head.substr(at + 2, next == std::string::npos ? std::string::npos : next - at - 2);
        const auto colon = line.find(':');
        if (colon != std::string::npos)
            request.headers[Lower(Trim(line.substr(0, colon)))] = Trim(line.substr(colon + 1));
        at = next;
    }
    const auto first_space = request_line.find(' ');
    const auto second_space = request_line.find(' ', first_space + 1);
    if (first_space == std::string::npos || second_space == std::string::npos) {
        Answer(connection, {400, "invalid_request", "malformed request line", {}});
        return;
    }
    const std::string method = request_line.substr(0, first_space);
    const std::string target = request_line.substr(first_space + 1, second_space - first_space - 1);
    request.path = target.substr(0, target.find('?'));
    if (request.path != options_.path) {
        Answer(connection, {404, "not_found", "no such endpoint", {}});
        return;
    }
    if (method != "GET") {
        Answer(connection,
               {405, "method_not_allowed", "this path answers GET only", {{"Allow", "GET"}}});
        return;
    }
    request.client_address =
        ResolveClientAddress(connection.peer, request.Header("x-forwarded-for"),
                             request.Header("x-real-ip"), CurrentTrustedProxies());
    SseAnswer answer = handler_.OnRequest(request);
    if (auto* refusal = std::get_if<SseRefusal>(&answer)) {
        if (!handler_.RefusalStatuses().contains(refusal->status)) {
            // Not in the document (CheckPublicApi compared the declared ones): a handler bug.
            log::Error("stream: refusing with a status the handler does not declare",
                       {{"status", refusal->status}});
        }
        Answer(connection, *refusal);
        return;
    }
    const uint64_t key = connection.key;
    connection.streaming = true;
    open_connections_.Set(static_cast<double>(connections_.size()));
    // Send may close the connection (the client went away): OnOpened only if it is still open.
    if (!Send(connection,
              "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\n"
              "X-Accel-Buffering: no\r\nConnection: close\r\n\r\n" +
                  std::get<SseAcceptance>(answer).first_payload)) {
        return;
    }
    handler_.OnOpened(key);
}

void SseServer::Sweep(Clock::time_point now) {
    if (last_heartbeat_ == Clock::time_point{}) last_heartbeat_ = now;
    const bool heartbeat = now - last_heartbeat_ >= options_.heartbeat;
    if (heartbeat) last_heartbeat_ = now;
    std::vector<uint64_t> keys;
    keys.reserve(connections_.size());
    for (const auto& [key, connection] : connections_) keys.push_back(key);
    for (uint64_t key : keys) {
        auto found = connections_.find(key);
        if (found == connections_.end()) continue;
        Connection& connection = found->second;
        if (!connection.streaming && !connection.closing &&
            now - connection.opened > options_.request_timeout) {
            Close(connection);
        } else if (connection.streaming && heartbeat) {
            Send(connection, ": keep-alive\n\n");
        }
    }
    handler_.OnSweep(now);
    open_connections_.Set(static_cast<double>(connections_.size()));
}

bool SseServer::Send(SseStreamId id, std::string_view bytes) {
    auto found = connections_.find(id);
    if (found == connections_.end() || !found->second.streaming) return false;
    return Send(found->second, bytes);
}

bool SseServer::Send(Connection& connection, std::string_view bytes) {
    if (connection.out.size() - connection.out_offset + bytes.size() >
        options_.max_buffered_bytes) {
        slow_clients_.Inc();
        log::Warn("stream: client does not read; closing its stream",
                  {{"client", connection.peer}});
        Close(connection);
        return false;
    }
    const uint64_t key = connection.key;
    connection.out += bytes;
    Flush(connection);
    return connections_.contains(key);
}

void SseServer::Flush(Connection& connection) {
    while (connection.out_offset < connection.out.size()) {
        const ssize_t sent = ::send(connection.fd, connection.out.data() + connection.out_offset,
                                    connection.out.size() - connection.out_offset, MSG_NOSIGNAL);
        if (sent > 0) {
            connection.out_offset += static_cast<std::size_t>(sent);
            continue;
        }
        if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!connection.want_write) {
                Watch(EPOLL_CTL_MOD, connection.fd, EPOLLIN | EPOLLOUT, connection.key);
                connection.want_write = true;
            }
            return;
        }
        Close(connection);
        return;
    }
    connection.out.clear();
    connection.out_offset = 0;
    if (connection.want_write) {
        Watch(EPOLL_CTL_MOD, connection.fd, EPOLLIN, connection.key);
        connection.want_write = false;
    }
    if (connection.closing) Close(connection);
}

void SseServer::Answer(Connection& connection, const SseRefusal& refusal) {
    const std::string body =
        ProblemJson(
            {static_cast<Pistache::Http::Code>(refusal.status), refusal.code, refusal.detail, {}})
            .dump() +
        "\n";
    std::string extra_headers;
    for (const auto& [name, value] : refusal.headers) extra_headers += name + ": " + value + "\r\n";
    connection.closing = true;
    connection.out += "HTTP/1.1 " + std::to_string(refusal.status) + " " + Reason(refusal.status) +
                      "\r\nContent-Type: application/problem+json\r\nContent-Length: " +
                      std::to_string(body.size()) + "\r\nConnection: close\r\n" + extra_headers +
                      "\r\n" + body;
    Flush(connection);
}

void SseServer::Close(SseStreamId id) {
    if (auto found = connections_.find(id); found != connections_.end()) Close(found->second);
}

bool SseServer::IsOpen(SseStreamId id) const {
    auto found = connections_.find(id);
    return found != connections_.end() && found->second.streaming;
}

void SseServer::Close(Connection& connection) {
    const uint64_t key = connection.key;
    const bool streaming = connection.streaming;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, connection.fd, nullptr);
    ::close(connection.fd);
    connections_.erase(key);
    open_connections_.Set(static_cast<double>(connections_.size()));
    if (streaming) handler_.OnClosed(key);
}

uint64_t RaiseOpenFileLimit() {
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
    if (limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &limit);
        ::getrlimit(RLIMIT_NOFILE, &limit);
    }
    return static_cast<uint64_t>(limit.rlim_cur);
}

}  // namespace storefleet::http
