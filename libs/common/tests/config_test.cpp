#include "storefleet/common/config.hpp"

#include <gtest/gtest.h>

#include <map>

namespace storefleet {
namespace {

EnvConfig FromMap(const std::map<std::string, std::string>& values) {
    return EnvConfig::FromMap(values);
}

TEST(EnvConfigTest, RequiredNamesTheMissingVariable) {
    auto config = FromMap({});
    try {
        (void)config.Required("STOREFLEET_PG_URL");
        FAIL() << "expected ConfigError";
    } catch (const ConfigError& error) {
        EXPECT_STREQ(error.what(), "STOREFLEET_PG_URL is required but not set");
    }
}

TEST(EnvConfigTest, IntParsesAndChecksBounds) {
    auto config = FromMap({{"A", "42"}, {"B", "4x"}, {"C", "900"}});
    EXPECT_EQ(config.Int("A", 1, 0, 100), 42);
    EXPECT_EQ(config.Int("MISSING", 7, 0, 100), 7);
    EXPECT_THROW((void)config.Int("B", 1, 0, 100), ConfigError);
    EXPECT_THROW((void)config.Int("C", 1, 0, 100), ConfigError);
}

TEST(EnvConfigTest, BoolAcceptsCommonSpellingsOnly) {
    auto config = FromMap({{"T", "true"}, {"F", "0"}, {"X", "maybe"}});
    EXPECT_TRUE(config.Bool("T", false));
    EXPECT_FALSE(config.Bool("F", true));
    EXPECT_TRUE(config.Bool("MISSING", true));
    EXPECT_THROW((void)config.Bool("X", false), ConfigError);
}

TEST(EnvConfigTest, ListSplitsOnCommasAndRefusesWhatIsNotAllowed) {
    auto config = FromMap({{"L", "medusa,,woocommerce"}, {"BAD", "medusa,magento"}});
    EXPECT_EQ(config.List("L", {"woocommerce", "medusa"}),
              (std::vector<std::string>{"medusa", "woocommerce"}));
    EXPECT_TRUE(config.List("MISSING", {"medusa"}).empty());
    try {
        (void)config.List("BAD", {"woocommerce", "medusa"});
        FAIL() << "expected ConfigError";
    } catch (const ConfigError& error) {
        EXPECT_STREQ(error.what(), "BAD holds 'magento'; allowed: woocommerce, medusa");
    }
}

TEST(EnvConfigTest, MigrateOnlyFromTheFlagOrTheEnvironmentAndNothingElse) {
    const char* none[] = {"svc"};
    const char* flag[] = {"svc", "--migrate-only"};
    const char* other[] = {"svc", "--migrate"};
    EXPECT_FALSE(MigrateOnlyRequested(1, none, FromMap({})));
    EXPECT_TRUE(MigrateOnlyRequested(2, flag, FromMap({})));
    EXPECT_TRUE(MigrateOnlyRequested(1, none, FromMap({{"STOREFLEET_MIGRATE_ONLY", "true"}})));
    EXPECT_THROW((void)MigrateOnlyRequested(2, other, FromMap({})), ConfigError);
}

}  // namespace
}  // namespace storefleet
