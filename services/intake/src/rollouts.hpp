#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "rollout_plan.hpp"
#include "storefleet/common/result.hpp"
#include "storefleet/events/chart_catalogue.hpp"
#include "storefleet/pg/pool.hpp"

// Fleet rollouts of a store chart version (decision 13), kept in intake's schema next to the
// desired state they change: intake.rollouts, intake.rollout_stores, intake.chart_defaults
// (migration 12). Every step is one transaction holding the rollout's row, and moving a store is
// the same transaction as its new generation and its command in the outbox (ChangeChartVersion):
// a kill -9 at any point leaves either the whole step or none of it, so no store is upgraded
// twice or skipped. Thread-safe; several intake replicas may run Advance (the row lock lets one
// step each rollout at a time).
namespace storefleet::intake {

class Rollouts {
public:
    Rollouts(pg::Pool& pool, events::ChartCatalogue charts);

    using Defaults = std::map<std::string, std::string, std::less<>>;

    // Each offered engine's chart version for new stores: the one recorded in
    // intake.chart_defaults (recorded from the catalogue the first time an engine is seen); the
    // catalogue's default where the recorded one is no longer in the catalogue.
    Defaults ChartDefaults();

    // Called by Advance with the chart versions for new stores whenever intake.chart_defaults
    // differs from what it was at the previous Advance (a canary passed, on this replica or
    // another), and at the first Advance. Set before the first Advance.
    void OnChartDefaultsChanged(std::function<void(Defaults)> changed) {
        on_defaults_changed_ = std::move(changed);
    }

    // Starts a rollout: the engine's active stores its selector matches and not at the target
    // yet, in the order they were created, split into waves (AssignWaves). 201 with the rollout;
    // "conflict" when a rollout of the engine is not over. Audited (rollout.create).
    Result<nlohmann::json> Create(const RolloutRequest& request, const std::string& actor);
    // Newest first, at most `limit`, each with its counts.
    nlohmann::json List(int limit);
    // One rollout: its settings, state, counts per state and per wave, and its failures.
    Result<nlohmann::json> Get(const std::string& rollout_id);
    // "pause" (a running rollout starts nothing new), "resume" (a paused or halted one goes on;
    // after a halt its failure budget counts only the failures from then on),
    // "abort" (nothing new starts; what is under way finishes). "conflict" when the rollout's
    // state does not allow it. Audited (rollout.<action>).
    Result<nlohmann::json> Act(const std::string& rollout_id, const std::string& action,
                               const std::string& actor);

    // One step of every rollout that is not over: the health gate of each store under way, the
    // failure budget (a halt rolls the failed stores back when asked), the next wave when one is
    // done, then as many upgrades as the in-flight bound allows. Returns how many stores it
    // moved from one state to another. The same statement that finds the rollouts reads
    // intake.chart_defaults (two rows), so a tick with nothing to do is one read, and the
    // defaults are rebuilt only when they changed (OnChartDefaultsChanged).
    int Advance();

    const events::ChartCatalogue& Charts() const { return charts_; }

private:
    int AdvanceOne(const std::string& rollout_id);
    // Reads intake.chart_defaults (and, given `ids`, the rollouts to step) and hands the
    // defaults over when they differ from the last read.
    void LookAndHandOverDefaults(std::vector<std::string>* ids);
    // The defaults from intake.chart_defaults' rows (engine, version), checked against the
    // catalogue.
    Defaults DefaultsFrom(const std::vector<std::pair<std::string, std::string>>& recorded) const;
    nlohmann::json Describe(const std::string& rollout_id, bool with_failures);
    // A target that migrates data (decision 13, "data-safe upgrades"): the store's upgrade
    // starts with a backup (the store 'upgrading' with no generation until it completed);
    // false when the store has a backup or restore of its own under way (tried again later).
    bool StartWithBackup(pqxx::work& txn, const std::string& rollout_id,
                         const std::string& store_id, const std::string& actor);
    // Each step, in the rollout's transaction: backups that ended (completed: the upgrade is
    // sent while the rollout runs; failed: the store failed, unchanged), rollbacks of backed-up
    // stores that converged (their backup restored), restores that ended (rolled_back, or
    // failed). Returns how many stores it moved.
    int StepData(pqxx::work& txn, const std::string& rollout_id, const std::string& state,
                 const std::string& target, const std::string& actor);

    pg::Pool& pool_;
    events::ChartCatalogue charts_;
    std::function<void(Defaults)> on_defaults_changed_;
    // intake.chart_defaults as the previous Advance read it ("engine=version,...");
    // Advance runs on one thread (the periodic task).
    std::optional<std::string> seen_defaults_;
    bool canary_passed_in_step_ = false;  // by AdvanceOne, during Advance
};

}  // namespace storefleet::intake
