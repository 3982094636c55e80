#include "storefleet/pg/errors.hpp"

#include <pqxx/pqxx>

#include "storefleet/pg/pool.hpp"

namespace storefleet::pg {

bool IsUnavailable(const std::exception& error) {
    if (dynamic_cast<const pqxx::broken_connection*>(&error) != nullptr) return true;
    if (dynamic_cast<const PoolTimeout*>(&error) != nullptr) return true;
    if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&error); sql != nullptr) {
        const std::string state = sql->sqlstate();
        // 08: connection exception; 57: operator intervention (admin shutdown, cannot
        // connect now); 53: insufficient resources (too many connections).
        return state.rfind("08", 0) == 0 || state.rfind("57", 0) == 0 || state.rfind("53", 0) == 0;
    }
    return false;
}

}  // namespace storefleet::pg
