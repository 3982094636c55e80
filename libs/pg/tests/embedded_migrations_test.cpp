// Compiled once per service by storefleet_embed_sql(... TEST <name>) (cmake/EmbedSql.cmake):
// STOREFLEET_MIGRATIONS_HEADER is the generated header, STOREFLEET_MIGRATIONS its list.
#include STOREFLEET_MIGRATIONS_HEADER

#include <gtest/gtest.h>

#include <set>

namespace {

TEST(EmbeddedMigrationsTest, NumberedFromOneWithoutGapOrDuplicate) {
    const auto& migrations = STOREFLEET_MIGRATIONS();
    ASSERT_FALSE(migrations.empty());
    std::set<int> seen;
    for (std::size_t i = 0; i < migrations.size(); ++i) {
        EXPECT_EQ(migrations[i].version, static_cast<int>(i) + 1)
            << "migration #" << i << " in file order";
        EXPECT_TRUE(seen.insert(migrations[i].version).second)
            << "version " << migrations[i].version << " twice";
    }
    EXPECT_NO_THROW(storefleet::pg::CheckMigrationList(migrations));
}

TEST(EmbeddedMigrationsTest, EachHasADescriptionAndSql) {
    for (const auto& migration : STOREFLEET_MIGRATIONS()) {
        EXPECT_FALSE(migration.description.empty()) << "version " << migration.version;
        EXPECT_NE(migration.sql.find_first_not_of(" \t\r\n"), std::string::npos)
            << "version " << migration.version;
        // The description line is the file's first line, not part of the SQL.
        EXPECT_NE(migration.sql.rfind("-- " + migration.description, 0), 0u)
            << "version " << migration.version;
    }
}

}  // namespace
