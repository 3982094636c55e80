#include "rollouts.hpp"

#include <algorithm>

#include "intake_store.hpp"
#include "storefleet/common/ids.hpp"
#include "storefleet/common/log.hpp"
#include "storefleet/events/status.hpp"
#include "storefleet/pg/array_literal.hpp"

namespace storefleet::intake {

namespace {

constexpr const char* kRecordDefault =
    "insert into intake.chart_defaults (engine, version) values ($1, $2) on conflict do nothing";
constexpr const char* kReadDefaults = "select engine, version from intake.chart_defaults";

// How long after a canary passed a rollout still looks for stores created with the previous
// version before it is done: several steps of every replica (one a second).
constexpr int kDefaultsSettleSeconds = 5;

// What each step of the rollouts looks at first: intake.chart_defaults as "engine=version,..."
// (engines and versions hold neither ',' nor '='), and the rollouts to step, oldest first:
// those not over, and aborted ones with stores still under way.
constexpr const char* kStepLook = R"SQL(
select (select coalesce(string_agg(engine || '=' || version, ',' order by engine), '')
          from intake.chart_defaults),
       (select coalesce(string_agg(rollout_id::text, ',' order by created_at), '')
          from intake.rollouts
         where state <> 'done'
           and (state <> 'aborted'
                or exists (select 1 from intake.rollout_stores r
                            where r.rollout_id = rollouts.rollout_id
                              and r.state in ('upgrading', 'rolling_back')))))SQL";

std::vector<std::string> SplitOn(const std::string& text, char separator) {
    std::vector<std::string> parts;
    std::size_t from = 0;
    while (from < text.size()) {
        auto to = text.find(separator, from);
        if (to == std::string::npos) to = text.size();
        if (to > from) parts.push_back(text.substr(from, to - from));
        from = to + 1;
    }
    return parts;
}

// The stores a rollout takes at its start (and, later, those created meanwhile): active, of the
// engine, matching the selector, not at the target, oldest first.
constexpr const char* kSelectStores = R"SQL(
select s.store_id::text, coalesce(s.chart_version, '')
  from intake.stores s
 where s.engine = $1 and s.state = 'active' and coalesce(s.chart_version, '') <> $2
   and (cardinality($3::text[]) = 0 or s.tenant_id = any($3::text[]))
   and (cardinality($4::text[]) = 0 or s.plan = any($4::text[]))
   and (cardinality($5::uuid[]) = 0 or s.store_id = any($5::uuid[]))
   and not exists (select 1 from intake.rollout_stores r
                    where r.rollout_id = $6::uuid and r.store_id = s.store_id)
 order by s.created_at, s.store_id)SQL";

constexpr const char* kInsertRolloutStores = R"SQL(
insert into intake.rollout_stores (rollout_id, store_id, position, wave, state, from_version)
select $1::uuid, id, ord::int + $5::int, w, 'pending', nullif(v, '')
  from unnest($2::uuid[], $3::int[], $4::text[]) with ordinality as t(id, w, v, ord))SQL";

constexpr const char* kAudit =
    "insert into intake.audit_log (actor, action, tenant_id, target, detail) "
    "values ($1, $2, null, $3, $4::jsonb)";

// The failed stores of a rollout still desired at its target ($3), with the version to roll
// each back to (its own, else the rollout's previous default, $2).
constexpr const char* kFailedAtTheTarget = R"SQL(
select r.store_id::text, coalesce(r.from_version, $2)
  from intake.rollout_stores r join intake.stores s on s.store_id = r.store_id
 where r.rollout_id = $1::uuid and r.state = 'failed' and r.generation is not null
   and s.state = 'active' and s.chart_version = $3
 order by r.position)SQL";

// The health gate of the stores under way: the store's own word (observed or failed
// generation, from store-status) or the gate's time running out.
constexpr const char* kGate = R"SQL(
update intake.rollout_stores r
   set state = case
                   when s.state <> 'active' then 'skipped'
                   when s.observed_generation >= r.generation
                       then case r.state when 'upgrading' then 'upgraded' else 'rolled_back' end
                   else 'failed'
               end,
       reason = case
                    when s.state <> 'active' then 'the store was deleted'
                    when s.observed_generation >= r.generation then null
                    when coalesce(s.failed_generation, 0) >= r.generation
                        then case r.state when 'upgrading'
                                 then 'the upgrade failed (see the store''s timeline)'
                                 else 'the rollback failed too (see the store''s timeline)' end
                    else 'not Ready within ' || $2::int || ' s'
                end,
       finished_at = now()
  from intake.stores s
 where r.rollout_id = $1::uuid and r.state in ('upgrading', 'rolling_back')
   and s.store_id = r.store_id
   -- not judged here (StepData): a store still being backed up before its upgrade (no
   -- generation yet), and one whose rollback converged and whose data is to be restored
   and (s.state <> 'active' or r.generation is not null)
   and not (s.state = 'active' and r.state = 'rolling_back' and r.backup_id is not null
            and s.observed_generation >= r.generation)
   and (s.state <> 'active' or s.observed_generation >= r.generation
        or coalesce(s.failed_generation, 0) >= r.generation
        or r.started_at + make_interval(secs => $2::int) < now()))SQL";

// Data-safe upgrades (a target that migrates data): the stores whose backup, asked for before
// their upgrade, ended or whose store went; the rollbacks that converged and whose backup is to
// be restored; the restores that ended.
constexpr const char* kBackupsEnded = R"SQL(
select r.store_id::text, b.state, coalesce(b.reason, ''), s.state
  from intake.rollout_stores r
  join intake.backups b on b.backup_id = r.backup_id
  join intake.stores s on s.store_id = r.store_id
 where r.rollout_id = $1::uuid and r.state = 'upgrading' and r.generation is null
   and (b.state in ('completed', 'failed', 'expired') or s.state <> 'active')
 order by r.position)SQL";
constexpr const char* kRollbacksToRestore = R"SQL(
select r.store_id::text, r.backup_id::text, s.tenant_id
  from intake.rollout_stores r join intake.stores s on s.store_id = r.store_id
 where r.rollout_id = $1::uuid and r.state = 'rolling_back' and r.backup_id is not null
   and r.restore_id is null and s.state = 'active' and s.observed_generation >= r.generation
 order by r.position)SQL";
constexpr const char* kRestoresEnded = R"SQL(
select r.store_id::text, x.state, coalesce(x.reason, '')
  from intake.rollout_stores r join intake.restores x on x.restore_id = r.restore_id
 where r.rollout_id = $1::uuid and r.state = 'rolling_back' and x.state in ('completed', 'failed')
 order by r.position)SQL";
constexpr const char* kFinishStore = R"SQL(
update intake.rollout_stores set state = $3, reason = nullif($4, ''), finished_at = now()
 where rollout_id = $1::uuid and store_id = $2::uuid)SQL";

// The store's chart change to `target` sent and recorded as its upgrade (its generation, the
// version it had, the gate's clock started), or the store skipped with why nothing was sent.
void SendUpgrade(pqxx::work& txn, const std::string& rollout_id, const std::string& store_id,
                 const std::string& target, const std::string& actor) {
    const auto change = ChangeChartVersion(txn, store_id, target, actor, rollout_id);
    if (change.kind == ChartChange::kSent) {
        txn.exec_params(
            "update intake.rollout_stores set state = 'upgrading', generation = $3, "
            "from_version = coalesce(from_version, nullif($4, '')), started_at = now() "
            "where rollout_id = $1::uuid and store_id = $2::uuid",
            rollout_id, store_id, static_cast<int64_t>(change.generation), change.from_version);
    } else {
        txn.exec_params(kFinishStore, rollout_id, store_id, "skipped",
                        change.kind == ChartChange::kAlreadyThere ? "already at the target version"
                                                                  : "the store was deleted");
    }
}

struct RolloutRow {
    std::string engine, target, previous, state;
    int wave = 0, waves = 0;
    bool has_canary = false, canary_passed = false;
    RolloutRequest request;
};

nlohmann::json RequestJson(const RolloutRequest& request) {
    return {{"selector",
             {{"tenants", request.selector.tenants},
              {"plans", request.selector.plans},
              {"store_ids", request.selector.store_ids}}},
            {"strategy",
             {{"canary", request.strategy.canary},
              {"waves", request.strategy.waves},
              {"max_in_flight", request.strategy.max_in_flight},
              {"ready_within_seconds", request.strategy.ready_within.count()},
              {"max_failed", request.strategy.max_failed},
              {"max_failed_percent", request.strategy.max_failed_percent}}},
            {"on_halt", request.on_halt == HaltAction::kPause ? "pause" : "rollback"}};
}

RolloutRequest RequestOf(const std::string& engine, const std::string& target,
                         const nlohmann::json& json) {
    RolloutRequest request;
    request.engine = engine;
    request.target_version = target;
    const auto& selector = json.at("selector");
    request.selector.tenants = selector.at("tenants").get<std::vector<std::string>>();
    request.selector.plans = selector.at("plans").get<std::vector<std::string>>();
    request.selector.store_ids = selector.at("store_ids").get<std::vector<std::string>>();
    const auto& strategy = json.at("strategy");
    request.strategy.canary = strategy.at("canary").get<int>();
    request.strategy.waves = strategy.at("waves").get<std::vector<int>>();
    request.strategy.max_in_flight = strategy.at("max_in_flight").get<int>();
    request.strategy.ready_within =
        std::chrono::seconds(strategy.at("ready_within_seconds").get<int>());
    request.strategy.max_failed = strategy.at("max_failed").get<int>();
    request.strategy.max_failed_percent = strategy.at("max_failed_percent").get<int>();
    request.on_halt = json.at("on_halt") == "pause" ? HaltAction::kPause : HaltAction::kRollback;
    return request;
}

std::string ArrayOf(const std::vector<std::string>& items) { return pg::ArrayLiteral(items); }

// Adds `stores` (id, current version) to the rollout as pending stores of `wave`, after the
// ones it has.
void AddStores(pqxx::work& txn, const std::string& rollout_id,
               const std::vector<std::pair<std::string, std::string>>& stores,
               const std::vector<int>& waves) {
    if (stores.empty()) return;
    std::vector<std::string> ids, wave_texts, versions;
    for (std::size_t i = 0; i < stores.size(); ++i) {
        ids.push_back(stores[i].first);
        versions.push_back(stores[i].second);
        wave_texts.push_back(std::to_string(waves[i]));
    }
    const auto base = txn.exec_params(
                             "select coalesce(max(position), 0) from intake.rollout_stores where "
                             "rollout_id = $1::uuid",
                             rollout_id)[0][0]
                          .as<int>();
    txn.exec_params(kInsertRolloutStores, rollout_id, ArrayOf(ids), ArrayOf(wave_texts),
                    ArrayOf(versions), base);
}

std::vector<std::pair<std::string, std::string>> MatchingStores(pqxx::work& txn,
                                                                const std::string& rollout_id,
                                                                const RolloutRequest& request) {
    std::vector<std::pair<std::string, std::string>> stores;
    for (const auto& row :
         txn.exec_params(kSelectStores, request.engine, request.target_version,
                         ArrayOf(request.selector.tenants), ArrayOf(request.selector.plans),
                         ArrayOf(request.selector.store_ids), rollout_id)) {
        stores.emplace_back(row[0].as<std::string>(), row[1].as<std::string>());
    }
    return stores;
}

}  // namespace

Rollouts::Rollouts(pg::Pool& pool, events::ChartCatalogue charts)
    : pool_(pool), charts_(std::move(charts)) {}

Rollouts::Defaults Rollouts::ChartDefaults() {
    std::vector<std::pair<std::string, std::string>> recorded;
    pool_.WithTransaction([&](pqxx::work& txn) {
        for (const auto engine : events::kEngineNames) {
            if (charts_.Offers(engine))
                txn.exec_params(kRecordDefault, std::string(engine),
                                charts_.DefaultVersion(engine));
        }
        for (const auto& row : txn.exec(kReadDefaults))
            recorded.emplace_back(row[0].as<std::string>(), row[1].as<std::string>());
    });
    return DefaultsFrom(recorded);
}

Rollouts::Defaults Rollouts::DefaultsFrom(
    const std::vector<std::pair<std::string, std::string>>& recorded) const {
    Defaults defaults;
    for (const auto& [engine, version] : recorded) {
        if (!charts_.Offers(engine)) continue;
        if (charts_.Find(engine, version) == nullptr) {
            log::Warn(
                "the recorded chart version for new stores is not in the catalogue; "
                "using the catalogue's default",
                {{"engine", engine},
                 {"recorded", version},
                 {"default", charts_.DefaultVersion(engine)}});
            defaults[engine] = charts_.DefaultVersion(engine);
        } else {
            defaults[engine] = version;
        }
    }
    return defaults;
}

Result<nlohmann::json> Rollouts::Create(const RolloutRequest& request, const std::string& actor) {
    const std::string rollout_id = NewUuid();
    const auto defaults = ChartDefaults();
    const auto previous = defaults.find(request.engine);
    const std::string previous_version =
        previous == defaults.end() ? charts_.DefaultVersion(request.engine) : previous->second;
    try {
        pool_.WithTransaction([&](pqxx::work& txn) {
            txn.exec_params(
                "insert into intake.rollouts (rollout_id, engine, target_version, "
                "previous_version, request, state, waves, has_canary, created_by) values "
                "($1::uuid, $2, $3, $4, $5::jsonb, 'running', 0, $6, $7)",
                rollout_id, request.engine, request.target_version, previous_version,
                RequestJson(request).dump(), request.strategy.canary > 0, actor);
            const auto stores = MatchingStores(txn, rollout_id, request);
            const auto waves = AssignWaves(stores.size(), request.strategy);
            AddStores(txn, rollout_id, stores, waves);
            const int wave_count = waves.empty() ? 0 : waves.back() + 1;
            txn.exec_params(
                "update intake.rollouts set waves = $2, has_canary = $3, "
                "state = case when $2 = 0 then 'done' else state end where rollout_id = $1::uuid",
                rollout_id, wave_count, request.strategy.canary > 0 && !stores.empty());
            txn.exec_params(kAudit, actor, "rollout.create", rollout_id,
                            nlohmann::json{{"engine", request.engine},
                                           {"target_version", request.target_version},
                                           {"stores", stores.size()}}
                                .dump());
        });
    } catch (const pqxx::unique_violation&) {
        const auto other = pool_.WithTransaction([&](pqxx::work& txn) {
            auto rows = txn.exec_params(
                "select rollout_id::text from intake.rollouts where engine = $1 and state in "
                "('running', 'paused', 'halted')",
                request.engine);
            return rows.empty() ? std::string() : rows[0][0].as<std::string>();
        });
        return Error::Permanent("conflict", "a rollout of " + request.engine + " is not over (" +
                                                other + "): abort it or let it finish first");
    }
    return Describe(rollout_id, true);
}

nlohmann::json Rollouts::List(int limit) {
    std::vector<std::string> ids;
    pool_.WithTransaction([&](pqxx::work& txn) {
        for (const auto& row :
             txn.exec_params("select rollout_id::text from intake.rollouts order by created_at "
                             "desc, rollout_id limit $1",
                             limit)) {
            ids.push_back(row[0].as<std::string>());
        }
    });
    nlohmann::json items = nlohmann::json::array();
    for (const auto& id : ids) items.push_back(Describe(id, false));
    return {{"items", items}};
}

Result<nlohmann::json> Rollouts::Get(const std::string& rollout_id) {
    if (!IsUuid(rollout_id))
        return Error::Permanent("not_found", "no rollout with id '" + rollout_id + "'");
    auto described = Describe(rollout_id, true);
    if (described.is_null())
        return Error::Permanent("not_found", "no rollout with id '" + rollout_id + "'");
    return described;
}

nlohmann::json Rollouts::Describe(const std::string& rollout_id, bool with_failures) {
    return pool_.WithTransaction([&](pqxx::work& txn) -> nlohmann::json {
        auto rows = txn.exec_params(
            "select engine, target_version, previous_version, request::text, state, wave, waves, "
            "has_canary, canary_passed, coalesce(reason, ''), created_by, "
            "to_char(created_at at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "
            "to_char(updated_at at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') "
            "from intake.rollouts where rollout_id = $1::uuid",
            rollout_id);
        if (rows.empty()) return nullptr;
        const auto& row = rows[0];
        nlohmann::json out = nlohmann::json::parse(row[3].as<std::string>());
        out["id"] = rollout_id;
        out["engine"] = row[0].as<std::string>();
        out["target_version"] = row[1].as<std::string>();
        out["previous_version"] = row[2].as<std::string>();
        out["state"] = row[4].as<std::string>();
        out["wave"] = row[5].as<int>();
        out["waves"] = row[6].as<int>();
        out["has_canary"] = row[7].as<bool>();
        out["canary_passed"] = row[8].as<bool>();
        out["reason"] = row[9].as<std::string>().empty() ? nlohmann::json(nullptr)
                                                         : nlohmann::json(row[9].as<std::string>());
        out["created_by"] = row[10].as<std::string>();
        out["created_at"] = row[11].as<std::string>();
        out["updated_at"] = row[12].as<std::string>();
        // The catalogue's word on the target: a store that fails its gate gets its backup
        // back, losing what was written since the backup (the dashboard warns with this).
        const auto* target = charts_.Find(out["engine"].get<std::string>(),
                                          out["target_version"].get<std::string>());
        out["migrates_data"] = target != nullptr && target->migrates_data;
        nlohmann::json counts = {{"pending", 0}, {"upgrading", 0},    {"upgraded", 0},
                                 {"failed", 0},  {"rolling_back", 0}, {"rolled_back", 0},
                                 {"skipped", 0}};
        nlohmann::json waves = nlohmann::json::array();
        for (int w = 0; w < row[6].as<int>(); ++w) {
            auto wave = counts;
            wave["wave"] = w;
            waves.push_back(wave);
        }
        int total = 0;
        for (const auto& count :
             txn.exec_params("select wave, state, count(*) from intake.rollout_stores where "
                             "rollout_id = $1::uuid group by wave, state",
                             rollout_id)) {
            const int wave = count[0].as<int>();
            const auto state = count[1].as<std::string>();
            const int n = count[2].as<int>();
            counts[state] = counts[state].get<int>() + n;
            if (wave >= 0 && wave < static_cast<int>(waves.size()))
                waves[wave][state] = waves[wave][state].get<int>() + n;
            total += n;
        }
        out["stores"] = total;
        out["counts"] = counts;
        out["wave_counts"] = waves;
        if (with_failures) {
            nlohmann::json failures = nlohmann::json::array();
            for (const auto& failed : txn.exec_params(
                     "select store_id::text, wave, state, coalesce(reason, ''), "
                     "coalesce(from_version, '') from intake.rollout_stores where rollout_id = "
                     "$1::uuid and (state in ('failed', 'rolling_back', 'rolled_back')) "
                     "order by position limit 100",
                     rollout_id)) {
                failures.push_back({{"store_id", failed[0].as<std::string>()},
                                    {"wave", failed[1].as<int>()},
                                    {"state", failed[2].as<std::string>()},
                                    {"reason", failed[3].as<std::string>()},
                                    {"from_version", failed[4].as<std::string>()}});
            }
            out["failures"] = failures;
        }
        return out;
    });
}

Result<nlohmann::json> Rollouts::Act(const std::string& rollout_id, const std::string& action,
                                     const std::string& actor) {
    if (!IsUuid(rollout_id))
        return Error::Permanent("not_found", "no rollout with id '" + rollout_id + "'");
    auto refused = pool_.WithTransaction([&](pqxx::work& txn) -> std::optional<Error> {
        auto rows = txn.exec_params(
            "select state from intake.rollouts where rollout_id = $1::uuid for update", rollout_id);
        if (rows.empty())
            return Error::Permanent("not_found", "no rollout with id '" + rollout_id + "'");
        const auto state = rows[0][0].as<std::string>();
        std::string next;
        if (action == "pause" && state == "running") next = "paused";
        if (action == "resume" && (state == "paused" || state == "halted")) next = "running";
        if (action == "abort" && (state == "running" || state == "paused" || state == "halted"))
            next = "aborted";
        if (next.empty()) {
            return Error::Permanent("conflict",
                                    "a " + state + " rollout cannot be asked to " + action);
        }
        txn.exec_params(
            "update intake.rollouts set state = $2, reason = case when $2 = 'running' then null "
            "else reason end, resumed_at = case when $3 = 'halted' and $2 = 'running' then now() "
            "else resumed_at end, updated_at = now() where rollout_id = $1::uuid",
            rollout_id, next, state);
        txn.exec_params(kAudit, actor, "rollout." + action, rollout_id,
                        nlohmann::json{{"from", state}, {"to", next}}.dump());
        return std::nullopt;
    });
    if (refused) return *refused;
    return Describe(rollout_id, true);
}

void Rollouts::LookAndHandOverDefaults(std::vector<std::string>* ids) {
    std::string defaults_text;
    pool_.WithTransaction([&](pqxx::work& txn) {
        const auto row = txn.exec(kStepLook)[0];
        defaults_text = row[0].as<std::string>();
        if (ids != nullptr) {
            for (auto& id : SplitOn(row[1].as<std::string>(), ',')) ids->push_back(std::move(id));
        }
    });
    if (seen_defaults_ && defaults_text == *seen_defaults_) return;
    seen_defaults_ = defaults_text;
    std::vector<std::pair<std::string, std::string>> recorded;
    for (const auto& pair : SplitOn(defaults_text, ',')) {
        const auto equals = pair.find('=');
        if (equals != std::string::npos)
            recorded.emplace_back(pair.substr(0, equals), pair.substr(equals + 1));
    }
    if (on_defaults_changed_) on_defaults_changed_(DefaultsFrom(recorded));
}

int Rollouts::Advance() {
    // One read-only statement a tick: the rollouts to step (none most of the time) and the
    // chart versions for new stores as they are now (two rows), so that the defaults are
    // rebuilt only when a canary passed, here or on another replica.
    std::vector<std::string> ids;
    LookAndHandOverDefaults(&ids);
    int moved = 0;
    canary_passed_in_step_ = false;
    for (const auto& id : ids) moved += AdvanceOne(id);
    // A canary this step passed: this replica's new stores get the target now, not a step
    // later (other replicas: at their next step).
    if (canary_passed_in_step_) LookAndHandOverDefaults(nullptr);
    return moved;
}

int Rollouts::AdvanceOne(const std::string& rollout_id) {
    return pool_.WithTransaction([&](pqxx::work& txn) -> int {
        auto rows = txn.exec_params(
            "select engine, target_version, previous_version, state, wave, waves, has_canary, "
            "canary_passed, request::text from intake.rollouts where rollout_id = $1::uuid for "
            "update skip locked",
            rollout_id);
        if (rows.empty()) return 0;  // another replica is stepping it
        RolloutRow rollout;
        rollout.engine = rows[0][0].as<std::string>();
        rollout.target = rows[0][1].as<std::string>();
        rollout.previous = rows[0][2].as<std::string>();
        rollout.state = rows[0][3].as<std::string>();
        rollout.wave = rows[0][4].as<int>();
        rollout.waves = rows[0][5].as<int>();
        rollout.has_canary = rows[0][6].as<bool>();
        rollout.canary_passed = rows[0][7].as<bool>();
        rollout.request = RequestOf(rollout.engine, rollout.target,
                                    nlohmann::json::parse(rows[0][8].as<std::string>()));
        const auto& strategy = rollout.request.strategy;
        const std::string actor = "rollout:" + rollout_id;
        int moved = static_cast<int>(
            txn.exec_params(kGate, rollout_id, static_cast<int>(strategy.ready_within.count()))
                .affected_rows());
        moved += StepData(txn, rollout_id, rollout.state, rollout.target, actor);
        auto set_state = [&](const std::string& state, const std::string& reason) {
            txn.exec_params(
                "update intake.rollouts set state = $2, reason = nullif($3, ''), updated_at = "
                "now() where rollout_id = $1::uuid",
                rollout_id, state, reason);
            rollout.state = state;
        };
        // A halt that rolls back: every failed store still desired at the target goes back to
        // the version it had, those failed at the halt and those that were still under way
        // then and fail later (its rollback changes the desired version, so once only).
        auto roll_back_failed = [&]() -> int {
            int sent = 0;
            for (const auto& store : txn.exec_params(kFailedAtTheTarget, rollout_id,
                                                     rollout.previous, rollout.target)) {
                const auto id = store[0].as<std::string>();
                const auto change =
                    ChangeChartVersion(txn, id, store[1].as<std::string>(), actor, rollout_id);
                if (change.kind != ChartChange::kSent) continue;
                txn.exec_params(
                    "update intake.rollout_stores set state = 'rolling_back', generation = $3, "
                    "started_at = now(), finished_at = null where rollout_id = $1::uuid and "
                    "store_id = $2::uuid",
                    rollout_id, id, static_cast<int64_t>(change.generation));
                ++sent;
            }
            return sent;
        };
        if (rollout.state == "halted" && rollout.request.on_halt == HaltAction::kRollback)
            return moved + roll_back_failed();
        if (rollout.state == "aborted" || rollout.state == "paused") return moved;

        // The failure budget, for the wave under way.
        if (rollout.state == "running") {
            auto failed = txn.exec_params(
                "with counted as (select wave, store_id, reason, state = 'failed' and "
                "finished_at > coalesce((select resumed_at from intake.rollouts where "
                "rollout_id = $1::uuid), '-infinity'::timestamptz) as failed from "
                "intake.rollout_stores where rollout_id = $1::uuid) "
                "select count(*) filter (where wave = $2 and failed), "
                "count(*) filter (where wave = $2), count(*) filter (where failed), "
                "min(store_id::text || ': ' || coalesce(reason, '')) filter (where failed) "
                "from counted",
                rollout_id, rollout.wave);
            const int in_wave_failed = failed[0][0].as<int>();
            const int in_wave = failed[0][1].as<int>();
            const int failed_total = failed[0][2].as<int>();
            const bool canary_wave = rollout.has_canary && rollout.wave == 0;
            if (FailureBudgetSpent(strategy, canary_wave, in_wave_failed, in_wave, failed_total)) {
                set_state("halted", "halted: " + std::to_string(in_wave_failed) + " of " +
                                        std::to_string(in_wave) + " stores of wave " +
                                        std::to_string(rollout.wave) + " failed (" +
                                        failed[0][3].as<std::string>("") + ")");
                log::Warn("rollout halted", {{"rollout_id", rollout_id},
                                             {"wave", rollout.wave},
                                             {"failed", in_wave_failed}});
                if (rollout.request.on_halt == HaltAction::kRollback) moved += roll_back_failed();
                return moved;
            }
        }
        if (rollout.state != "running") return moved;

        // The next wave once this one has nothing pending or under way.
        for (;;) {
            const auto open = txn.exec_params(
                                     "select count(*) from intake.rollout_stores where rollout_id "
                                     "= $1::uuid and wave "
                                     "= $2 and state in ('pending', 'upgrading', 'rolling_back')",
                                     rollout_id, rollout.wave)[0][0]
                                  .as<int>();
            if (open > 0) break;
            if (rollout.wave == 0 && !rollout.canary_passed) {
                // The canary (or the first wave) passed: new stores get the target from now on;
                // those created meanwhile with the previous version join at the end.
                rollout.canary_passed = true;
                canary_passed_in_step_ = true;  // read once this transaction committed
                txn.exec_params(
                    "update intake.rollouts set canary_passed = true where rollout_id = $1::uuid",
                    rollout_id);
                txn.exec_params(
                    "insert into intake.chart_defaults (engine, version) values ($1, $2) on "
                    "conflict (engine) do update set version = $2, updated_at = now()",
                    rollout.engine, rollout.target);
            }
            if (rollout.wave + 1 >= rollout.waves) {
                // The last wave is done: stores created during the rollout with the previous
                // version are one more wave, else the rollout is done.
                // Each replica hands new stores the target from its first step after the
                // canary passed (Advance): a store created on one that has not stepped yet
                // still gets the previous version, so the rollout looks for late stores
                // until every replica has had a few steps to see the new default.
                if (rollout.canary_passed &&
                    txn.exec_params("select exists (select 1 from intake.chart_defaults where "
                                    "engine = $1 and updated_at > now() - make_interval(secs "
                                    "=> $2))",
                                    rollout.engine, kDefaultsSettleSeconds)[0][0]
                        .as<bool>()) {
                    return moved;
                }
                const auto late = MatchingStores(txn, rollout_id, rollout.request);
                if (late.empty() || !rollout.canary_passed) {
                    set_state("done", "");
                    return moved;
                }
                AddStores(txn, rollout_id, late, std::vector<int>(late.size(), rollout.waves));
                rollout.waves += 1;
                txn.exec_params("update intake.rollouts set waves = $2 where rollout_id = $1::uuid",
                                rollout_id, rollout.waves);
            }
            rollout.wave += 1;
            txn.exec_params(
                "update intake.rollouts set wave = $2, updated_at = now() where rollout_id = "
                "$1::uuid",
                rollout_id, rollout.wave);
        }

        // Upgrades, up to the in-flight bound.
        const int under_way =
            txn.exec_params(
                   "select count(*) from intake.rollout_stores where rollout_id = $1::uuid "
                   "and state in ('upgrading', 'rolling_back')",
                   rollout_id)[0][0]
                .as<int>();
        const int slots = strategy.max_in_flight - under_way;
        if (slots <= 0) return moved;
        const auto* target_chart = charts_.Find(rollout.engine, rollout.target);
        const bool migrates_data = target_chart != nullptr && target_chart->migrates_data;
        for (const auto& store :
             txn.exec_params("select store_id::text from intake.rollout_stores where rollout_id = "
                             "$1::uuid and wave = $2 and state = 'pending' order by position "
                             "limit $3",
                             rollout_id, rollout.wave, slots)) {
            const auto id = store[0].as<std::string>();
            if (migrates_data) {
                // Backed up first; upgraded by StepData once the backup completed.
                const auto started = StartWithBackup(txn, rollout_id, id, actor);
                if (started) ++moved;
                continue;
            }
            SendUpgrade(txn, rollout_id, id, rollout.target, actor);
            ++moved;
        }
        return moved;
    });
}

bool Rollouts::StartWithBackup(pqxx::work& txn, const std::string& rollout_id,
                               const std::string& store_id, const std::string& actor) {
    const auto tenant =
        txn.exec_params("select tenant_id from intake.stores where store_id = $1::uuid", store_id);
    auto skip = [&](const std::string& reason) {
        txn.exec_params(kFinishStore, rollout_id, store_id, "skipped", reason);
        return true;
    };
    if (tenant.empty()) return skip("the store was deleted");
    const auto backup = RequestBackupIn(txn, tenant[0][0].as<std::string>(), store_id, actor,
                                        "rollout:" + rollout_id, rollout_id);
    if (backup.refused) {
        const auto& code = backup.refused->code;
        // The store's own backup or restore under way: this store waits for a later step.
        if (code == "data_operation_running") return false;
        if (code == "store_suspended") {
            return skip(
                "suspended: its database is not running, so it cannot be backed up before a "
                "version that migrates data; resume it and roll it out again");
        }
        return skip("the store was deleted");
    }
    txn.exec_params(
        "update intake.rollout_stores set state = 'upgrading', backup_id = $3::uuid, "
        "generation = null, started_at = now() where rollout_id = $1::uuid and store_id = "
        "$2::uuid",
        rollout_id, store_id, backup.body["id"].get<std::string>());
    return true;
}

int Rollouts::StepData(pqxx::work& txn, const std::string& rollout_id, const std::string& state,
                       const std::string& target, const std::string& actor) {
    int moved = 0;
    // Backups asked for before an upgrade: completed -> the upgrade (while the rollout runs;
    // an aborted one leaves the store as it was), failed -> the store failed, untouched.
    for (const auto& row : txn.exec_params(kBackupsEnded, rollout_id)) {
        const auto id = row[0].as<std::string>();
        const auto backup_state = row[1].as<std::string>();
        if (row[3].as<std::string>() != "active") {
            txn.exec_params(kFinishStore, rollout_id, id, "skipped", "the store was deleted");
        } else if (backup_state != "completed") {
            txn.exec_params(
                kFinishStore, rollout_id, id, "failed",
                "the backup before the upgrade " +
                    std::string(backup_state == "expired" ? "expired" : "failed") +
                    (row[2].as<std::string>().empty() ? ""
                                                      : " (" + row[2].as<std::string>() + ")") +
                    "; the store was not changed");
        } else if (state == "aborted") {
            txn.exec_params(kFinishStore, rollout_id, id, "skipped",
                            "the rollout was aborted before its upgrade (its backup was kept)");
        } else if (state != "running") {
            continue;  // paused or halted: upgraded when it runs again
        } else {
            SendUpgrade(txn, rollout_id, id, target, actor);
        }
        ++moved;
    }
    // Rollbacks that converged, of stores backed up before their upgrade: their data back.
    for (const auto& row : txn.exec_params(kRollbacksToRestore, rollout_id)) {
        const auto id = row[0].as<std::string>();
        const auto restore =
            RequestRestoreIn(txn, row[2].as<std::string>(), id, row[1].as<std::string>(), actor,
                             "rollout:" + rollout_id, rollout_id);
        if (restore.refused && restore.refused->code == "data_operation_running") continue;
        if (restore.refused) {
            txn.exec_params(
                kFinishStore, rollout_id, id, "failed",
                "rolled back, but its data could not be restored: " + restore.refused->message);
        } else {
            txn.exec_params(
                "update intake.rollout_stores set restore_id = $3::uuid where rollout_id = "
                "$1::uuid and store_id = $2::uuid",
                rollout_id, id, restore.body["id"].get<std::string>());
        }
        ++moved;
    }
    for (const auto& row : txn.exec_params(kRestoresEnded, rollout_id)) {
        const auto id = row[0].as<std::string>();
        if (row[1].as<std::string>() == "completed") {
            txn.exec_params(kFinishStore, rollout_id, id, "rolled_back",
                            "rolled back, and its data restored from the backup taken before "
                            "the upgrade: what was written after that backup is lost");
        } else {
            txn.exec_params(
                kFinishStore, rollout_id, id, "failed",
                "rolled back, but restoring its data failed: " + row[2].as<std::string>());
        }
        ++moved;
    }
    return moved;
}

}  // namespace storefleet::intake
