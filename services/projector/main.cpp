// storefleet-projector: builds the read model from store-commands and store-status.
// Composition root only.
#include <iostream>

#include "config.hpp"
#include "projector.hpp"
#include "read_model.hpp"
#include "storefleet/common/log.hpp"
#include "storefleet/common/periodic_task.hpp"
#include "storefleet/common/shutdown.hpp"
#include "storefleet/events/envelope.hpp"
#include "storefleet/http/server.hpp"
#include "storefleet/kafka/topics.hpp"
#include "storefleet/pg/partition_counts.hpp"

using namespace storefleet;

namespace {

int Migrate(const projector::ProjectorConfig& config) {
    pg::Pool pool(config.pg_url, 1);
    projector::PgReadModel read_model(pool, config.group_id, config.read_schema);
    read_model.Migrate();
    log::Info("projector migrations applied; exiting (migrate-only)",
              {{"schema", config.read_schema}});
    return 0;
}

// A store's events are ordered by its partition's offsets: refuse to run on topics whose
// partition count changed since the read model was first built (exit 2), or when the brokers
// cannot say within two minutes (exit 1). 0: the counts are the ones on record.
int CheckPartitionCountsUnchanged(const projector::ProjectorConfig& config, pg::Pool& pool) {
    auto counts = kafka::WaitForPartitionCounts(config.kafka_brokers,
                                                {events::kCommandsTopic, events::kStatusTopic},
                                                std::chrono::seconds(120));
    if (!counts.ok()) {
        std::cerr << "storefleet-projector: " << counts.error().message << "\n";
        return 1;
    }
    auto lease = pool.Acquire();
    if (auto checked = pg::CheckPartitionCounts(*lease, config.read_schema, *counts);
        !checked.ok()) {
        log::Error("refusing to run: the Kafka partition counts changed",
                   {{"error", checked.error().message}});
        std::cerr << "storefleet-projector: " << checked.error().message << "\n";
        return 2;
    }
    return 0;
}

int Serve(const projector::ProjectorConfig& config) {
    metrics::Registry registry;
    // One connection for the consumer thread, one for /readyz, one for the pruner.
    pg::Pool pool(config.pg_url, 3);
    projector::PgReadModel read_model(pool, config.group_id, config.read_schema);
    read_model.Migrate();
    if (const int refused = CheckPartitionCountsUnchanged(config, pool); refused != 0)
        return refused;
    projector::Projector projector(read_model, registry);
    kafka::KafkaConsumer consumer(
        {.brokers = config.kafka_brokers,
         .group_id = config.group_id,
         .client_id = "storefleet-projector",
         .topics = {events::kCommandsTopic, events::kStatusTopic},
         .on_assign = [&projector](auto& partitions) { projector.OnAssign(partitions); },
         .on_revoke = {},
         .overrides = {},
         .instance_id = config.instance_id});
    http::HttpServer server({config.http_address, static_cast<uint16_t>(config.http_port),
                             config.http_threads, 64 * 1024},
                            registry, [&] { return pool.Ping(); });

    // The server first: if it cannot bind, nothing is running yet that would need stopping.
    server.Start();
    projector.Start(consumer);
    log::Info(
        "projector started",
        {{"port", server.Port()}, {"group", config.group_id}, {"schema", config.read_schema}});
    // The live stream's change log keeps 24 h; every replica prunes (idempotent).
    PeriodicTask pruner("prune the store change log", std::chrono::minutes(10), [&read_model] {
        const int64_t pruned = read_model.PruneChangeLog();
        if (pruned > 0) log::Info("pruned store change log", {{"rows", pruned}});
    });
    const int signal = WaitForTerminationSignal();
    log::Info("projector stopping", {{"signal", signal}});
    pruner.Stop();
    projector.Stop();
    consumer.Close();  // leaves the group now, so the partitions move without a timeout
    server.Stop();
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    BlockTerminationSignals();
    log::Init("projector");
    projector::ProjectorConfig config;
    bool migrate_only = false;
    try {
        config = projector::ProjectorConfig::FromEnv(EnvConfig());
        migrate_only = MigrateOnlyRequested(argc, argv, EnvConfig());
    } catch (const ConfigError& error) {
        std::cerr << "storefleet-projector: " << error.what() << "\n";
        return 2;
    }
    try {
        return migrate_only ? Migrate(config) : Serve(config);
    } catch (const std::exception& error) {
        // Start-up failures (Postgres unreachable, a migration failing, a bad Kafka
        // setting) end the process; the orchestrator restarts it.
        log::Error("projector failed to start", {{"error", error.what()}});
        return 1;
    }
}
