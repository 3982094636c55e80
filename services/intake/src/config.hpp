#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "storefleet/common/config.hpp"
#include "storefleet/events/chart_catalogue.hpp"
#include "storefleet/http/client_address.hpp"

namespace storefleet::intake {

struct IntakeConfig {
    std::string pg_url;
    std::string kafka_brokers;
    std::string http_address = "127.0.0.1";
    int http_port = 8081;
    // Handlers block on Postgres; creates wait for their batch to commit, so more threads
    // mean larger batches (see CreateBatcher).
    int http_threads = 4;  // creates are answered from the batcher; no thread waits on Postgres
    int pg_pool_size = 16;
    std::string store_domain = "stores.localtest.me";
    // Engines a store may ask to run on the platform's real node (`placement: real-node`),
    // from STOREFLEET_REAL_NODE_ENGINES (comma-separated; empty: the platform has none).
    std::vector<std::string> real_node_engines;
    // The store chart catalogue (STOREFLEET_CHART_CATALOGUE, the folder with index.json; the
    // images' by default), the one the provisioners install from: its defaults are the chart
    // versions new stores get (LoadChartCatalogue, when serving; --migrate-only needs none).
    std::string chart_catalogue;
    double rate_per_second = 20;  // per tenant, sustained
    double rate_burst = 40;
    // Per client address, before the token is looked up (0: off, e.g. for a load test).
    double client_rate_per_second = 200;
    double client_rate_burst = 400;
    // Peers allowed to say who the client is (X-Forwarded-For, X-Real-IP): the front door, an
    // Ingress controller. STOREFLEET_TRUSTED_PROXIES, comma-separated CIDR ranges.
    http::TrustedProxies trusted_proxies =
        http::TrustedProxies::Parse(http::kDefaultTrustedProxies);
    // A known token is trusted this long without asking Postgres (so a revoked one stops
    // working within it), an unknown one refused this long.
    std::chrono::milliseconds auth_known_ttl = std::chrono::seconds(1);
    std::chrono::milliseconds auth_unknown_ttl = std::chrono::seconds(5);
    // Optional platform admin (sees and manages every tenant), from a token file at start.
    std::string bootstrap_admin_token_file;
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

// The store chart catalogue at `dir`; a ConfigError naming STOREFLEET_CHART_CATALOGUE when it
// cannot be read.
events::ChartCatalogue LoadChartCatalogue(const std::string& dir);

// A token is at least this long (a guessable bootstrap token is an open door).
inline constexpr std::size_t kMinTokenLength = 16;

// The token on the first line of a bootstrap token file. Throws ConfigError, naming the
// file and never the token, when it cannot be read or is shorter than kMinTokenLength.
std::string ReadTokenFile(const std::string& path);

}  // namespace storefleet::intake
