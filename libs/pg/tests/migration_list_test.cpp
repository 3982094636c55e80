#include <gtest/gtest.h>

#include <stdexcept>

#include "storefleet/pg/migrations.hpp"

namespace storefleet::pg {
namespace {

TEST(MigrationListTest, AcceptsVersionsFromOneWithoutGap) {
    EXPECT_NO_THROW(CheckMigrationList({}));
    EXPECT_NO_THROW(
        CheckMigrationList({{1, "first", "create table a (x int);"}, {2, "second", "select 1;"}}));
}

TEST(MigrationListTest, RefusesAGapADuplicateOrAWrongStart) {
    EXPECT_THROW(CheckMigrationList({{2, "two", "select 1;"}}), std::invalid_argument);
    EXPECT_THROW(CheckMigrationList({{1, "one", "select 1;"}, {3, "three", "select 1;"}}),
                 std::invalid_argument);
    EXPECT_THROW(CheckMigrationList({{1, "one", "select 1;"}, {1, "again", "select 1;"}}),
                 std::invalid_argument);
    EXPECT_THROW(CheckMigrationList(
                     {{1, "one", "select 1;"}, {2, "two", "select 1;"}, {1, "back", "select 1;"}}),
                 std::invalid_argument);
}

TEST(MigrationListTest, RefusesAnEmptyDescriptionOrSql) {
    EXPECT_THROW(CheckMigrationList({{1, " ", "select 1;"}}), std::invalid_argument);
    EXPECT_THROW(CheckMigrationList({{1, "one", "\n  \n"}}), std::invalid_argument);
}

}  // namespace
}  // namespace storefleet::pg
