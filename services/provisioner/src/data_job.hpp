#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

#include "storefleet/common/result.hpp"
#include "storefleet/v1/events.pb.h"

// Backups and restores of a store's database (docs/decisions/0014-backups.md): what the
// provisioner derives from a StoreBackupRequested or StoreRestoreRequested, as plain data and
// pure functions, so each rule is unit-tested. The Job runs in the store's namespace on the
// store database's own image (pg_dump/pg_restore, mariadb-dump/mariadb), with the database
// container's own environment (its credentials come from the store's Secret by reference: the
// provisioner never reads them), and writes to the store's backup volume.
namespace storefleet::provisioner {

// The claim that holds a store's dumps: one per store, in its namespace, so the backups go
// with the store when it is deleted (decision 14).
inline constexpr const char* kBackupVolumeClaim = "store-backups";
// Where the Job mounts it.
inline constexpr const char* kBackupMountPath = "/backups";

struct DataJobSpec {
    std::string operation;     // "backup" or "restore"
    std::string operation_id;  // the backup id (backup) or the restore id (restore)
    std::string backup_id;     // the dump written (backup) or read (restore)
    std::string store_id;
    std::string engine;  // "medusa" | "woocommerce"
    std::string plan;    // sizes the backup volume
    uint32_t keep = 0;   // backup: dumps to keep, this one included (0: all)
    bool real_node = false;
    std::string requested_by;
};

// From a StoreBackupRequested or StoreRestoreRequested; anything else, or one with ids that are
// not UUIDs (they name Kubernetes objects and files), is a bad_command.
Result<DataJobSpec> DataJobSpecFromEvent(const v1::Envelope& envelope);

// "backup-<id>" or "restore-<id>" (43 characters: a valid label value for job-name).
std::string DataJobName(const DataJobSpec& spec);

// Where the Job's script works: the backup volume and the termination message (tests run the
// script in a folder of their own).
struct DataJobPaths {
    std::string backups = kBackupMountPath;
    std::string termination_log = "/dev/termination-log";
};

// The shell script the Job's container runs (sh -c), engine by engine. A backup dumps to
// <id>.dump.partial and renames it when complete (a half-written dump is never restorable),
// then removes the oldest complete dumps beyond `keep`, and writes the dump's size in bytes to
// its termination message. A restore first ends the database's other sessions, then loads the
// dump in one transaction (PostgreSQL) so a failed restore leaves the data as it was, then
// leaves a marker .restored-<restore id> on the volume. Run again for the same command (a
// replay), either does nothing and reports as the first run did: the backup's dump exists, the
// restore's marker exists. (A restore cut off between its commit and its marker would run
// again: a window of one `touch`.)
std::string DataJobScript(const DataJobSpec& spec, const DataJobPaths& paths = {});

// The backup volume's claim: ReadWriteOnce, 1Gi per plan factor (small 1, medium 2, large 4:
// it counts against the store's ResourceQuota requests.storage), on `storage_class` ("":
// the cluster's default).
nlohmann::json BackupVolumeClaimObject(const DataJobSpec& spec, const std::string& ns,
                                       const std::string& storage_class);

// The Job, built from the store's database StatefulSet (`database`, as the API returns it):
// its image, its container's environment and security context, its pod's security context,
// node selector and tolerations (on the real node the Job lands where the volume is). No
// retries (backoffLimit 0: a failed dump is reported, not repeated behind the user's back), a
// deadline, and the pod label kDataJobLabel for its NetworkPolicy. Not labelled
// app.kubernetes.io/instance=store, so neither readiness nor the drift watch counts it.
Result<nlohmann::json> DataJobObject(const DataJobSpec& spec, const std::string& ns,
                                     const nlohmann::json& database, std::chrono::seconds deadline);

// The storage class of the database's first volume claim template ("" when none is named).
std::string DatabaseStorageClass(const nlohmann::json& database);

// Where a Job is: running, succeeded or failed (with the condition's message).
struct DataJobState {
    bool finished = false;
    bool succeeded = false;
    std::string message;
};
DataJobState EvaluateDataJob(const nlohmann::json& job);

// The termination message of the Job's pod (the list of its pods, as the API returns it):
// the dump's size on success, the last lines of its log on failure (FallbackToLogsOnError).
// "" when no pod says anything (simulated pods never run).
std::string TerminationMessage(const nlohmann::json& pods);

}  // namespace storefleet::provisioner
