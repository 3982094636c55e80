#pragma once

#include <pqxx/pqxx>

#include <string>
#include <vector>

namespace storefleet::pg {

struct Migration {
    int version;
    std::string description;
    std::string sql;
};

// Creates `schema` if needed and applies, in order and each in its own transaction, the
// migrations newer than the schema's recorded version. Holds a Postgres advisory lock
// keyed by the schema name meanwhile, so concurrent starts apply each migration once.
// Returns how many migrations it applied.
int ApplyMigrations(pqxx::connection& connection, const std::string& schema,
                    const std::vector<Migration>& migrations);

}  // namespace storefleet::pg
