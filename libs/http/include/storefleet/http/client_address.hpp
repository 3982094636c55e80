#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "storefleet/common/config.hpp"

namespace storefleet::http {

// The peers allowed to say who the client is: the front door, an Ingress controller, a load
// balancer. Address ranges in CIDR form (IPv4 or IPv6; a bare address is one host).
// Immutable once parsed; thread-safe to read.
class TrustedProxies {
public:
    // "127.0.0.0/8,::1,10.0.0.0/8". Throws std::invalid_argument naming a bad entry.
    static TrustedProxies Parse(const std::string& comma_separated);
    [[nodiscard]] bool Contains(const std::string& address) const;

private:
    struct Range {
        bool v6 = false;
        std::array<uint8_t, 16> bytes{};
        int prefix = 0;
    };
    std::vector<Range> ranges_;
};

// The address a per-client limit applies to. The peer itself, unless it is a trusted proxy;
// then the rightmost X-Forwarded-For entry that is not a trusted proxy (entries to its left
// are the client's own words and may be forged), or, when every entry is trusted, the
// leftmost one; without X-Forwarded-For, X-Real-IP (set by the local front door). At most 64
// characters of a header value are used.
std::string ResolveClientAddress(const std::string& peer, const std::string& x_forwarded_for,
                                 const std::string& x_real_ip, const TrustedProxies& trusted);

// The process's trusted proxies (STOREFLEET_TRUSTED_PROXIES), set once at start before the
// servers start; loopback until then.
void SetTrustedProxies(TrustedProxies trusted);
const TrustedProxies& CurrentTrustedProxies();
inline constexpr const char* kDefaultTrustedProxies = "127.0.0.0/8,::1";

// STOREFLEET_TRUSTED_PROXIES from `env` (kDefaultTrustedProxies when unset); a list that does
// not parse is a ConfigError naming the variable.
TrustedProxies TrustedProxiesFromEnv(const EnvConfig& env);

}  // namespace storefleet::http
