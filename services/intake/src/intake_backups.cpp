// IntakeStore's backups and restores (decision 14): requests in one transaction with their
// command in the outbox and an audit row; progress from store-status; retention by plan.
#include "intake_store.hpp"
#include "storefleet/common/ids.hpp"
#include "storefleet/events/envelope.hpp"
#include "storefleet/events/status.hpp"

namespace storefleet::intake {
namespace {

#define RFC3339(column) \
    "coalesce(to_char(" column " at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), '')"

constexpr const char* kLockStoreForData = R"SQL(
select state, plan, suspended, engine, placement, name
  from intake.stores where store_id = $1::uuid and tenant_id = $2 for update)SQL";
constexpr const char* kDataUnderWay = R"SQL(
select 1 from intake.backups where store_id = $1::uuid and state in ('requested', 'running')
union all
select 1 from intake.restores where store_id = $1::uuid and state in ('requested', 'running')
limit 1)SQL";
constexpr const char* kInsertBackup = R"SQL(
insert into intake.backups (backup_id, store_id, tenant_id, keep, requested_by)
values ($1::uuid, $2::uuid, $3, $4, $5)
returning )SQL" RFC3339("requested_at");
constexpr const char* kRestorableBackup = R"SQL(
select state from intake.backups where backup_id = $1::uuid and store_id = $2::uuid)SQL";
constexpr const char* kInsertRestore = R"SQL(
insert into intake.restores (restore_id, store_id, tenant_id, backup_id, requested_by)
values ($1::uuid, $2::uuid, $3, $4::uuid, $5)
returning )SQL" RFC3339("requested_at");
constexpr const char* kInsertOutbox =
    "insert into intake.outbox (topic, key, payload) values ($1, $2, $3)";
constexpr const char* kAudit =
    "insert into intake.audit_log (actor, action, tenant_id, target, detail) "
    "values ($1, $2, $3, $4, $5::jsonb)";
constexpr const char* kStoreOfTenant =
    "select plan from intake.stores where store_id = $1::uuid and tenant_id = $2";
constexpr const char* kListBackups = R"SQL(
select backup_id::text, state, coalesce(reason, ''), size_bytes, duration_ms, simulated,
       requested_by, )SQL" RFC3339("requested_at") ", " RFC3339("started_at") ", " RFC3339(
    "finished_at") R"SQL(
  from intake.backups where store_id = $1::uuid order by requested_at desc, backup_id)SQL";
constexpr const char* kListRestores = R"SQL(
select restore_id::text, backup_id::text, state, coalesce(reason, ''), duration_ms,
       requested_by, )SQL" RFC3339("requested_at") ", " RFC3339("started_at") ", " RFC3339(
    "finished_at") R"SQL(
  from intake.restores where store_id = $1::uuid order by requested_at desc, restore_id)SQL";

// Progress, forward only: requested -> running -> completed | failed.
constexpr const char* kBackupRunning = R"SQL(
update intake.backups set state = 'running', started_at = coalesce(started_at, now())
 where backup_id = $1::uuid and store_id = $2::uuid and state = 'requested')SQL";
constexpr const char* kBackupCompleted = R"SQL(
update intake.backups set state = 'completed', reason = null, size_bytes = $3,
       duration_ms = $4, simulated = $5, started_at = coalesce(started_at, now()),
       finished_at = now()
 where backup_id = $1::uuid and store_id = $2::uuid and state in ('requested', 'running')
returning keep)SQL";
// The store's completed backups beyond the newest `keep` expire (their dumps were removed by
// the Job that completed this one).
constexpr const char* kExpireBackups = R"SQL(
update intake.backups set state = 'expired'
 where store_id = $1::uuid and state = 'completed' and backup_id not in (
       select backup_id from intake.backups where store_id = $1::uuid and state = 'completed'
        order by finished_at desc, backup_id limit $2))SQL";
constexpr const char* kBackupFailed = R"SQL(
update intake.backups set state = 'failed', reason = $3, duration_ms = $4, finished_at = now()
 where backup_id = $1::uuid and store_id = $2::uuid and state in ('requested', 'running'))SQL";
constexpr const char* kRestoreRunning = R"SQL(
update intake.restores set state = 'running', started_at = coalesce(started_at, now())
 where restore_id = $1::uuid and store_id = $2::uuid and state = 'requested')SQL";
constexpr const char* kRestoreEnded = R"SQL(
update intake.restores set state = $3, reason = nullif($4, ''), duration_ms = $5,
       started_at = coalesce(started_at, now()), finished_at = now()
 where restore_id = $1::uuid and store_id = $2::uuid and state in ('requested', 'running'))SQL";

std::string Actor(const Tenant& tenant) {
    return tenant.token_id.empty() ? "tenant:" + tenant.id : "token:" + tenant.token_id;
}

DataRequestOutcome Refuse(const std::string& code, const std::string& message) {
    return {{}, Error::Permanent(code, message)};
}

// The store, locked, if it may have its data backed up or restored now; else why not.
struct DataStore {
    std::string plan;
    std::string engine;
    std::string placement;
    std::string name;
};
std::optional<DataStore> LockForData(pqxx::work& txn, const std::string& tenant_id,
                                     const std::string& store_id,
                                     std::optional<DataRequestOutcome>& refused) {
    auto rows = txn.exec_params(kLockStoreForData, store_id, tenant_id);
    if (rows.empty()) {
        refused = Refuse("not_found", "no store " + store_id);
        return std::nullopt;
    }
    const auto& row = rows[0];
    const auto state = row[0].as<std::string>();
    if (state == "deleted") {
        refused = Refuse("not_found", "no store " + store_id);
        return std::nullopt;
    }
    if (state != "active") {
        refused = Refuse("store_deleting", "the store is being deleted");
        return std::nullopt;
    }
    if (row[2].as<bool>()) {
        refused = Refuse("store_suspended",
                         "the store is suspended: its database is not running; resume it first");
        return std::nullopt;
    }
    if (!txn.exec_params(kDataUnderWay, store_id).empty()) {
        refused = Refuse("data_operation_running",
                         "a backup or restore of this store is under way; wait until it ends");
        return std::nullopt;
    }
    return DataStore{row[1].as<std::string>(), row[3].as<std::string>(), row[4].as<std::string>(),
                     row[5].as<std::string>()};
}

void AddToOutbox(pqxx::work& txn, const v1::Envelope& envelope) {
    txn.exec_params(kInsertOutbox, events::kCommandsTopic, envelope.store_id(),
                    pqxx::binarystring(events::Encode(envelope)));
}

v1::Engine EngineOf(const std::string& name) {
    return events::ParseEngine(name).value_or(v1::ENGINE_WOOCOMMERCE);
}

nlohmann::json NullIfEmpty(const std::string& value) {
    return value.empty() ? nlohmann::json(nullptr) : nlohmann::json(value);
}

nlohmann::json NullableInt(const pqxx::field& field) {
    return field.is_null() ? nlohmann::json(nullptr) : nlohmann::json(field.as<int64_t>());
}

}  // namespace

int BackupsKeptFor(std::string_view plan) {
    if (plan == "large") return 14;
    if (plan == "medium") return 7;
    return 3;
}

DataRequestOutcome RequestBackupIn(pqxx::work& txn, const std::string& tenant_id,
                                   const std::string& store_id, const std::string& actor,
                                   const std::string& requested_by,
                                   const std::string& correlation_id) {
    if (!IsUuid(store_id)) return Refuse("not_found", "no store " + store_id);
    std::optional<DataRequestOutcome> refused;
    auto store = LockForData(txn, tenant_id, store_id, refused);
    if (!store) return *refused;
    const std::string backup_id = NewUuid();
    const int keep = BackupsKeptFor(store->plan);
    const auto requested_at =
        txn.exec_params1(kInsertBackup, backup_id, store_id, tenant_id, keep, requested_by)[0]
            .as<std::string>();
    auto envelope = events::NewEnvelope(tenant_id, store_id, correlation_id);
    auto* command = envelope.mutable_store_backup_requested();
    command->set_backup_id(backup_id);
    command->set_requested_by(requested_by);
    command->set_keep(static_cast<uint32_t>(keep));
    command->set_engine(EngineOf(store->engine));
    command->set_placement(store->placement);
    command->set_name(store->name);
    command->set_plan(store->plan);
    events::SetTypeFromPayload(envelope);
    AddToOutbox(txn, envelope);
    txn.exec_params(kAudit, actor, "store.backup", tenant_id, store_id,
                    nlohmann::json{{"backup_id", backup_id}, {"keep", keep}}.dump());
    return {{{"id", backup_id},
             {"store_id", store_id},
             {"state", "requested"},
             {"requested_at", requested_at},
             {"keep", keep}},
            std::nullopt};
}

DataRequestOutcome RequestRestoreIn(pqxx::work& txn, const std::string& tenant_id,
                                    const std::string& store_id, const std::string& backup_id,
                                    const std::string& actor, const std::string& requested_by,
                                    const std::string& correlation_id) {
    if (!IsUuid(store_id)) return Refuse("not_found", "no store " + store_id);
    std::optional<DataRequestOutcome> refused;
    auto store = LockForData(txn, tenant_id, store_id, refused);
    if (!store) return *refused;
    auto backup = IsUuid(backup_id) ? txn.exec_params(kRestorableBackup, backup_id, store_id)
                                    : pqxx::result();
    if (backup.empty()) {
        return Refuse("backup_not_restorable", "no backup " + backup_id + " of this store");
    }
    const auto state = backup[0][0].as<std::string>();
    if (state != "completed") {
        return Refuse("backup_not_restorable",
                      "backup " + backup_id + " is " + state +
                          (state == "expired" ? " (beyond the plan's retention)" : "") +
                          "; only a completed backup can be restored");
    }
    const std::string restore_id = NewUuid();
    const auto requested_at = txn.exec_params1(kInsertRestore, restore_id, store_id, tenant_id,
                                               backup_id, requested_by)[0]
                                  .as<std::string>();
    auto envelope = events::NewEnvelope(tenant_id, store_id, correlation_id);
    auto* command = envelope.mutable_store_restore_requested();
    command->set_restore_id(restore_id);
    command->set_backup_id(backup_id);
    command->set_requested_by(requested_by);
    command->set_engine(EngineOf(store->engine));
    command->set_placement(store->placement);
    command->set_name(store->name);
    events::SetTypeFromPayload(envelope);
    AddToOutbox(txn, envelope);
    txn.exec_params(kAudit, actor, "store.restore", tenant_id, store_id,
                    nlohmann::json{{"restore_id", restore_id}, {"backup_id", backup_id}}.dump());
    return {{{"id", restore_id},
             {"store_id", store_id},
             {"backup_id", backup_id},
             {"state", "requested"},
             {"requested_at", requested_at}},
            std::nullopt};
}

DataRequestOutcome IntakeStore::RequestBackup(const Tenant& tenant, const std::string& store_id,
                                              const std::string& correlation_id) {
    if (!IsUuid(store_id)) return Refuse("not_found", "no store " + store_id);
    return pool_.WithTransaction([&](pqxx::work& txn) {
        return RequestBackupIn(txn, tenant.id, store_id, Actor(tenant), tenant.id, correlation_id);
    });
}

DataRequestOutcome IntakeStore::RequestRestore(const Tenant& tenant, const std::string& store_id,
                                               const std::string& backup_id,
                                               const std::string& correlation_id) {
    if (!IsUuid(store_id)) return Refuse("not_found", "no store " + store_id);
    return pool_.WithTransaction([&](pqxx::work& txn) {
        return RequestRestoreIn(txn, tenant.id, store_id, backup_id, Actor(tenant), tenant.id,
                                correlation_id);
    });
}

Result<nlohmann::json> IntakeStore::ListBackups(const Tenant& tenant, const std::string& store_id) {
    if (!IsUuid(store_id)) return Error::Permanent("not_found", "no store " + store_id);
    return pool_.WithTransaction([&](pqxx::work& txn) -> Result<nlohmann::json> {
        auto store = txn.exec_params(kStoreOfTenant, store_id, tenant.id);
        if (store.empty()) return Error::Permanent("not_found", "no store " + store_id);
        nlohmann::json backups = nlohmann::json::array();
        for (const auto& row : txn.exec_params(kListBackups, store_id)) {
            backups.push_back({{"id", row[0].as<std::string>()},
                               {"state", row[1].as<std::string>()},
                               {"reason", NullIfEmpty(row[2].as<std::string>())},
                               {"size_bytes", NullableInt(row[3])},
                               {"duration_ms", NullableInt(row[4])},
                               {"simulated", row[5].as<bool>()},
                               {"requested_by", row[6].as<std::string>()},
                               {"requested_at", row[7].as<std::string>()},
                               {"started_at", NullIfEmpty(row[8].as<std::string>())},
                               {"finished_at", NullIfEmpty(row[9].as<std::string>())}});
        }
        nlohmann::json restores = nlohmann::json::array();
        for (const auto& row : txn.exec_params(kListRestores, store_id)) {
            restores.push_back({{"id", row[0].as<std::string>()},
                                {"backup_id", row[1].as<std::string>()},
                                {"state", row[2].as<std::string>()},
                                {"reason", NullIfEmpty(row[3].as<std::string>())},
                                {"duration_ms", NullableInt(row[4])},
                                {"requested_by", row[5].as<std::string>()},
                                {"requested_at", row[6].as<std::string>()},
                                {"started_at", NullIfEmpty(row[7].as<std::string>())},
                                {"finished_at", NullIfEmpty(row[8].as<std::string>())}});
        }
        return nlohmann::json{{"items", backups},
                              {"restores", restores},
                              {"keep", BackupsKeptFor(store[0][0].as<std::string>())}};
    });
}

Status IntakeStore::ApplyDataStatus(const std::string& store_id, const DataReport& report) {
    if (!IsUuid(report.operation_id)) return Status::Ok();  // not one of ours
    const auto duration = static_cast<int64_t>(report.duration_ms);
    pool_.WithTransaction([&](pqxx::work& txn) {
        if (report.operation == "backup") {
            if (report.state == "running") {
                txn.exec_params(kBackupRunning, report.operation_id, store_id);
            } else if (report.state == "completed") {
                auto kept = txn.exec_params(kBackupCompleted, report.operation_id, store_id,
                                            static_cast<int64_t>(report.size_bytes), duration,
                                            report.simulated);
                if (!kept.empty()) txn.exec_params(kExpireBackups, store_id, kept[0][0].as<int>());
            } else if (report.state == "failed") {
                txn.exec_params(kBackupFailed, report.operation_id, store_id, report.reason,
                                duration);
            }
        } else if (report.operation == "restore") {
            if (report.state == "running") {
                txn.exec_params(kRestoreRunning, report.operation_id, store_id);
            } else if (report.state == "completed" || report.state == "failed") {
                txn.exec_params(kRestoreEnded, report.operation_id, store_id, report.state,
                                report.reason, duration);
            }
        }
    });
    return Status::Ok();
}

}  // namespace storefleet::intake
