#include "rollout_plan.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <functional>
#include <set>

#include "storefleet/common/ids.hpp"

namespace storefleet::intake {

namespace {

const std::set<std::string, std::less<>> kPlans = {"small", "medium", "large"};

Error Invalid(const std::string& field, const std::string& message) {
    return Error::Invalid(field, message);
}

// Members of `object` outside `allowed` are refused (a typo would otherwise be ignored).
std::optional<Error> UnknownMember(const nlohmann::json& object, const std::string& where,
                                   const std::set<std::string, std::less<>>& allowed) {
    for (const auto& [key, _] : object.items()) {
        if (!allowed.contains(key)) {
            std::string names;
            for (const auto& name : allowed) names += (names.empty() ? "" : ", ") + name;
            const std::string field = where.empty() ? key : where + "." + key;
            return Invalid(field, "unknown member '" + field + "'; allowed: " + names);
        }
    }
    return std::nullopt;
}

// A list of strings, each accepted by `valid` (which says what is wrong, or "").
Result<std::vector<std::string>> StringList(
    const nlohmann::json& value, const std::string& field,
    const std::function<std::string(const std::string&)>& valid) {
    if (!value.is_array()) return Invalid(field, field + " must be a list of strings");
    std::vector<std::string> out;
    for (const auto& item : value) {
        if (!item.is_string()) return Invalid(field, field + " must be a list of strings");
        const auto text = item.get<std::string>();
        if (const auto why = valid(text); !why.empty()) return Invalid(field, field + ": " + why);
        out.push_back(text);
    }
    if (out.size() > 10'000) return Invalid(field, field + " may name at most 10000 items");
    return out;
}

// An integer member in [min, max]; `fallback` when absent.
Result<int> Integer(const nlohmann::json& object, const std::string& key, const std::string& field,
                    int min, int max, int fallback) {
    if (!object.contains(key)) return fallback;
    const auto& value = object[key];
    if (!value.is_number_integer() || value.get<int64_t>() < min || value.get<int64_t>() > max) {
        return Invalid(field, field + " must be an integer from " + std::to_string(min) + " to " +
                                  std::to_string(max));
    }
    return static_cast<int>(value.get<int64_t>());
}

Result<RolloutSelector> ParseSelector(const nlohmann::json& json) {
    RolloutSelector selector;
    if (json.is_string() && json.get<std::string>() == "all") return selector;
    if (!json.is_object()) {
        return Invalid("selector",
                       R"(selector must be "all" or an object with tenants, plans or store_ids)");
    }
    if (auto unknown = UnknownMember(json, "selector", {"tenants", "plans", "store_ids"}))
        return *unknown;
    if (json.contains("tenants")) {
        auto tenants = StringList(json["tenants"], "selector.tenants", [](const std::string& t) {
            return t.empty() || t.size() > 63 ? "a tenant id has 1 to 63 characters" : "";
        });
        if (!tenants.ok()) return tenants.error();
        selector.tenants = *tenants;
    }
    if (json.contains("plans")) {
        auto plans = StringList(json["plans"], "selector.plans", [](const std::string& p) {
            return kPlans.contains(p) ? "" : "'" + p + "' is not a plan (small, medium, large)";
        });
        if (!plans.ok()) return plans.error();
        selector.plans = *plans;
    }
    if (json.contains("store_ids")) {
        auto ids = StringList(json["store_ids"], "selector.store_ids", [](const std::string& id) {
            return IsUuid(id) ? "" : "'" + id + "' is not a store id";
        });
        if (!ids.ok()) return ids.error();
        selector.store_ids = *ids;
    }
    return selector;
}

Result<RolloutStrategy> ParseStrategy(const nlohmann::json& json) {
    RolloutStrategy strategy;
    if (!json.is_object()) return Invalid("strategy", "strategy must be an object");
    if (auto unknown = UnknownMember(json, "strategy",
                                     {"canary", "waves", "max_in_flight", "ready_within_seconds",
                                      "max_failed", "max_failed_percent"})) {
        return *unknown;
    }
    auto canary = Integer(json, "canary", "strategy.canary", 0, 1000, strategy.canary);
    if (!canary.ok()) return canary.error();
    strategy.canary = *canary;
    if (json.contains("waves")) {
        const auto& waves = json["waves"];
        const std::string what =
            "strategy.waves must be increasing percentages ending at 100, like [25, 50, 100]";
        if (!waves.is_array() || waves.empty() || waves.size() > 20)
            return Invalid("strategy.waves", what);
        strategy.waves.clear();
        for (const auto& wave : waves) {
            if (!wave.is_number_integer() || wave.get<int64_t>() < 1 || wave.get<int64_t>() > 100 ||
                (!strategy.waves.empty() && wave.get<int64_t>() <= strategy.waves.back())) {
                return Invalid("strategy.waves", what);
            }
            strategy.waves.push_back(static_cast<int>(wave.get<int64_t>()));
        }
        if (strategy.waves.back() != 100) return Invalid("strategy.waves", what);
    }
    auto in_flight =
        Integer(json, "max_in_flight", "strategy.max_in_flight", 1, 500, strategy.max_in_flight);
    if (!in_flight.ok()) return in_flight.error();
    strategy.max_in_flight = *in_flight;
    auto ready = Integer(json, "ready_within_seconds", "strategy.ready_within_seconds", 10, 86'400,
                         static_cast<int>(strategy.ready_within.count()));
    if (!ready.ok()) return ready.error();
    strategy.ready_within = std::chrono::seconds(*ready);
    auto failed =
        Integer(json, "max_failed", "strategy.max_failed", 0, 100'000, strategy.max_failed);
    if (!failed.ok()) return failed.error();
    strategy.max_failed = *failed;
    auto percent = Integer(json, "max_failed_percent", "strategy.max_failed_percent", 0, 100,
                           strategy.max_failed_percent);
    if (!percent.ok()) return percent.error();
    strategy.max_failed_percent = *percent;
    return strategy;
}

}  // namespace

Result<RolloutRequest> ParseRolloutRequest(const std::string& body,
                                           const events::ChartCatalogue& charts) {
    const auto json = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (json.is_discarded() || !json.is_object()) {
        return Invalid(
            "body",
            R"(body must be a JSON object like {"engine":"woocommerce","target_version":"0.2.0"})");
    }
    if (auto unknown = UnknownMember(
            json, "", {"engine", "target_version", "selector", "strategy", "on_halt"}))
        return *unknown;
    RolloutRequest request;
    if (!json.contains("engine") || !json["engine"].is_string())
        return Invalid("engine", "engine is required: woocommerce or medusa");
    request.engine = json["engine"].get<std::string>();
    if (!charts.Offers(request.engine))
        return Invalid("engine", "engine '" + request.engine + "' is not offered on this platform");
    if (!json.contains("target_version") || !json["target_version"].is_string())
        return Invalid("target_version", "target_version is required: a chart version");
    request.target_version = json["target_version"].get<std::string>();
    if (charts.Find(request.engine, request.target_version) == nullptr ||
        request.target_version.empty()) {
        std::string versions;
        for (const auto& version : charts.Versions(request.engine))
            versions += (versions.empty() ? "" : ", ") + version;
        return Invalid("target_version", request.engine + " chart version '" +
                                             request.target_version +
                                             "' is not in the catalogue (it has " + versions + ")");
    }
    if (json.contains("selector")) {
        auto selector = ParseSelector(json["selector"]);
        if (!selector.ok()) return selector.error();
        request.selector = *selector;
    }
    if (json.contains("strategy")) {
        auto strategy = ParseStrategy(json["strategy"]);
        if (!strategy.ok()) return strategy.error();
        request.strategy = *strategy;
    }
    if (json.contains("on_halt")) {
        const auto& halt = json["on_halt"];
        if (!halt.is_string() || (halt != "pause" && halt != "rollback"))
            return Invalid("on_halt", "on_halt must be pause or rollback");
        request.on_halt = halt == "pause" ? HaltAction::kPause : HaltAction::kRollback;
    }
    return request;
}

std::vector<int> AssignWaves(std::size_t store_count, const RolloutStrategy& strategy) {
    std::vector<int> waves(store_count, 0);
    const std::size_t canary =
        std::min(store_count, static_cast<std::size_t>(std::max(strategy.canary, 0)));
    int wave = canary > 0 ? 1 : 0;
    const std::size_t rest = store_count - canary;
    std::size_t assigned = 0;
    for (std::size_t i = 0; i < strategy.waves.size() && assigned < rest; ++i) {
        const bool last = i + 1 == strategy.waves.size();
        // Rounded up: a wave of a non-empty rest is never empty.
        std::size_t reach =
            last ? rest : (rest * static_cast<std::size_t>(strategy.waves[i]) + 99) / 100;
        reach = std::min(rest, reach);
        if (reach <= assigned) continue;
        for (std::size_t k = assigned; k < reach; ++k) waves[canary + k] = wave;
        assigned = reach;
        ++wave;
    }
    return waves;
}

bool FailureBudgetSpent(const RolloutStrategy& strategy, bool canary_wave, int failed, int in_wave,
                        int failed_total) {
    if (failed <= 0 && failed_total <= 0) return false;
    if (canary_wave) return failed > 0;
    if (strategy.max_failed > 0 && failed_total >= strategy.max_failed) return true;
    return strategy.max_failed_percent > 0 && in_wave > 0 &&
           failed * 100 >= strategy.max_failed_percent * in_wave;
}

}  // namespace storefleet::intake
