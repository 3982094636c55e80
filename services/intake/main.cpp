// storefleet-intake: the write side of the REST API. Composition root only.
#include <fstream>
#include <iostream>

#include "config.hpp"
#include "intake_api.hpp"
#include "intake_store.hpp"
#include "lifecycle_consumer.hpp"
#include "outbox_relay.hpp"
#include "storefleet/common/log.hpp"
#include "storefleet/common/shutdown.hpp"
#include "storefleet/kafka/publisher.hpp"

using namespace storefleet;

int main() {
    BlockTerminationSignals();
    log::Init("intake");
    intake::IntakeConfig config;
    try {
        config = intake::IntakeConfig::FromEnv(EnvConfig());
    } catch (const ConfigError& error) {
        std::cerr << "storefleet-intake: " << error.what() << "\n";
        return 2;
    }
    metrics::Registry registry;
    pg::Pool pool(config.pg_url, static_cast<std::size_t>(config.pg_pool_size));
    intake::IntakeStore store(pool, config.store_domain);
    store.Migrate();
    if (!config.bootstrap_tenant.empty()) {
        std::ifstream token_file(config.bootstrap_token_file);
        std::string token;
        std::getline(token_file, token);
        if (token.empty()) {
            std::cerr << "storefleet-intake: " << config.bootstrap_token_file << " holds no token\n";
            return 2;
        }
        store.UpsertTenant(config.bootstrap_tenant, token, config.bootstrap_quota);
        log::Info("bootstrap tenant ready", {{"tenant", config.bootstrap_tenant}});
    }
    // The relay's in-flight bound (publish timeout + message timeout) must match what the
    // producer really does, so the message timeout is set here, not left to a default.
    kafka::KafkaPublisher publisher(config.kafka_brokers, "storefleet-intake",
                                    {{"message.timeout.ms", std::to_string(config.outbox_message_timeout_ms)}});
    intake::OutboxRelay::Options relay_options;
    relay_options.publish_timeout = std::chrono::milliseconds(config.outbox_publish_timeout_ms);
    relay_options.message_timeout = std::chrono::milliseconds(config.outbox_message_timeout_ms);
    relay_options.batch_size = config.outbox_batch_size;
    relay_options.max_unsent_age = std::chrono::seconds(config.outbox_max_unsent_age_s);
    intake::OutboxRelay relay(config.pg_url, publisher, registry, relay_options);
    intake::LifecycleConsumer lifecycle(store, config.kafka_brokers, config.lifecycle_group, registry);
    intake::RateLimiter limiter(config.rate_per_second, config.rate_burst);
    TenantCache tenants(std::chrono::seconds(30));
    intake::IntakeApi api(store, limiter, tenants, registry, [&relay] { relay.Wake(); });
    http::HttpServer server({config.http_address, static_cast<uint16_t>(config.http_port),
                             config.http_threads, 64 * 1024},
                            // Red while Postgres is unreachable or this replica's relay leads
                            // and cannot publish.
                            registry, [&] { return relay.Healthy() && pool.Ping(); });
    api.Register(server);

    relay.Start();
    lifecycle.Start();
    server.Start();
    log::Info("intake started", {{"port", server.Port()}});
    const int signal = WaitForTerminationSignal();
    log::Info("intake stopping", {{"signal", signal}});
    server.Stop();
    lifecycle.Stop();
    relay.Stop();
    return 0;
}
