#include "views.hpp"

#include <algorithm>
#include <ctime>

namespace storefleet::query {
namespace {

nlohmann::json TextOrNull(const std::string& value) {
    return value.empty() ? nlohmann::json(nullptr) : nlohmann::json(value);
}

}  // namespace

nlohmann::json ToJson(const StoreView& store) {
    nlohmann::json json = {
        {"id", store.id},
        {"name", TextOrNull(store.name)},
        {"engine", TextOrNull(store.engine)},
        {"plan", TextOrNull(store.plan)},
        {"host", TextOrNull(store.host)},
        {"status", store.status},
        {"step", TextOrNull(store.step)},
        {"reason", TextOrNull(store.reason)},
        {"url", TextOrNull(store.url)},
        {"admin_url", TextOrNull(store.admin_url)},
        {"namespace", TextOrNull(store.k8s_namespace)},
        {"simulated", store.simulated},
        {"created_at", Rfc3339(store.created_at_us)},
        {"updated_at", Rfc3339(store.updated_at_us)},
        {"generation", store.generation},
        {"observed_generation", store.observed_generation},
        {"condition", {{"state", store.condition_state}, {"message", store.condition_message}}},
        {"chart_version", TextOrNull(store.observed_chart_version)},
        {"desired",
         {{"plan", TextOrNull(store.plan)},
          {"suspended", store.suspended},
          {"admin_email", TextOrNull(store.admin_email)},
          {"chart_version", TextOrNull(store.desired_chart_version)}}},
        {"desired_etag", DesiredEtag(store.generation)},
    };
    if (store.simulated) json["note"] = kSimulatedNote;
    return json;
}

std::string DesiredEtag(int64_t generation) { return "\"g" + std::to_string(generation) + "\""; }

nlohmann::json ToJson(const EventView& event) {
    return {
        {"event_id", event.event_id},
        {"type", event.type},
        {"status", TextOrNull(event.status)},
        {"step", TextOrNull(event.step)},
        {"reason", TextOrNull(event.reason)},
        {"occurred_at", Rfc3339(event.occurred_at_us)},
        {"correlation_id", TextOrNull(event.correlation_id)},
    };
}

nlohmann::json TimelineJson(const std::vector<EventView>& events) {
    nlohmann::json timeline = nlohmann::json::array();
    for (std::size_t i = 0; i < events.size(); ++i) {
        auto json = ToJson(events[i]);
        if (i + 1 < events.size()) {
            // Events come from different clocks (intake's, the provisioner's): never negative.
            json["duration_ms"] = std::max<int64_t>(
                0, (events[i + 1].occurred_at_us - events[i].occurred_at_us) / 1000);
        } else {
            json["duration_ms"] = nullptr;
        }
        timeline.push_back(std::move(json));
    }
    return timeline;
}

std::string StoreJsonText(const StoreView& store) {
    if (!store.ready_json.empty()) return store.ready_json;
    return ToJson(store).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string ListBody(const std::vector<StoreView>& items,
                     const std::optional<std::string>& next_cursor) {
    std::string body;
    std::size_t size = 64;
    for (const auto& store : items)
        size += store.ready_json.empty() ? 512 : store.ready_json.size() + 1;
    body.reserve(size);
    body += R"({"items":[)";
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (i > 0) body += ',';
        if (items[i].ready_json.empty()) {
            body += StoreJsonText(items[i]);
        } else {
            body += items[i].ready_json;
        }
    }
    body += R"(],"next_cursor":)";
    // A cursor is base64url: nothing in it needs escaping, but dump it like any string.
    body += next_cursor ? nlohmann::json(*next_cursor).dump() : std::string("null");
    body += "}\n";
    return body;
}

std::string Rfc3339(int64_t micros_since_epoch) {
    // Floor division, so times before 1970 still get a fraction in [0, 1 s).
    int64_t seconds = micros_since_epoch / 1'000'000;
    int64_t micros = micros_since_epoch % 1'000'000;
    if (micros < 0) {
        micros += 1'000'000;
        seconds -= 1;
    }
    const auto time = static_cast<std::time_t>(seconds);
    std::tm utc{};
    gmtime_r(&time, &utc);
    char buffer[96];  // room for any int the format could print
    std::snprintf(buffer, sizeof(buffer), "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ",
                  utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min,
                  utc.tm_sec, static_cast<long long>(micros));
    return buffer;
}

}  // namespace storefleet::query
