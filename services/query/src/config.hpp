#pragma once

#include <chrono>
#include <string>

#include "storefleet/common/config.hpp"

namespace storefleet::query {

struct QueryConfig {
    std::string pg_url;
    std::string http_address = "127.0.0.1";
    int http_port = 8082;
    int http_threads = 8;  // handlers block on Postgres; more threads overlap that wait
    int pg_pool_size = 16;
    // How long a token stays accepted without asking Postgres again (also how long a
    // revoked token keeps working on this replica).
    std::chrono::milliseconds auth_cache_ttl = std::chrono::seconds(30);

    static QueryConfig FromEnv(const EnvConfig& env);
};

}  // namespace storefleet::query
