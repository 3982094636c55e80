#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "create_batcher.hpp"
#include "store_patch.hpp"
#include "store_request.hpp"
#include "storefleet/common/result.hpp"
#include "storefleet/http/auth.hpp"
#include "storefleet/pg/pool.hpp"
#include "storefleet/v1/events.pb.h"

namespace storefleet::intake {

// Who a request acts for: the tenant, and the API token it came with (the audit trail's
// actor; "" when not known, e.g. a test or a tool acting for the tenant).
struct Tenant {
    std::string id;
    std::string token_id;
};

// What a change or a retry came to. Accepted: 202 with ChangeAccepted, a command committed
// (`sent`); nothing to change: 200 with ChangeAccepted, nothing sent. Refused: `refused` says
// why (codes "not_found", "store_deleting", "precondition_failed", "nothing_to_retry");
// `generation` is the store's current generation whenever the store was found (a 412 names
// it).
struct ChangeOutcome {  // NOLINT(bugprone-exception-escape): as Accepted
    int http_status = 202;
    nlohmann::json body;
    uint64_t generation = 0;
    bool sent = false;
    std::optional<Error> refused;
};

// How a backup or a restore went (StoreBackupStatusChanged, decision 14).
struct DataReport {
    std::string operation;     // "backup" | "restore"
    std::string operation_id;  // the backup id or the restore id
    std::string state;         // "running" | "completed" | "failed"
    std::string reason;
    uint64_t size_bytes = 0;
    uint64_t duration_ms = 0;
    bool simulated = false;
};

// Backups a store keeps (its newest completed ones), by plan: small 3, medium 7, large 14.
int BackupsKeptFor(std::string_view plan);

// What a backup or a restore request came to: 202 with the operation's id and state; or
// refused ("not_found", "store_deleting", "store_suspended", "data_operation_running",
// "backup_not_restorable").
struct DataRequestOutcome {  // NOLINT(bugprone-exception-escape): as Accepted
    nlohmann::json body;
    std::optional<Error> refused;
};

// A status a provisioner reported on store-status that the ledger keeps something of.
struct StatusReport {
    std::string store_id;
    v1::StoreStatus status = v1::STORE_STATUS_UNSPECIFIED;
    std::string step;
    uint64_t generation = 0;           // of the command it is about; 0: an older provisioner's (1)
    uint64_t observed_generation = 0;  // on ready and suspended
    uint64_t sequence = 0;             // the store's event order (0: unknown)
    // A backup's or restore's progress instead of a store status (then `status` is unset).
    std::optional<DataReport> data;
};

// What POST/DELETE answer; stored with an Idempotency-Key so a retry gets the same reply.
struct Accepted {  // NOLINT(bugprone-exception-escape): json's implicit members; nothing here
                   // throws on move
    int http_status = 202;
    nlohmann::json body;
};

// What a rollout's change of one store's chart version came to (ChangeChartVersion).
struct ChartChange {
    enum Kind {
        kNotActive,     // no such store, or being deleted: nothing sent
        kAlreadyThere,  // its desired chart version is that one already: nothing sent
        kSent,          // the next generation with the version, its command in the outbox
    } kind = kNotActive;
    uint64_t generation = 0;   // the store's generation after the call
    std::string from_version;  // its desired chart version before ("" when not pinned)
};
// In `txn` (a rollout's, its row locked): the store's desired chart version set to `version`
// as its next generation, its StoreChangeRequested (changed: chart_version) in the outbox and
// an audit row (store.chart_version, by `actor`), the store row locked as a PATCH locks it.
ChartChange ChangeChartVersion(pqxx::work& txn, const std::string& store_id,
                               const std::string& version, const std::string& actor,
                               const std::string& correlation_id);

// In `txn`: a backup of the store of `tenant_id`, as POST .../backups makes it (its row, its
// command in the outbox, an audit row by `actor`); refused as that call refuses (deleting,
// suspended, a backup or restore under way). Rollouts ask for one before a version that
// migrates data.
DataRequestOutcome RequestBackupIn(pqxx::work& txn, const std::string& tenant_id,
                                   const std::string& store_id, const std::string& actor,
                                   const std::string& requested_by,
                                   const std::string& correlation_id);
// In `txn`: a restore of a completed backup of the store, as POST .../restore makes it.
DataRequestOutcome RequestRestoreIn(pqxx::work& txn, const std::string& tenant_id,
                                    const std::string& store_id, const std::string& backup_id,
                                    const std::string& actor, const std::string& requested_by,
                                    const std::string& correlation_id);

// The intake's ledger in Postgres (schema "intake"): tenants and their API token hashes,
// the stores each tenant asked for (unique live names, the quota), idempotency keys and
// the outbox. Every accepted command is committed with its outbox row in one transaction.
// Thread-safe (each call takes its own pooled connection).
class IntakeStore {
public:
    IntakeStore(pg::Pool& pool, std::string store_domain);
    ~IntakeStore();
    IntakeStore(const IntakeStore&) = delete;
    IntakeStore& operator=(const IntakeStore&) = delete;

    void Migrate();
    // The newest migration applied to this database (0: intake's schema is not there). Reads
    // only: the operator's read-only commands use it to refuse a database intake never set up.
    int AppliedSchemaVersion();
    // What a start did with the bootstrap token in its file.
    enum class SeedOutcome {
        kTokenAdded,    // a token not seen before: it now authenticates, and the token the
                        // file held before (if any) is revoked
        kTokenKept,     // seen before and still working: nothing changed
        kTokenRevoked,  // seen before and revoked by an admin: it stays revoked
    };
    // The bootstrap tenant and its token, from the files named at start. The tenant is created
    // with `store_quota` only if it does not exist (an admin's later change stays). A token
    // seen before is never revived or re-assigned; a new one revokes only the earlier tokens
    // that came from the file, never a token an admin issued or rotated. Throws if the token
    // already belongs to another tenant.
    SeedOutcome SeedTenant(const std::string& tenant_id, const std::string& token, int store_quota,
                           bool admin = false);
    // Who holds the API token with this SHA-256, if it is neither revoked nor expired.
    std::optional<http::Principal> Authenticate(const std::string& token_sha256);
    // Forgets idempotency keys older than `older_than` (24 h: a retry comes sooner). Returns
    // how many went.
    int64_t PruneIdempotencyKeys(std::chrono::seconds older_than);

    Result<Accepted> CreateStore(const Tenant& tenant, const StoreRequest& request,
                                 const std::string& idempotency_key,
                                 const std::string& correlation_id);
    // A create without an Idempotency-Key, answered later: `done` runs on the create
    // batcher's thread once the batch holding it has committed, with its result, or with the
    // batch's failure (then the result is an error and `error` is set).
    using CreateDone = std::function<void(Result<Accepted> result, std::exception_ptr error)>;
    void CreateStoreAsync(const Tenant& tenant, const StoreRequest& request,
                          const std::string& correlation_id, CreateDone done);
    // Marks the store deleting and sends the deletion; again only if an earlier deletion
    // failed. The quota and the name stay taken until the store is deleted.
    Result<Accepted> RequestDeletion(const Tenant& tenant, const std::string& store_id,
                                     const std::string& correlation_id);
    // PATCH: applies `patch` to the store's desired state if `if_match` matches its
    // generation, in one transaction with the store row locked (so a concurrent DELETE is
    // either before it, then 409, or after it): the next generation, a StoreChangeRequested
    // carrying it in the outbox and an audit row ("store.change"). A patch that changes
    // nothing sends nothing (200). Another tenant's store is not found.
    ChangeOutcome ChangeStore(const Tenant& tenant, const std::string& store_id,
                              const StorePatch& patch, const IfMatch& if_match,
                              const std::string& correlation_id);
    // POST .../retry: a store whose current generation failed to converge gets that
    // generation again (a StoreChangeRequested with retry); a store whose deletion failed gets
    // its deletion again, as DELETE sends it. Audited ("store.retry"). Anything else: 409.
    ChangeOutcome RetryStore(const Tenant& tenant, const std::string& store_id,
                             const std::string& correlation_id);
    // What a provisioner reported (store-status): "deleted" frees the store's name and its
    // unit of quota, once; a failed deletion lets DELETE send it again. A failed or degraded
    // convergence (not of a deletion) records its generation for retry; ready or suspended
    // at that generation or a later one forgets it. Idempotent, and a status older (by its
    // sequence) than the last one applied changes nothing.
    Status ApplyStoreStatus(const StatusReport& report);
    // Backups (decision 14). POST .../backups: a backup of an active, running store, with
    // its Job's command in the outbox and an audit row ("store.backup"); one backup or restore
    // of a store at a time. `requested_by` "" names the tenant.
    DataRequestOutcome RequestBackup(const Tenant& tenant, const std::string& store_id,
                                     const std::string& correlation_id);
    // GET .../backups: the store's backups, newest first, its restores, and its retention.
    Result<nlohmann::json> ListBackups(const Tenant& tenant, const std::string& store_id);
    // POST .../restore: the store's database back to a completed backup of its own; audited
    // ("store.restore"). What was written after that backup is lost.
    DataRequestOutcome RequestRestore(const Tenant& tenant, const std::string& store_id,
                                      const std::string& backup_id,
                                      const std::string& correlation_id);
    // A backup's or restore's progress; a completed backup expires the store's completed
    // backups beyond its retention. Idempotent; a state never goes back (running after
    // completed changes nothing).
    Status ApplyDataStatus(const std::string& store_id, const DataReport& report);
    // The same for a status without generation or sequence (an older provisioner's).
    Status ApplyStoreStatus(const std::string& store_id, v1::StoreStatus status,
                            const std::string& step) {
        return ApplyStoreStatus(StatusReport{store_id, status, step});
    }
    // Told the size and the write time of every batch of creates (on the batcher's thread);
    // set before serving.
    void SetBatchObserver(std::function<void(std::size_t items, double seconds)> observer) {
        batch_observer_ = std::move(observer);
    }
    // The chart version each engine's new stores are created with (the catalogue's defaults,
    // ChartCatalogue::DefaultVersion): recorded with the store and carried by its
    // StoreRequested. An engine not named gets none ("": the provisioner's default). Set
    // before serving.
    // Thread-safe: the rollout controller moves a default while creates read it.
    void SetChartDefaults(std::map<std::string, std::string, std::less<>> defaults) {
        const std::lock_guard lock(chart_defaults_mutex_);
        chart_defaults_ = std::move(defaults);
    }
    // Creates submitted and not answered yet (tests and diagnostics).
    std::size_t WaitingCreates() { return batcher_->Waiting(); }

private:
    std::string ChartDefault(std::string_view engine) const {
        const std::lock_guard lock(chart_defaults_mutex_);
        const auto found = chart_defaults_.find(engine);
        return found == chart_defaults_.end() ? std::string() : found->second;
    }
    // A committed batch's outcome for one create, as the API answers it.
    Result<Accepted> ResultOf(const Tenant& tenant, const StoreRequest& request,
                              const Accepted& accepted, CreateOutcome outcome);
    // The batcher's writer: one create_stores() call for `items`.
    std::vector<CreateOutcome> WriteCreates(const std::vector<CreateItem>& items);

    pg::Pool& pool_;
    std::string store_domain_;
    mutable std::mutex chart_defaults_mutex_;
    std::map<std::string, std::string, std::less<>> chart_defaults_;
    // Creates without an Idempotency-Key are committed together (see CreateBatcher).
    std::function<void(std::size_t, double)> batch_observer_;
    std::unique_ptr<CreateBatcher> batcher_;
};

}  // namespace storefleet::intake
