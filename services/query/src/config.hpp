#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "storefleet/common/config.hpp"
#include "storefleet/http/client_address.hpp"

namespace storefleet::query {

struct QueryConfig {
    std::string pg_url;
    std::string http_address = "127.0.0.1";
    int http_port = 8082;
    // The live stream (SSE) listens on a port of its own; 0: the kernel picks.
    int stream_port = 8083;
    int stream_max_connections = 10'000;
    int stream_max_per_tenant = 100;
    // Single-store GETs hand their read to the StoreBatcher and lists mostly come from the
    // list cache, so few HTTP threads wait on Postgres. Measured on 2 cores (64 connections,
    // docs/performance.md): 4 HTTP threads and 1 read thread served single GETs 10-25% faster
    // than 8 and 2, and uncached lists as fast. On more cores raise both (about 2 HTTP
    // threads and half a read thread per core).
    int http_threads = 4;
    int pg_pool_size = 16;
    // Threads reading single stores in batches for concurrent GETs (StoreBatcher); 0: each
    // GET reads on its own HTTP thread.
    int store_read_threads = 1;
    // How long a token stays accepted without asking Postgres again (also how long a
    // revoked token keeps working on this replica), and an unknown one refused.
    std::chrono::milliseconds auth_cache_ttl = std::chrono::seconds(1);
    std::chrono::milliseconds auth_negative_ttl = std::chrono::seconds(5);
    // Per client address, before the token is looked up (0: off, e.g. for a load test).
    double client_rate_per_second = 1000;
    double client_rate_burst = 2000;
    // Reads per tenant, after authentication (0: off, e.g. for a load test); burst twice it.
    double tenant_read_rate_per_second = 500;
    // Peers allowed to say who the client is (X-Forwarded-For, X-Real-IP): the front door, an
    // Ingress controller. STOREFLEET_TRUSTED_PROXIES, comma-separated CIDR ranges.
    http::TrustedProxies trusted_proxies =
        http::TrustedProxies::Parse(http::kDefaultTrustedProxies);
    // The engines intake lets a store place on the real node (STOREFLEET_REAL_NODE_ENGINES,
    // the same setting), told to clients by GET /api/v1/me so the dashboard offers it.
    std::vector<std::string> real_node_engines;

    static QueryConfig FromEnv(const EnvConfig& env);
};

}  // namespace storefleet::query
