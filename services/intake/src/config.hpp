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
    // The outbox relay: how long one publish may wait for Kafka's acknowledgement, the
    // producer's message timeout (a publish may land up to both after it started; a relay
    // taking over waits that long at most), rows per batch, and how old the oldest unsent
    // row may get before the leader's /readyz turns red.
    int outbox_publish_timeout_ms = 15'000;
    int outbox_message_timeout_ms = 30'000;
    int outbox_batch_size = 500;
    int outbox_max_unsent_age_s = 60;

    static IntakeConfig FromEnv(const EnvConfig& env);
};

}  // namespace storefleet::intake
