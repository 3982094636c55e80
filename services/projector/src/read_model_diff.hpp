#pragma once

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

// The replay check: two read models built from the same topics by different consumer
// groups (the live one, and a fresh one replayed from offset 0) must hold the same rows.
// They can, because a store's row is a function of its events whatever order the two
// topics were read in (Decide), and each event is recorded once (store_events' key).
namespace storefleet::projector {

// Columns a live run and a replay legitimately disagree on, left out of the comparison.
// stores: none. Every column is derived from events (created_at and updated_at are event
// times, not insert times; last_sequence and request_seen follow from the events).
// store_events: recorded_at, the wall-clock time of the insert.
inline const std::vector<std::string> kStoresIgnoredColumns = {};
inline const std::vector<std::string> kEventsIgnoredColumns = {"recorded_at"};

struct ReadModelDiff {
    std::string a;  // schema names
    std::string b;
    // One line per partition whose stored next offset differs (or exists on one side
    // only): the two have not consumed the same messages, so rows may differ for now.
    std::vector<std::string> offsets;
    // One line per differing store (by store_id) and timeline event (by event_id), up to
    // the limit asked; the totals count them all.
    std::vector<std::string> stores;
    std::vector<std::string> events;
    int64_t stores_differing = 0;
    int64_t events_differing = 0;
    int64_t stores_in_a = 0;
    int64_t stores_in_b = 0;
    int64_t events_in_a = 0;
    int64_t events_in_b = 0;

    [[nodiscard]] bool OffsetsEqual() const { return offsets.empty(); }
    [[nodiscard]] bool RowsEqual() const { return stores_differing == 0 && events_differing == 0; }
};

// Pure: "<key>: only in <a>" / "only in <b>", or "<key>: <column> <a>=<v> <b>=<v>; ..."
// for each column whose values differ. A null object is a missing row.
std::string DescribeRowDifference(const std::string& key, const nlohmann::json& row_a,
                                  const nlohmann::json& row_b, const std::string& a,
                                  const std::string& b);

// Compares schemas `a` and `b` (plain identifiers, else std::invalid_argument) in one
// repeatable-read snapshot, so a projector committing meanwhile cannot tear the picture.
// Lists at most `max_lines` differing stores and as many events.
ReadModelDiff DiffReadModels(pqxx::connection& connection, const std::string& a,
                             const std::string& b, std::size_t max_lines = 50);

}  // namespace storefleet::projector
