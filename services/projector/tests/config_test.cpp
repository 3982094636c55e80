#include "config.hpp"

#include <gtest/gtest.h>

#include <map>

namespace storefleet::projector {
namespace {

EnvConfig Env(std::map<std::string, std::string> values) {
    return EnvConfig(
        [values = std::move(values)](const std::string& name) -> std::optional<std::string> {
            auto it = values.find(name);
            if (it == values.end()) return std::nullopt;
            return it->second;
        });
}

TEST(ProjectorConfigTest, NeedsPostgresAndKafka) {
    EXPECT_THROW(ProjectorConfig::FromEnv(Env({{"STOREFLEET_KAFKA_BROKERS", "k:9092"}})),
                 ConfigError);
    EXPECT_THROW(ProjectorConfig::FromEnv(Env({{"STOREFLEET_PG_URL", "postgresql://x"}})),
                 ConfigError);
}

TEST(ProjectorConfigTest, HasDefaultsAndTakesOverrides) {
    auto config = ProjectorConfig::FromEnv(
        Env({{"STOREFLEET_PG_URL", "postgresql://x"}, {"STOREFLEET_KAFKA_BROKERS", "k:9092"}}));
    EXPECT_EQ(config.group_id, "projector");
    EXPECT_EQ(config.http_port, 8083);
    config = ProjectorConfig::FromEnv(Env({{"STOREFLEET_PG_URL", "postgresql://x"},
                                           {"STOREFLEET_KAFKA_BROKERS", "k:9092"},
                                           {"STOREFLEET_KAFKA_GROUP", "projector-test"},
                                           {"STOREFLEET_HTTP_PORT", "0"}}));
    EXPECT_EQ(config.group_id, "projector-test");
    EXPECT_EQ(config.http_port, 0);
    EXPECT_THROW(ProjectorConfig::FromEnv(Env({{"STOREFLEET_PG_URL", "postgresql://x"},
                                               {"STOREFLEET_KAFKA_BROKERS", "k:9092"},
                                               {"STOREFLEET_HTTP_PORT", "http"}})),
                 ConfigError);
}

}  // namespace
}  // namespace storefleet::projector
