#include "config.hpp"

#include <algorithm>

namespace storefleet::projector {

bool IsPlainIdentifier(std::string_view name) {
    if (name.empty() || name.size() > 63 || name.starts_with("pg_")) return false;
    if (name.front() >= '0' && name.front() <= '9') return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    });
}

ProjectorConfig ProjectorConfig::FromEnv(const EnvConfig& env) {
    ProjectorConfig config;
    config.pg_url = env.Required("STOREFLEET_PG_URL");
    config.kafka_brokers = env.Required("STOREFLEET_KAFKA_BROKERS");
    config.group_id = env.String("STOREFLEET_KAFKA_GROUP", config.group_id);
    config.instance_id = env.String("STOREFLEET_KAFKA_INSTANCE_ID", config.instance_id);
    config.read_schema = env.String("STOREFLEET_READ_SCHEMA", config.read_schema);
    if (!IsPlainIdentifier(config.read_schema)) {
        throw ConfigError(
            "STOREFLEET_READ_SCHEMA must be a plain identifier (a-z, 0-9, _, not "
            "starting with a digit or pg_, at most 63 characters), got '" +
            config.read_schema + "'");
    }
    config.http_address = env.String("STOREFLEET_HTTP_ADDRESS", config.http_address);
    config.http_port =
        static_cast<int>(env.Int("STOREFLEET_HTTP_PORT", config.http_port, 0, 65535));
    config.http_threads =
        static_cast<int>(env.Int("STOREFLEET_HTTP_THREADS", config.http_threads, 1, 16));
    return config;
}

}  // namespace storefleet::projector
