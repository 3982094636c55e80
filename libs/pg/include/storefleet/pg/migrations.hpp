#pragma once

#include <pqxx/pqxx>

#include <string>
#include <vector>

namespace storefleet::pg {

// One step of a schema. Only `version` and `description` are recorded (schema_migrations);
// nothing hashes `sql`, so a comment may change, but a deployed version's effect never may.
// Services keep theirs as numbered files, NNNN_words.sql, embedded at build time
// (cmake/EmbedSql.cmake).
struct Migration {
    int version;
    std::string description;
    std::string sql;
};

// Throws std::invalid_argument naming the first fault of `migrations`: versions not
// 1, 2, 3... in order (a gap or a duplicate), or an empty description or SQL.
void CheckMigrationList(const std::vector<Migration>& migrations);

// Creates `schema` if needed and applies, in order and each in its own transaction, the
// migrations newer than the schema's recorded version. Holds a Postgres advisory lock
// keyed by the schema name meanwhile, so concurrent starts apply each migration once.
// Returns how many migrations it applied. Checks the list first (CheckMigrationList).
int ApplyMigrations(pqxx::connection& connection, const std::string& schema,
                    const std::vector<Migration>& migrations);

}  // namespace storefleet::pg
