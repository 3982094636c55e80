#include "config.hpp"

#include <stdexcept>

namespace storefleet::query {

QueryConfig QueryConfig::FromEnv(const EnvConfig& env) {
    QueryConfig config;
    config.pg_url = env.Required("STOREFLEET_PG_URL");
    config.http_address = env.String("STOREFLEET_HTTP_ADDRESS", config.http_address);
    config.http_port =
        static_cast<int>(env.Int("STOREFLEET_HTTP_PORT", config.http_port, 0, 65535));
    config.stream_port =
        static_cast<int>(env.Int("STOREFLEET_STREAM_PORT", config.stream_port, 0, 65535));
    config.stream_max_connections = static_cast<int>(
        env.Int("STOREFLEET_STREAM_MAX_CONNECTIONS", config.stream_max_connections, 1, 1'000'000));
    config.stream_max_per_tenant = static_cast<int>(
        env.Int("STOREFLEET_STREAM_MAX_PER_TENANT", config.stream_max_per_tenant, 1, 1'000'000));
    config.http_threads =
        static_cast<int>(env.Int("STOREFLEET_HTTP_THREADS", config.http_threads, 1, 64));
    config.pg_pool_size =
        static_cast<int>(env.Int("STOREFLEET_PG_POOL_SIZE", config.pg_pool_size, 1, 128));
    config.store_read_threads = static_cast<int>(
        env.Int("STOREFLEET_STORE_READ_THREADS", config.store_read_threads, 0, 16));
    config.auth_cache_ttl = env.Millis("STOREFLEET_AUTH_CACHE_TTL_MS", config.auth_cache_ttl);
    config.auth_negative_ttl =
        env.Millis("STOREFLEET_AUTH_NEGATIVE_TTL_MS", config.auth_negative_ttl);
    config.client_rate_per_second =
        static_cast<double>(env.Int("STOREFLEET_CLIENT_RATE_PER_SECOND", 1000, 0, 10'000'000));
    config.client_rate_burst =
        static_cast<double>(env.Int("STOREFLEET_CLIENT_RATE_BURST", 2000, 1, 10'000'000));
    config.tenant_read_rate_per_second =
        static_cast<double>(env.Int("STOREFLEET_TENANT_READ_RATE_PER_SECOND", 500, 0, 10'000'000));
    config.real_node_engines = env.List("STOREFLEET_REAL_NODE_ENGINES", {"woocommerce", "medusa"});
    config.trusted_proxies = http::TrustedProxiesFromEnv(env);
    return config;
}

}  // namespace storefleet::query
