#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

// What the query API shows of the read model, and its JSON. Pure functions.
namespace storefleet::query {

// One read.stores row. Empty strings are NULL in the table and null in JSON.
struct StoreView {
    std::string id;
    std::string name;
    std::string engine;
    std::string plan;
    std::string host;
    std::string status;
    std::string step;
    std::string reason;
    std::string url;
    std::string admin_url;
    std::string k8s_namespace;
    bool simulated = false;
    int64_t created_at_us = 0;
    int64_t updated_at_us = 0;
    // Its life (decision 11): the generation of its desired state (plan above, suspended,
    // admin_email), the one it converged to, and the condition the read model derives from
    // them (the projector's migration 7, store_condition; never derived here).
    int64_t generation = 1;
    int64_t observed_generation = 0;
    bool suspended = false;
    std::string admin_email;
    std::string condition_state = "converging";  // in_sync | converging | out_of_sync | degraded
    std::string condition_message;
    // The store chart's version its desired state asks for (empty: not pinned, the engine's
    // default) and the one it last converged to (empty: none yet); JSON "desired" and
    // "chart_version".
    std::string desired_chart_version;
    std::string observed_chart_version;
    // When not empty: ToJson(*this) already dumped, as the read model keeps it
    // (read.stores.view_json); the fields above may then be left empty, except id and
    // created_at_us (the list's cursor).
    std::string ready_json;
};

// One read.store_events row.
struct EventView {
    std::string event_id;
    std::string type;
    std::string status;
    std::string step;
    std::string reason;
    int64_t occurred_at_us = 0;
    std::string correlation_id;
};

// Said next to every store on a simulated cluster, so nobody mistakes its URL for a shop.
inline constexpr const char* kSimulatedNote =
    "simulated cluster (KWOK): the Kubernetes objects are real, the shop behind this URL is "
    "not running";

nlohmann::json ToJson(const StoreView& store);
// The desired state's entity tag, "g<generation>" with its quotes: If-Match of a PATCH.
std::string DesiredEtag(int64_t generation);
nlohmann::json ToJson(const EventView& event);
// A store's timeline, oldest first; each event carries duration_ms, the time until the next
// one (how long that step took), null for the last.
nlohmann::json TimelineJson(const std::vector<EventView>& events);

// The store's JSON as the API sends it (compact): its ready_json, or ToJson dumped.
std::string StoreJsonText(const StoreView& store);
// The body of GET /api/v1/stores: {"items":[...],"next_cursor":...} and a newline, the
// same bytes as dumping the equivalent nlohmann object, without building one.
std::string ListBody(const std::vector<StoreView>& items,
                     const std::optional<std::string>& next_cursor);

// RFC 3339 in UTC with microseconds: "2024-05-01T12:00:00.000000Z".
std::string Rfc3339(int64_t micros_since_epoch);

}  // namespace storefleet::query
