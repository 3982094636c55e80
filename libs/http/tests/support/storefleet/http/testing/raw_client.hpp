#pragma once

// A raw HTTP client for tests of long-lived answers (SseServer's streams): it sends one
// request as given and reads what comes, up to a deadline. Header-only, tests only.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <string>

namespace storefleet::http::testing {

class RawClient {
public:
    RawClient(uint16_t port, const std::string& request) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_port = htons(port);
        ::inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
        EXPECT_EQ(::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
        Write(request);
    }
    ~RawClient() { ::close(fd_); }
    RawClient(const RawClient&) = delete;
    RawClient& operator=(const RawClient&) = delete;

    void Write(const std::string& bytes) {
        if (bytes.empty()) return;
        EXPECT_EQ(::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL),
                  static_cast<ssize_t>(bytes.size()));
    }

    // Reads until `needle` has arrived (true) or the deadline or the end of the stream.
    bool ReadUntil(const std::string& needle,
                   std::chrono::milliseconds within = std::chrono::seconds(5)) {
        const auto deadline = std::chrono::steady_clock::now() + within;
        while (received_.find(needle) == std::string::npos) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0 || closed_) return false;
            pollfd poll_fd{fd_, POLLIN, 0};
            if (::poll(&poll_fd, 1, static_cast<int>(left.count())) <= 0) continue;
            char buffer[4096];
            const ssize_t got = ::recv(fd_, buffer, sizeof(buffer), 0);
            if (got <= 0) {
                closed_ = true;
                return received_.find(needle) != std::string::npos;
            }
            received_.append(buffer, static_cast<std::size_t>(got));
        }
        return true;
    }
    // Waits until the server closes the connection.
    bool ReadsToEnd(std::chrono::milliseconds within) {
        ReadUntil("\x01never\x01", within);
        return closed_;
    }
    const std::string& Received() const { return received_; }
    int fd() const { return fd_; }

private:
    int fd_;
    std::string received_;
    bool closed_ = false;
};

}  // namespace storefleet::http::testing
