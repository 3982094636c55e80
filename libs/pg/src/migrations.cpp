#include "storefleet/pg/migrations.hpp"

#include <stdexcept>

#include "storefleet/common/log.hpp"

namespace storefleet::pg {
namespace {

// libpqxx allows one transaction object per connection at a time, so every step opens
// and closes its own; the advisory lock is session-level and spans them all.
void RunOutsideTransaction(pqxx::connection& connection, const std::string& sql) {
    pqxx::nontransaction session(connection);
    session.exec(sql);
}

bool Blank(const std::string& text) {
    return text.find_first_not_of(" \t\r\n") == std::string::npos;
}

}  // namespace

void CheckMigrationList(const std::vector<Migration>& migrations) {
    int expected = 1;
    for (const auto& migration : migrations) {
        const std::string which = "migration " + std::to_string(migration.version);
        if (migration.version != expected) {
            throw std::invalid_argument(
                which + " where " + std::to_string(expected) +
                " was expected: versions run 1, 2, 3... without a gap or a duplicate");
        }
        if (Blank(migration.description))
            throw std::invalid_argument(which + " has no description");
        if (Blank(migration.sql)) throw std::invalid_argument(which + " has no SQL");
        ++expected;
    }
}

int ApplyMigrations(pqxx::connection& connection, const std::string& schema,
                    const std::vector<Migration>& migrations) {
    CheckMigrationList(migrations);
    const std::string quoted_schema = connection.quote_name(schema);
    const std::string lock_key =
        "hashtext(" + connection.quote("storefleet.migrations." + schema) + ")";
    // A migration (or waiting for another replica's) may take longer than the connection's
    // statement timeout; RESET at the end returns to the connection's own default.
    RunOutsideTransaction(connection, "set statement_timeout = 0");
    RunOutsideTransaction(connection, "select pg_advisory_lock(" + lock_key + ")");
    int applied = 0;
    try {
        int from = 0;
        {
            pqxx::nontransaction session(connection);
            session.exec("create schema if not exists " + quoted_schema);
            session.exec("create table if not exists " + quoted_schema +
                         ".schema_migrations (version int primary key, description text not null, "
                         "applied_at timestamptz not null default now())");
            from = session
                       .exec("select coalesce(max(version), 0) from " + quoted_schema +
                             ".schema_migrations")[0][0]
                       .as<int>();
        }
        for (const auto& migration : migrations) {
            if (migration.version <= from) continue;
            pqxx::work txn(connection);
            txn.exec("set local search_path to " + quoted_schema + ", public");
            txn.exec(migration.sql);
            txn.exec_params("insert into " + quoted_schema +
                                ".schema_migrations (version, description) values ($1, $2)",
                            migration.version, migration.description);
            txn.commit();
            ++applied;
            log::Info("applied migration", {{"schema", schema},
                                            {"version", migration.version},
                                            {"description", migration.description}});
        }
    } catch (...) {
        RunOutsideTransaction(connection, "select pg_advisory_unlock(" + lock_key + ")");
        RunOutsideTransaction(connection, "reset statement_timeout");
        throw;
    }
    RunOutsideTransaction(connection, "select pg_advisory_unlock(" + lock_key + ")");
    RunOutsideTransaction(connection, "reset statement_timeout");
    return applied;
}

}  // namespace storefleet::pg
