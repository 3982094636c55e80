#include "storefleet/http/client_address.hpp"

#include <arpa/inet.h>

#include <stdexcept>

namespace storefleet::http {
namespace {

std::string Trim(const std::string& text) {
    const auto first = text.find_first_not_of(" \t");
    if (first == std::string::npos) return "";
    const auto last = text.find_last_not_of(" \t");
    return text.substr(first, last - first + 1);
}

// The address's bytes (4 or 16), or false if it is not an IP address.
bool ParseAddress(const std::string& text, bool& v6, std::array<uint8_t, 16>& bytes) {
    bytes.fill(0);
    if (inet_pton(AF_INET, text.c_str(), bytes.data()) == 1) {
        v6 = false;
        return true;
    }
    if (inet_pton(AF_INET6, text.c_str(), bytes.data()) == 1) {
        v6 = true;
        return true;
    }
    return false;
}

TrustedProxies& Current() {
    static TrustedProxies current = TrustedProxies::Parse(kDefaultTrustedProxies);
    return current;
}

}  // namespace

TrustedProxies TrustedProxies::Parse(const std::string& comma_separated) {
    TrustedProxies parsed;
    std::size_t start = 0;
    while (start <= comma_separated.size()) {
        const auto end = comma_separated.find(',', start);
        const std::string entry = Trim(comma_separated.substr(
            start, end == std::string::npos ? std::string::npos : end - start));
        start = end == std::string::npos ? comma_separated.size() + 1 : end + 1;
        if (entry.empty()) continue;
        Range range;
        const auto slash = entry.find('/');
        if (!ParseAddress(entry.substr(0, slash), range.v6, range.bytes)) {
            throw std::invalid_argument("trusted proxy '" + entry +
                                        "' is not an address or CIDR range");
        }
        const int bits = range.v6 ? 128 : 32;
        range.prefix = bits;
        if (slash != std::string::npos) {
            const std::string prefix = entry.substr(slash + 1);
            if (prefix.empty() || prefix.size() > 3 ||
                prefix.find_first_not_of("0123456789") != std::string::npos ||
                std::stoi(prefix) > bits) {
                throw std::invalid_argument("trusted proxy '" + entry +
                                            "' has a bad prefix length");
            }
            range.prefix = std::stoi(prefix);
        }
        parsed.ranges_.push_back(range);
    }
    return parsed;
}

bool TrustedProxies::Contains(const std::string& address) const {
    bool v6 = false;
    std::array<uint8_t, 16> bytes{};
    if (!ParseAddress(address, v6, bytes)) return false;
    for (const auto& range : ranges_) {
        if (range.v6 != v6) continue;
        int left = range.prefix;
        bool match = true;
        for (std::size_t i = 0; left > 0 && match; ++i, left -= 8) {
            const int take = left >= 8 ? 8 : left;
            const auto mask = static_cast<uint8_t>(0xFF << (8 - take));
            match = (bytes[i] & mask) == (range.bytes[i] & mask);
        }
        if (match) return true;
    }
    return false;
}

std::string ResolveClientAddress(const std::string& peer, const std::string& x_forwarded_for,
                                 const std::string& x_real_ip, const TrustedProxies& trusted) {
    if (!trusted.Contains(peer)) return peer;
    if (x_forwarded_for.empty()) {
        const std::string real = Trim(x_real_ip);
        return real.empty() ? peer : real.substr(0, 64);
    }
    // Right to left: each proxy appends the address it saw; the first untrusted one is the
    // client as our own proxies saw it.
    std::vector<std::string> entries;
    std::size_t start = 0;
    for (;;) {
        const auto comma = x_forwarded_for.find(',', start);
        entries.push_back(Trim(x_forwarded_for.substr(
            start, comma == std::string::npos ? std::string::npos : comma - start)));
        if (comma == std::string::npos || entries.size() > 64) break;
        start = comma + 1;
    }
    std::string leftmost;
    // Right to left: the nearest hop first. (clang-14 cannot take a reverse_view of a vector.)
    // NOLINTNEXTLINE(modernize-loop-convert)
    for (auto entry = entries.rbegin(); entry != entries.rend(); ++entry) {
        if (entry->empty()) continue;
        if (!trusted.Contains(*entry)) return entry->substr(0, 64);
        leftmost = *entry;
    }
    return leftmost.empty() ? peer : leftmost;
}

void SetTrustedProxies(TrustedProxies trusted) { Current() = std::move(trusted); }

const TrustedProxies& CurrentTrustedProxies() { return Current(); }

TrustedProxies TrustedProxiesFromEnv(const EnvConfig& env) {
    try {
        return TrustedProxies::Parse(
            env.String("STOREFLEET_TRUSTED_PROXIES", kDefaultTrustedProxies));
    } catch (const std::invalid_argument& error) {
        throw ConfigError(std::string("STOREFLEET_TRUSTED_PROXIES: ") + error.what());
    }
}

}  // namespace storefleet::http
