// storefleet-intake: the write side of the REST API. Composition root only: the settings,
// the wiring, serving until SIGTERM, and one place that turns a failure into an exit code.
#include <iostream>

#include "admin_api.hpp"
#include "bootstrap.hpp"
#include "config.hpp"
#include "figures_api.hpp"
#include "intake_api.hpp"
#include "intake_store.hpp"
#include "lifecycle_consumer.hpp"
#include "outbox_relay.hpp"
#include "rollouts.hpp"
#include "storefleet/common/log.hpp"
#include "storefleet/common/periodic_task.hpp"
#include "storefleet/common/shutdown.hpp"
#include "storefleet/http/public_routes.hpp"
#include "storefleet/kafka/publisher.hpp"

using namespace storefleet;

namespace {

int Migrate(const intake::IntakeConfig& config) {
    pg::Pool pool(config.pg_url, 1);
    intake::IntakeStore(pool, config.store_domain).Migrate();
    log::Info("intake migrations applied; exiting (migrate-only)");
    return 0;
}

int Serve(const intake::IntakeConfig& config) {
    metrics::Registry registry;
    pg::Pool pool(config.pg_url, static_cast<std::size_t>(config.pg_pool_size));
    intake::IntakeStore store(pool, config.store_domain);
    store.Migrate();
    // Fleet rollouts (decision 13): the chart versions new stores get, and a step of every
    // rollout each second (any replica; each rollout's row lets one step it at a time).
    intake::Rollouts rollouts(pool, intake::LoadChartCatalogue(config.chart_catalogue));
    store.SetChartDefaults(rollouts.ChartDefaults());
    auto& batch_size = registry.GetHistogram("storefleet_intake_create_batch_size",
                                             "Creates committed together, per batch.", {},
                                             {1, 2, 4, 8, 16, 32, 64, 128, 256});
    auto& batch_seconds = registry.GetHistogram("storefleet_intake_create_batch_seconds",
                                                "Time to write one batch of creates.");
    store.SetBatchObserver([&batch_size, &batch_seconds](std::size_t items, double seconds) {
        batch_size.Observe(static_cast<double>(items));
        batch_seconds.Observe(seconds);
    });
    try {
        intake::SeedBootstrapTenants(store, config);
    } catch (const std::runtime_error& error) {
        throw ConfigError(error.what());  // a missing or short token file: fix the settings
    }
    // The relay's in-flight bound (publish timeout + message timeout) must match what the
    // producer really does, so the message timeout is set here, not left to a default.
    kafka::KafkaPublisher publisher(
        config.kafka_brokers, "storefleet-intake",
        {{"message.timeout.ms", std::to_string(config.outbox_message_timeout_ms)}});
    intake::OutboxRelay::Options relay_options;
    relay_options.publish_timeout = std::chrono::milliseconds(config.outbox_publish_timeout_ms);
    relay_options.message_timeout = std::chrono::milliseconds(config.outbox_message_timeout_ms);
    relay_options.batch_size = config.outbox_batch_size;
    relay_options.max_unsent_age = std::chrono::seconds(config.outbox_max_unsent_age_s);
    intake::OutboxRelay relay(config.pg_url, publisher, registry, relay_options);
    intake::LifecycleConsumer lifecycle(store, config.kafka_brokers, config.lifecycle_group,
                                        registry);
    http::RateLimiter tenant_limiter(config.rate_per_second, config.rate_burst);
    http::RateLimiter client_limiter(config.client_rate_per_second, config.client_rate_burst);
    http::Authenticator authenticator(
        [&store](const std::string& sha) { return store.Authenticate(sha); },
        {config.auth_known_ttl, config.auth_unknown_ttl});
    intake::IntakeApi api(store, authenticator, client_limiter, tenant_limiter, registry,
                          [&relay] { relay.Wake(); });
    http::HttpServer server({config.http_address, static_cast<uint16_t>(config.http_port),
                             config.http_threads, 64 * 1024},
                            // Red while Postgres is unreachable or this replica's relay leads
                            // and cannot publish.
                            registry, [&] { return relay.Healthy() && pool.Ping(); });
    api.SetRealNodeEngines(config.real_node_engines);
    api.Register(server);
    intake::AdminStore admin_store(pool);
    intake::AdminApi admin_api(admin_store, authenticator, client_limiter);
    admin_api.SetRollouts(rollouts);
    admin_api.Register(server);
    // The admin view's charts: the read model and the consumer groups' lag (a Kafka outage
    // leaves only the lag unavailable).
    intake::KafkaLagReader lag_reader(config.kafka_brokers, std::chrono::milliseconds(1000));
    intake::FiguresService figures(
        pool, &lag_reader,
        {.lag_targets = intake::FiguresService::PlatformTargets(config.lifecycle_group)});
    intake::FiguresApi figures_api(figures, authenticator, client_limiter);
    figures_api.Register(server);

    relay.Start();
    lifecycle.Start();
    server.ServePublicApiAs("intake", http::PublicApiRoutes());
    server.Start();
    log::Info("intake started", {{"port", server.Port()}});
    // Idempotency keys live 24 h; every replica prunes (idempotent).
    PeriodicTask pruner("prune idempotency keys", std::chrono::minutes(10), [&store] {
        const int64_t pruned = store.PruneIdempotencyKeys(std::chrono::hours(24));
        if (pruned > 0) log::Info("pruned idempotency keys", {{"rows", pruned}});
    });
    // The platform gauges for Prometheus, from the figures the admin view charts.
    PeriodicTask gauges(
        "refresh the platform gauges", std::chrono::seconds(15),
        [&figures, &registry] {
            intake::ExportGauges(figures.Get(std::chrono::minutes(1)), registry);
        },
        /*run_at_start=*/true);

    // The chart versions for new stores follow intake.chart_defaults: a step reads it with
    // the rollouts and hands it over only when it changed (a canary passed on any replica).
    rollouts.OnChartDefaultsChanged([&store](intake::Rollouts::Defaults defaults) {
        store.SetChartDefaults(std::move(defaults));
    });
    PeriodicTask rollout_steps("step the fleet rollouts", std::chrono::seconds(1),
                               [&rollouts] { rollouts.Advance(); });

    const int signal = WaitForTerminationSignal();
    log::Info("intake stopping", {{"signal", signal}});
    rollout_steps.Stop();
    gauges.Stop();
    pruner.Stop();
    server.Stop();
    lifecycle.Stop();
    relay.Stop();
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    BlockTerminationSignals();
    log::Init("intake");
    try {
        const auto config = intake::IntakeConfig::FromEnv(EnvConfig());
        http::SetTrustedProxies(config.trusted_proxies);
        return MigrateOnlyRequested(argc, argv, EnvConfig()) ? Migrate(config) : Serve(config);
    } catch (const ConfigError& error) {
        std::cerr << "storefleet-intake: " << error.what() << "\n";
        return 2;
    } catch (const std::exception& error) {
        // Start-up failures (Postgres unreachable, a migration failing, a port taken) end
        // the process; the orchestrator restarts it.
        log::Error("intake failed", {{"error", error.what()}});
        std::cerr << "storefleet-intake: " << error.what() << "\n";
        return 1;
    }
}
