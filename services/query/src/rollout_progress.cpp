#include "rollout_progress.hpp"

#include <array>
#include <string_view>

namespace storefleet::query {

namespace {

constexpr std::array<std::string_view, 7> kStoreStates = {
    "pending", "upgrading", "upgraded", "failed", "rolling_back", "rolled_back", "skipped"};

nlohmann::json ZeroCounts() {
    nlohmann::json counts = nlohmann::json::object();
    for (const auto state : kStoreStates) counts[std::string(state)] = 0;
    return counts;
}

}  // namespace

nlohmann::json RolloutProgressJson(const RolloutProgress& progress) {
    nlohmann::json counts = ZeroCounts();
    nlohmann::json wave_counts = nlohmann::json::array();
    for (int wave = 0; wave < progress.waves; ++wave) {
        auto counted = ZeroCounts();
        counted["wave"] = wave;
        wave_counts.push_back(std::move(counted));
    }
    int stores = 0;
    for (const auto& row : progress.counts_by_wave) {
        const int wave = row.value("wave", -1);
        const std::string state = row.value("state", "");
        const int n = row.value("stores", 0);
        // A state this build does not know still counts in the total, not in a bar.
        if (counts.contains(state)) counts[state] = counts[state].get<int>() + n;
        if (wave >= 0 && wave < progress.waves && counts.contains(state))
            wave_counts[wave][state] = wave_counts[wave][state].get<int>() + n;
        stores += n;
    }
    return {{"id", progress.rollout_id},
            {"engine", progress.engine},
            {"target_version", progress.target_version},
            {"state", progress.state},
            {"reason",
             progress.reason.empty() ? nlohmann::json(nullptr) : nlohmann::json(progress.reason)},
            {"wave", progress.wave},
            {"waves", progress.waves},
            {"canary_passed", progress.canary_passed},
            {"stores", stores},
            {"counts", counts},
            {"wave_counts", wave_counts},
            {"failures", progress.failures},
            {"updated_at", progress.updated_at}};
}

std::string RolloutEventFrame(const RolloutProgress& progress) {
    // nlohmann's compact dump has no newline, so the data fits one `data:` line.
    return "event: rollout\ndata: " + RolloutProgressJson(progress).dump() + "\n\n";
}

}  // namespace storefleet::query
