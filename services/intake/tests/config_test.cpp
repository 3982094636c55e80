#include "config.hpp"

#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>

#include "storefleet/events/chart_catalogue.hpp"

namespace storefleet::intake {
namespace {

class TokenFileTest : public ::testing::Test {
protected:
    void TearDown() override { std::filesystem::remove(path_); }
    std::string Write(const std::string& text) {
        std::ofstream(path_) << text;
        return path_.string();
    }
    std::filesystem::path path_ = std::filesystem::temp_directory_path() /
                                  ("intake-token-" + std::to_string(::getpid()) + ".txt");
};

TEST_F(TokenFileTest, ReadsTheFirstLineWithoutItsLineEnd) {
    EXPECT_EQ(ReadTokenFile(Write("0123456789abcdef0123\r\nsecond line\n")),
              "0123456789abcdef0123");
}

TEST_F(TokenFileTest, RefusesAShortTokenWithoutShowingIt) {
    const std::string path = Write("short-secret\n");
    try {
        ReadTokenFile(path);
        FAIL() << "a 12-character token was accepted";
    } catch (const ConfigError& error) {
        const std::string message = error.what();
        EXPECT_NE(message.find("at least 16"), std::string::npos) << message;
        EXPECT_NE(message.find(path), std::string::npos) << message;
        EXPECT_EQ(message.find("short-secret"), std::string::npos)
            << "the message shows the token: " << message;
    }
}

TEST_F(TokenFileTest, RefusesAnEmptyOrMissingFile) {
    EXPECT_THROW(ReadTokenFile(Write("")), ConfigError);
    EXPECT_THROW(ReadTokenFile("/nonexistent/storefleet-token"), ConfigError);
}

EnvConfig Env(std::map<std::string, std::string> values) {
    return EnvConfig(
        [values = std::move(values)](const std::string& name) -> std::optional<std::string> {
            const auto found = values.find(name);
            if (found == values.end()) return std::nullopt;
            return found->second;
        });
}

TEST(IntakeConfigTest, TheCatalogueIsReadFromTheSetting) {
    const auto config =
        IntakeConfig::FromEnv(Env({{"STOREFLEET_PG_URL", "postgresql://x"},
                                   {"STOREFLEET_KAFKA_BROKERS", "localhost:9092"},
                                   {"STOREFLEET_CHART_CATALOGUE", STOREFLEET_CHART_CATALOGUE}}));
    const auto charts = LoadChartCatalogue(config.chart_catalogue);
    EXPECT_TRUE(charts.Offers("medusa"));
    EXPECT_TRUE(charts.Offers("woocommerce"));
    EXPECT_FALSE(charts.DefaultVersion("medusa").empty());
}

TEST(IntakeConfigTest, TheImagesCatalogueIsTheDefaultAndAMissingOneIsNamed) {
    const auto config = IntakeConfig::FromEnv(Env(
        {{"STOREFLEET_PG_URL", "postgresql://x"}, {"STOREFLEET_KAFKA_BROKERS", "localhost:9092"}}));
    EXPECT_EQ(config.chart_catalogue, "/opt/storefleet/chart-catalogue");
    try {
        LoadChartCatalogue("/nonexistent/catalogue");
        FAIL() << "a missing catalogue was accepted";
    } catch (const ConfigError& error) {
        const std::string message = error.what();
        EXPECT_NE(message.find("STOREFLEET_CHART_CATALOGUE"), std::string::npos) << message;
        EXPECT_NE(message.find("/nonexistent/catalogue/index.json"), std::string::npos) << message;
    }
}

}  // namespace
}  // namespace storefleet::intake
