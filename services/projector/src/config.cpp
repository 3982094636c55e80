#include "config.hpp"

namespace storefleet::projector {

ProjectorConfig ProjectorConfig::FromEnv(const EnvConfig& env) {
    ProjectorConfig config;
    config.pg_url = env.Required("STOREFLEET_PG_URL");
    config.kafka_brokers = env.Required("STOREFLEET_KAFKA_BROKERS");
    config.group_id = env.String("STOREFLEET_KAFKA_GROUP", config.group_id);
    config.http_address = env.String("STOREFLEET_HTTP_ADDRESS", config.http_address);
    config.http_port =
        static_cast<int>(env.Int("STOREFLEET_HTTP_PORT", config.http_port, 0, 65535));
    config.http_threads =
        static_cast<int>(env.Int("STOREFLEET_HTTP_THREADS", config.http_threads, 1, 16));
    return config;
}

}  // namespace storefleet::projector
