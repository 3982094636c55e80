#pragma once

#include <string>
#include <string_view>

#include "storefleet/common/config.hpp"

namespace storefleet::projector {

struct ProjectorConfig {
    std::string pg_url;
    std::string kafka_brokers;
    // Tests run several projectors against one broker; production keeps "projector".
    std::string group_id = "projector";
    // The Postgres schema of the read model. The query service reads "read"; the replay
    // check runs a second projector (its own group) into a schema of its own.
    std::string read_schema = "read";
    // Static group membership (group.instance.id): a projector restarted with the same id
    // gets its partitions back at once instead of after the dead member's session timeout.
    // Empty: a dynamic member. Each replica needs an id of its own (e.g. its pod name).
    std::string instance_id;
    std::string http_address = "127.0.0.1";
    int http_port = 8083;
    int http_threads = 1;  // only health, readiness and metrics

    static ProjectorConfig FromEnv(const EnvConfig& env);
};

// Whether `name` can be spelled into SQL as a schema name as it is: lower-case ASCII
// letters, digits and '_', not starting with a digit, at most 63 bytes (Postgres's limit),
// not "pg_..." (reserved by Postgres).
[[nodiscard]] bool IsPlainIdentifier(std::string_view name);

}  // namespace storefleet::projector
