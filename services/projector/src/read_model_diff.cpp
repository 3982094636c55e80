#include "read_model_diff.hpp"

#include <map>
#include <set>
#include <stdexcept>
#include <utility>

#include "config.hpp"

namespace storefleet::projector {
namespace {

// "- 'col1' - 'col2'": jsonb minus each ignored key.
std::string Without(const std::vector<std::string>& columns) {
    std::string out;
    for (const auto& column : columns) out += " - '" + column + "'";
    return out;
}

// The rows of `table` keyed by `key` that differ between the two schemas, as
// (key, row in a or null, row in b or null, how many differ in all), up to `limit`. A
// null-extended side of the full join is a NULL whole-row value, so to_jsonb gives NULL.
std::string DifferingRowsSql(const std::string& a, const std::string& b, const std::string& table,
                             const std::string& key, const std::vector<std::string>& ignored,
                             std::size_t limit) {
    const std::string ja = "(to_jsonb(x)" + Without(ignored) + ")";
    const std::string jb = "(to_jsonb(y)" + Without(ignored) + ")";
    return "select coalesce(x." + key + ", y." + key + ")::text, " + ja + "::text, " + jb +
           "::text, count(*) over () from " + a + "." + table + " x full join " + b + "." + table +
           " y on x." + key + " = y." + key + " where " + ja + " is distinct from " + jb +
           " order by 1 limit " + std::to_string(limit);
}

using Offsets = std::map<std::pair<std::string, int32_t>, int64_t>;

Offsets LoadOffsets(pqxx::transaction_base& txn, const std::string& schema) {
    Offsets offsets;
    // A schema may hold several groups' offsets (earlier runs): the furthest one counts.
    for (const auto& row : txn.exec("select topic, partition, max(next_offset) from " + schema +
                                    ".consumer_offsets group by topic, partition")) {
        offsets[{row[0].as<std::string>(), row[1].as<int32_t>()}] = row[2].as<int64_t>();
    }
    return offsets;
}

nlohmann::json ParseOrNull(const pqxx::field& field) {
    return field.is_null() ? nlohmann::json() : nlohmann::json::parse(field.as<std::string>());
}

}  // namespace

std::string DescribeRowDifference(const std::string& key, const nlohmann::json& row_a,
                                  const nlohmann::json& row_b, const std::string& a,
                                  const std::string& b) {
    if (row_a.is_null()) return key + ": only in " + b;
    if (row_b.is_null()) return key + ": only in " + a;
    std::set<std::string> columns;
    for (const auto& [column, value] : row_a.items()) columns.insert(column);
    for (const auto& [column, value] : row_b.items()) columns.insert(column);
    std::string out = key + ":";
    const char* separator = " ";
    for (const auto& column : columns) {
        const nlohmann::json va = row_a.contains(column) ? row_a.at(column) : nlohmann::json();
        const nlohmann::json vb = row_b.contains(column) ? row_b.at(column) : nlohmann::json();
        if (va == vb) continue;
        out += separator + column + " " + a + "=" + va.dump() + " " + b + "=" + vb.dump();
        separator = "; ";
    }
    return out;
}

ReadModelDiff DiffReadModels(pqxx::connection& connection, const std::string& a,
                             const std::string& b, std::size_t max_lines) {
    for (const auto* schema : {&a, &b}) {
        if (!IsPlainIdentifier(*schema)) {
            throw std::invalid_argument("schema '" + *schema + "' is not a plain identifier");
        }
    }
    ReadModelDiff diff;
    diff.a = a;
    diff.b = b;
    pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> txn(connection);
    // Timestamps render the same for both sides; UTC keeps the printed ones unambiguous.
    txn.exec("set local timezone to 'UTC'");

    const Offsets offsets_a = LoadOffsets(txn, a);
    const Offsets offsets_b = LoadOffsets(txn, b);
    std::set<std::pair<std::string, int32_t>> partitions;
    for (const auto& [partition, offset] : offsets_a) partitions.insert(partition);
    for (const auto& [partition, offset] : offsets_b) partitions.insert(partition);
    for (const auto& partition : partitions) {
        const auto in_a = offsets_a.find(partition);
        const auto in_b = offsets_b.find(partition);
        const auto show = [](const Offsets& offsets, Offsets::const_iterator it) {
            return it == offsets.end() ? std::string("none") : std::to_string(it->second);
        };
        if (in_a == offsets_a.end() || in_b == offsets_b.end() || in_a->second != in_b->second) {
            diff.offsets.push_back(partition.first + "/" + std::to_string(partition.second) +
                                   ": next offset " + a + "=" + show(offsets_a, in_a) + " " + b +
                                   "=" + show(offsets_b, in_b));
        }
    }

    const auto count = [&txn](const std::string& table) {
        return txn.exec("select count(*) from " + table)[0][0].as<int64_t>();
    };
    diff.stores_in_a = count(a + ".stores");
    diff.stores_in_b = count(b + ".stores");
    diff.events_in_a = count(a + ".store_events");
    diff.events_in_b = count(b + ".store_events");

    const auto collect = [&](const std::string& table, const std::string& key,
                             const std::vector<std::string>& ignored,
                             std::vector<std::string>& lines, int64_t& total) {
        for (const auto& row : txn.exec(DifferingRowsSql(a, b, table, key, ignored, max_lines))) {
            total = row[3].as<int64_t>();
            lines.push_back(DescribeRowDifference(table + " " + row[0].as<std::string>(),
                                                  ParseOrNull(row[1]), ParseOrNull(row[2]), a, b));
        }
    };
    collect("stores", "store_id", kStoresIgnoredColumns, diff.stores, diff.stores_differing);
    collect("store_events", "event_id", kEventsIgnoredColumns, diff.events, diff.events_differing);
    txn.commit();
    return diff;
}

}  // namespace storefleet::projector
