#pragma once

#include <nlohmann/json.hpp>

#include <string>

// A fleet rollout's progress as the live stream shows it (`event: rollout`, decision 13): what
// intake exposes in its view intake.rollout_progress, in the shape of GET
// /api/v1/admin/rollouts/{id} (the fields of that answer that change while it runs). Pure.
namespace storefleet::query {

struct RolloutProgress {
    std::string rollout_id;
    std::string engine;
    std::string target_version;
    std::string state;   // running, paused, halted, aborted, done
    std::string reason;  // empty: none
    std::string updated_at;
    int wave = 0;
    int waves = 0;
    bool canary_passed = false;
    // Not over, or over with stores still under way: an admin's new stream is sent these.
    bool active = false;
    // [{"wave": w, "state": s, "stores": n}] for every (wave, state) that has stores.
    nlohmann::json counts_by_wave = nlohmann::json::array();
    // [{"store_id", "wave", "state", "reason", "from_version"}], at most 100.
    nlohmann::json failures = nlohmann::json::array();
};

// The event's data: id, engine, target_version, state, reason (null when none), wave, waves,
// canary_passed, stores, counts (each store state, zeros included), wave_counts (one per wave,
// each with its wave number), failures, updated_at.
nlohmann::json RolloutProgressJson(const RolloutProgress& progress);

// The SSE frame: `event: rollout` and `data: <RolloutProgressJson>`, with no `id:` line, so a
// client's Last-Event-ID stays the last store change's (rollout events are not in the change
// log and are not replayed: a reconnecting admin is sent every active rollout again).
std::string RolloutEventFrame(const RolloutProgress& progress);

}  // namespace storefleet::query
