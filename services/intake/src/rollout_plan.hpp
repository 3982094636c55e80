#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "storefleet/common/result.hpp"
#include "storefleet/events/chart_catalogue.hpp"

// POST /api/v1/admin/rollouts: what a rollout of a store chart version asks for, and how its
// stores are split into waves (decision 13). Pure functions: no database, no HTTP.
namespace storefleet::intake {

// Which stores of the engine a rollout moves; empty lists mean "any". A store must match
// every non-empty list.
struct RolloutSelector {
    std::vector<std::string> tenants;
    std::vector<std::string> plans;
    std::vector<std::string> store_ids;
};

// How a rollout moves its stores.
struct RolloutStrategy {
    int canary = 1;  // stores upgraded first, alone; 0: no canary
    // Cumulative share of the stores after the canary reached by the end of each wave, in
    // percent, increasing, the last 100: {25, 50, 100} is three waves.
    std::vector<int> waves = {100};
    int max_in_flight = 5;  // stores upgrading at once
    // The health gate: Ready at the rollout's generation within this time.
    std::chrono::seconds ready_within = std::chrono::seconds(600);
    // The failure budget: halt once this many stores failed in all, or once this share
    // (percent) of a wave's stores failed (the canary: at its first failure). 0 turns a
    // bound off.
    int max_failed = 1;
    int max_failed_percent = 10;
};

// What a halt does: pause (the failed stores stay as they are, the rest waits), or roll the
// failed stores back to the version they had and pause.
enum class HaltAction { kPause, kRollback };

struct RolloutRequest {
    std::string engine;
    std::string target_version;
    RolloutSelector selector;
    RolloutStrategy strategy;
    HaltAction on_halt = HaltAction::kRollback;
};

// Parses and validates a POST body against the catalogue (the engine offered, the target one
// of its versions). An unknown member, a wrong type or a value out of range is refused with an
// Error naming the field ("strategy.waves", "selector.plans", ...).
Result<RolloutRequest> ParseRolloutRequest(const std::string& body,
                                           const events::ChartCatalogue& charts);

// The wave of each of `store_count` stores, in the order given (0 is the canary when there is
// one, then 1, 2, ...): the canary takes the first min(canary, count) stores, each wave then
// takes up to its cumulative share of the rest (rounded up, so no wave of a non-empty rest is
// empty before the last and the last takes all). Waves that would be empty are skipped (the
// numbers stay consecutive).
std::vector<int> AssignWaves(std::size_t store_count, const RolloutStrategy& strategy);

// True when the failures seen halt the rollout: in the canary any failure; else
// `failed_total` >= max_failed, or `failed` of the wave's `in_wave` stores >= max_failed_percent
// of them.
bool FailureBudgetSpent(const RolloutStrategy& strategy, bool canary_wave, int failed, int in_wave,
                        int failed_total);

}  // namespace storefleet::intake
