#include "config.hpp"

#include <fstream>
#include <stdexcept>

#include "storefleet/events/chart_catalogue.hpp"

namespace storefleet::intake {

IntakeConfig IntakeConfig::FromEnv(const EnvConfig& env) {
    IntakeConfig config;
    config.pg_url = env.Required("STOREFLEET_PG_URL");
    config.kafka_brokers = env.Required("STOREFLEET_KAFKA_BROKERS");
    config.http_address = env.String("STOREFLEET_HTTP_ADDRESS", config.http_address);
    config.http_port =
        static_cast<int>(env.Int("STOREFLEET_HTTP_PORT", config.http_port, 0, 65535));
    config.http_threads =
        static_cast<int>(env.Int("STOREFLEET_HTTP_THREADS", config.http_threads, 1, 64));
    config.pg_pool_size =
        static_cast<int>(env.Int("STOREFLEET_PG_POOL_SIZE", config.pg_pool_size, 1, 128));
    config.store_domain = env.String("STOREFLEET_STORE_DOMAIN", config.store_domain);
    config.real_node_engines = env.List("STOREFLEET_REAL_NODE_ENGINES", {"woocommerce", "medusa"});
    config.chart_catalogue =
        env.String("STOREFLEET_CHART_CATALOGUE", std::string(events::kImageChartCatalogue));
    config.rate_per_second =
        static_cast<double>(env.Int("STOREFLEET_RATE_PER_SECOND", 20, 1, 1'000'000));
    config.rate_burst = static_cast<double>(env.Int("STOREFLEET_RATE_BURST", 40, 1, 1'000'000));
    config.client_rate_per_second =
        static_cast<double>(env.Int("STOREFLEET_CLIENT_RATE_PER_SECOND", 200, 0, 1'000'000));
    config.client_rate_burst =
        static_cast<double>(env.Int("STOREFLEET_CLIENT_RATE_BURST", 400, 1, 1'000'000));
    config.auth_known_ttl = env.Millis("STOREFLEET_AUTH_CACHE_TTL_MS", config.auth_known_ttl);
    config.auth_unknown_ttl =
        env.Millis("STOREFLEET_AUTH_NEGATIVE_TTL_MS", config.auth_unknown_ttl);
    config.bootstrap_admin_token_file = env.String("STOREFLEET_BOOTSTRAP_ADMIN_TOKEN_FILE", "");
    config.bootstrap_tenant = env.String("STOREFLEET_BOOTSTRAP_TENANT", "");
    config.bootstrap_token_file = env.String("STOREFLEET_BOOTSTRAP_TOKEN_FILE", "");
    config.bootstrap_quota =
        static_cast<int>(env.Int("STOREFLEET_BOOTSTRAP_QUOTA", 100, 0, 1'000'000));
    config.lifecycle_group = env.String("STOREFLEET_LIFECYCLE_GROUP", config.lifecycle_group);
    config.outbox_publish_timeout_ms = static_cast<int>(env.Int(
        "STOREFLEET_OUTBOX_PUBLISH_TIMEOUT_MS", config.outbox_publish_timeout_ms, 100, 600'000));
    config.outbox_message_timeout_ms = static_cast<int>(env.Int(
        "STOREFLEET_OUTBOX_MESSAGE_TIMEOUT_MS", config.outbox_message_timeout_ms, 1000, 900'000));
    config.outbox_batch_size = static_cast<int>(
        env.Int("STOREFLEET_OUTBOX_BATCH_SIZE", config.outbox_batch_size, 1, 10'000));
    config.outbox_max_unsent_age_s = static_cast<int>(
        env.Int("STOREFLEET_OUTBOX_MAX_UNSENT_AGE_S", config.outbox_max_unsent_age_s, 1, 86'400));
    if (!config.bootstrap_tenant.empty() && config.bootstrap_token_file.empty()) {
        throw ConfigError(
            "STOREFLEET_BOOTSTRAP_TOKEN_FILE is required with STOREFLEET_BOOTSTRAP_TENANT");
    }
    config.trusted_proxies = http::TrustedProxiesFromEnv(env);
    return config;
}

std::string ReadTokenFile(const std::string& path) {
    std::ifstream file(path);
    if (!file) throw ConfigError("cannot read the token file " + path);
    std::string token;
    std::getline(file, token);
    while (!token.empty() && (token.back() == '\r' || token.back() == ' ' || token.back() == '\t'))
        token.pop_back();
    if (token.size() < kMinTokenLength) {
        throw ConfigError(path + " must hold a token of at least " +
                          std::to_string(kMinTokenLength) + " characters on its first line");
    }
    return token;
}

events::ChartCatalogue LoadChartCatalogue(const std::string& dir) {
    auto charts = events::ChartCatalogue::Load(dir);
    if (!charts.ok()) throw ConfigError("STOREFLEET_CHART_CATALOGUE: " + charts.error().message);
    return std::move(*charts);
}

}  // namespace storefleet::intake
