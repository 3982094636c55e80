// storefleet-intake: the write side of the REST API. Composition root only.
#include <iostream>
#include <thread>

#include "config.hpp"
#include "admin_api.hpp"
#include "figures_api.hpp"
#include "intake_api.hpp"
#include "intake_store.hpp"
#include "lifecycle_consumer.hpp"
#include "outbox_relay.hpp"
#include "storefleet/common/log.hpp"
#include "storefleet/common/shutdown.hpp"
#include "storefleet/events/status.hpp"
#include "storefleet/http/public_routes.hpp"
#include "storefleet/kafka/publisher.hpp"

using namespace storefleet;

int main(int argc, char** argv) {
    BlockTerminationSignals();
    log::Init("intake");
    intake::IntakeConfig config;
    bool migrate_only = false;
    try {
        config = intake::IntakeConfig::FromEnv(EnvConfig());
        migrate_only = MigrateOnlyRequested(argc, argv, EnvConfig());
    } catch (const ConfigError& error) {
        std::cerr << "storefleet-intake: " << error.what() << "\n";
        return 2;
    }
    http::SetTrustedProxies(config.trusted_proxies);
    if (migrate_only) {
        try {
            pg::Pool pool(config.pg_url, 1);
            intake::IntakeStore(pool, config.store_domain).Migrate();
        } catch (const std::exception& error) {
            log::Error("intake migrations failed", {{"error", error.what()}});
            return 1;
        }
        log::Info("intake migrations applied; exiting (migrate-only)");
        return 0;
    }
    metrics::Registry registry;
    pg::Pool pool(config.pg_url, static_cast<std::size_t>(config.pg_pool_size));
    intake::IntakeStore store(pool, config.store_domain);
    store.Migrate();
    auto& batch_size = registry.GetHistogram("storefleet_intake_create_batch_size",
                                             "Creates committed together, per batch.", {},
                                             {1, 2, 4, 8, 16, 32, 64, 128, 256});
    auto& batch_seconds = registry.GetHistogram("storefleet_intake_create_batch_seconds",
                                                "Time to write one batch of creates.");
    store.SetBatchObserver([&batch_size, &batch_seconds](std::size_t items, double seconds) {
        batch_size.Observe(static_cast<double>(items));
        batch_seconds.Observe(seconds);
    });
    // Bootstrap tenant and admin from their token files: created once, never revived (an
    // admin's revocation, rotation or quota change outlives every restart).
    auto seed = [&store](const std::string& tenant, const std::string& file, int quota, bool admin) {
        const auto outcome = store.SeedTenant(tenant, intake::ReadTokenFile(file), quota, admin);
        if (outcome == intake::IntakeStore::SeedOutcome::kTokenRevoked) {
            log::Warn("the token in the bootstrap token file was revoked by an admin and stays revoked; "
                      "put a new token in the file to replace it",
                      {{"tenant", tenant}, {"file", file}});
        } else {
            log::Info(outcome == intake::IntakeStore::SeedOutcome::kTokenAdded ? "bootstrap token added"
                                                                                : "bootstrap token unchanged",
                      {{"tenant", tenant}});
        }
    };
    try {
        if (!config.bootstrap_tenant.empty()) {
            seed(config.bootstrap_tenant, config.bootstrap_token_file, config.bootstrap_quota, false);
        }
        // The platform's own tenant holds the admin token; it has no store quota.
        if (!config.bootstrap_admin_token_file.empty()) seed("platform", config.bootstrap_admin_token_file, 0, true);
    } catch (const std::exception& error) {
        std::cerr << "storefleet-intake: " << error.what() << "\n";
        return 2;
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
    http::RateLimiter tenant_limiter(config.rate_per_second, config.rate_burst);
    http::RateLimiter client_limiter(config.client_rate_per_second, config.client_rate_burst);
    http::Authenticator authenticator([&store](const std::string& sha) { return store.Authenticate(sha); },
                                      {config.auth_known_ttl, config.auth_unknown_ttl});
    intake::IntakeApi api(store, authenticator, client_limiter, tenant_limiter, registry, [&relay] { relay.Wake(); });
    http::HttpServer server({config.http_address, static_cast<uint16_t>(config.http_port),
                             config.http_threads, 64 * 1024},
                            // Red while Postgres is unreachable or this replica's relay leads
                            // and cannot publish.
                            registry, [&] { return relay.Healthy() && pool.Ping(); });
    api.SetRealNodeEngines(config.real_node_engines);
    api.Register(server);
    intake::AdminStore admin_store(pool);
    intake::AdminApi admin_api(admin_store, authenticator, client_limiter);
    admin_api.Register(server);
    // The admin view's charts: the read model and the consumer groups' lag (a Kafka outage
    // leaves only the lag unavailable).
    intake::KafkaLagReader lag_reader(config.kafka_brokers, std::chrono::milliseconds(1000));
    intake::FiguresService figures(pool, &lag_reader,
                                   {.lag_targets = intake::FiguresService::PlatformTargets(config.lifecycle_group)});
    intake::FiguresApi figures_api(figures, authenticator, client_limiter);
    figures_api.Register(server);

    relay.Start();
    lifecycle.Start();
    server.ServePublicApiAs("intake", http::PublicApiRoutes());
    server.Start();
    log::Info("intake started", {{"port", server.Port()}});
    // Idempotency keys live 24 h; every replica prunes (idempotent).
    ShutdownFlag stopping;
    std::thread pruner([&] {
        while (!stopping.WaitFor(std::chrono::minutes(10))) {
            try {
                const int64_t pruned = store.PruneIdempotencyKeys(std::chrono::hours(24));
                if (pruned > 0) log::Info("pruned idempotency keys", {{"rows", pruned}});
            } catch (const std::exception& error) {
                log::Warn("could not prune idempotency keys", {{"error", error.what()}});
            }
        }
    });
    // Platform gauges for Prometheus, from the figures the admin view charts: stores by
    // status (every status, 0 when none) and each consumer group's lag per partition. Every
    // replica exports the same platform-wide values (the dashboard takes max()).
    std::thread figures_gauges([&] {
        do {
            try {
                const intake::Figures now = figures.Get(std::chrono::minutes(1));
                for (const std::string_view name : events::kStatusNames) {
                    const std::string status(name);
                    const auto it = now.stores_by_status.find(status);
                    registry.GetGauge("storefleet_stores", "Stores by status, from the read model.", {{"status", status}})
                        .Set(it == now.stores_by_status.end() ? 0.0 : static_cast<double>(it->second));
                }
                for (const auto& lag : now.lag.partitions) {
                    registry.GetGauge("storefleet_consumer_lag", "Messages a consumer group has yet to read, per partition.",
                                      {{"group", lag.group}, {"topic", lag.topic}, {"partition", std::to_string(lag.partition)}})
                        .Set(static_cast<double>(lag.Lag()));
                }
            } catch (const std::exception& error) {
                log::Warn("could not refresh the platform gauges", {{"error", error.what()}});
            }
        } while (!stopping.WaitFor(std::chrono::seconds(15)));
    });
    const int signal = WaitForTerminationSignal();
    log::Info("intake stopping", {{"signal", signal}});
    stopping.Trigger();
    figures_gauges.join();
    pruner.join();
    server.Stop();
    lifecycle.Stop();
    relay.Stop();
    return 0;
}
