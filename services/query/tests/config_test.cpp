#include "config.hpp"

#include <gtest/gtest.h>

#include <map>

namespace storefleet::query {
namespace {

EnvConfig Env(std::map<std::string, std::string> values) {
    return EnvConfig::FromMap(std::move(values));
}

TEST(QueryConfigTest, NeedsPostgres) { EXPECT_THROW(QueryConfig::FromEnv(Env({})), ConfigError); }

TEST(QueryConfigTest, HasDefaultsAndTakesOverrides) {
    auto config = QueryConfig::FromEnv(Env({{"STOREFLEET_PG_URL", "postgresql://x"}}));
    EXPECT_EQ(config.http_port, 8082);
    EXPECT_EQ(config.http_threads, 4);
    EXPECT_EQ(config.store_read_threads, 1);
    EXPECT_EQ(config.pg_pool_size, 16);
    EXPECT_EQ(config.auth_cache_ttl, std::chrono::seconds(1))
        << "a revoked token stops working within a second";
    EXPECT_EQ(config.stream_port, 8083);
    EXPECT_EQ(config.stream_max_per_tenant, 100);
    config = QueryConfig::FromEnv(Env({{"STOREFLEET_PG_URL", "postgresql://x"},
                                       {"STOREFLEET_STREAM_MAX_PER_TENANT", "1000"},
                                       {"STOREFLEET_HTTP_THREADS", "16"},
                                       {"STOREFLEET_STORE_READ_THREADS", "4"},
                                       {"STOREFLEET_PG_POOL_SIZE", "24"}}));
    EXPECT_EQ(config.http_threads, 16);
    EXPECT_EQ(config.stream_max_per_tenant, 1000);
    EXPECT_EQ(config.store_read_threads, 4);
    EXPECT_EQ(config.pg_pool_size, 24);
    EXPECT_THROW(QueryConfig::FromEnv(Env(
                     {{"STOREFLEET_PG_URL", "postgresql://x"}, {"STOREFLEET_PG_POOL_SIZE", "0"}})),
                 ConfigError);
}

}  // namespace
}  // namespace storefleet::query
