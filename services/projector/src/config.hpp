#pragma once

#include <string>

#include "storefleet/common/config.hpp"

namespace storefleet::projector {

struct ProjectorConfig {
    std::string pg_url;
    std::string kafka_brokers;
    // Tests run several projectors against one broker; production keeps "projector".
    std::string group_id = "projector";
    std::string http_address = "127.0.0.1";
    int http_port = 8083;
    int http_threads = 1;  // only health, readiness and metrics

    static ProjectorConfig FromEnv(const EnvConfig& env);
};

}  // namespace storefleet::projector
