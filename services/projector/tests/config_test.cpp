#include "config.hpp"

#include <gtest/gtest.h>

#include <map>
#include <vector>

namespace storefleet::projector {
namespace {

EnvConfig Env(std::map<std::string, std::string> values) {
    return EnvConfig::FromMap(std::move(values));
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
    EXPECT_EQ(config.instance_id, "") << "a dynamic member unless told";
    EXPECT_EQ(config.http_port, 0);
    EXPECT_THROW(ProjectorConfig::FromEnv(Env({{"STOREFLEET_PG_URL", "postgresql://x"},
                                               {"STOREFLEET_KAFKA_BROKERS", "k:9092"},
                                               {"STOREFLEET_HTTP_PORT", "http"}})),
                 ConfigError);
}

TEST(ProjectorConfigTest, TheReadSchemaIsAPlainIdentifier) {
    auto with_schema = [](const std::string& schema) {
        return ProjectorConfig::FromEnv(Env({{"STOREFLEET_PG_URL", "postgresql://x"},
                                             {"STOREFLEET_KAFKA_BROKERS", "k:9092"},
                                             {"STOREFLEET_READ_SCHEMA", schema}}));
    };
    EXPECT_EQ(ProjectorConfig::FromEnv(Env({{"STOREFLEET_PG_URL", "postgresql://x"},
                                            {"STOREFLEET_KAFKA_BROKERS", "k:9092"}}))
                  .read_schema,
              "read");
    EXPECT_EQ(with_schema("replay_2").read_schema, "replay_2");
    EXPECT_EQ(with_schema("").read_schema, "read") << "empty means unset, as everywhere";
    for (const std::string& bad : std::vector<std::string>{
             "Read", "read;drop", "read.x", "2read", "pg_temp", "\"read\"", std::string(64, 'a')}) {
        EXPECT_THROW(with_schema(bad), ConfigError) << bad;
    }
    EXPECT_TRUE(IsPlainIdentifier(std::string(63, 'a')));
    EXPECT_TRUE(IsPlainIdentifier("_x"));
}

}  // namespace
}  // namespace storefleet::projector
