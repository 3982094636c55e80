#pragma once

#include <chrono>
#include <string>

#include "storefleet/common/config.hpp"

namespace storefleet::intake {

struct IntakeConfig {
    std::string pg_url;
    std::string kafka_brokers;
    std::string http_address = "127.0.0.1";
    int http_port = 8081;
    int http_threads = 8;  // handlers block on Postgres; more threads overlap that wait
    int pg_pool_size = 16;
    std::string store_domain = "stores.localtest.me";
    double rate_per_second = 20;  // per tenant, sustained
    double rate_burst = 40;
    // Optional first tenant, so a fresh installation can be used at once.
    std::string bootstrap_tenant;
    std::string bootstrap_token_file;
    int bootstrap_quota = 100;
    // The consumer group that follows store-status to free quota and names on deletion.
    std::string lifecycle_group = "storefleet-intake-lifecycle";

    static IntakeConfig FromEnv(const EnvConfig& env);
};

}  // namespace storefleet::intake
