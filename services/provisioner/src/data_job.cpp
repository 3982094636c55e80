#include "data_job.hpp"

#include "store_plan.hpp"
#include "storefleet/common/ids.hpp"
#include "storefleet/events/status.hpp"

namespace storefleet::provisioner {
namespace {

using json = nlohmann::json;

int PlanFactor(const std::string& plan) {
    if (plan == "large") return 4;
    if (plan == "medium") return 2;
    return 1;
}

// Ends every line of the script; the whole script runs under `set -eu`.
std::string Lines(std::initializer_list<std::string> lines) {
    std::string out;
    for (const auto& line : lines) out += line + "\n";
    return out;
}

// Waits (bounded) until PostgreSQL answers: a new pod's address may reach the network policy
// enforcer's peer sets a moment after the pod started.
constexpr const char* kWaitForPostgres =
    R"sh(until pg_isready -q -t 2; do tries=$((tries + 1)); [ "$tries" -lt 60 ] || { echo )sh"
    R"sh("the store's database does not answer" >&2; exit 1; }; sleep 1; done)sh";
// The rest of the same wait for MariaDB, after `mariadb-admin <connection>`.
constexpr const char* kPingUntilAnswered =
    R"sh( ping > /dev/null 2>&1; do tries=$((tries + 1)); [ "$tries" -lt 60 ] || { echo )sh"
    R"sh("the store's database does not answer" >&2; exit 1; }; sleep 1; done)sh";
// Ends the database's other sessions (the store's own, which reconnect) before a restore.
constexpr const char* kEndOtherSessions =
    R"sh(psql -X -q -v ON_ERROR_STOP=1 -c "select count(pg_terminate_backend(pid)) from )sh"
    R"sh(pg_stat_activity where datname = current_database() )sh"
    R"sh(and pid <> pg_backend_pid()" > /dev/null)sh";
// The start of the restore's SQL: the schema public replaced, then the dump's statements.
constexpr const char* kReplaceSchemaThen =
    "{ echo 'drop schema public cascade; create schema public;'; pg_restore --no-owner "
    "--no-acl --file=- ";

// A restore's record on the backup volume, written once the restore committed.
std::string RestoredMarker(const DataJobSpec& spec) { return ".restored-" + spec.operation_id; }

// The script's first step: a command seen before (a replay: the provisioner deletes a finished
// Job once it has read its outcome, and Kafka may hand the command over again) reports what
// was done and changes nothing. A restore run twice would throw away what the store wrote
// since the first; a backup run twice would turn a backup into a later one.
std::string DoneAlready(const DataJobSpec& spec, const std::string& dump,
                        const DataJobPaths& paths) {
    if (spec.operation == "backup") {
        return "if [ -s " + dump + " ]; then stat -c %s " + dump + " > " + paths.termination_log +
               "; exit 0; fi";
    }
    return "if [ -e " + RestoredMarker(spec) + " ]; then echo restored > " + paths.termination_log +
           "; exit 0; fi";
}

// PostgreSQL (Medusa): the app user of the database container's environment, which owns the
// database and so its schema public (PostgreSQL 15: pg_database_owner).
std::string PostgresScript(const DataJobSpec& spec, const DataJobPaths& paths) {
    const std::string dump = spec.backup_id + ".dump";
    const std::string env =
        Lines({"set -eu", "export PGHOST=\"$STOREFLEET_DB_HOST\"",
               "export PGUSER=\"$MEDUSA_DB_USER\"", "export PGPASSWORD=\"$MEDUSA_DB_PASSWORD\"",
               "export PGDATABASE=\"$MEDUSA_DB_NAME\"", "cd " + paths.backups,
               DoneAlready(spec, dump, paths), "tries=0", std::string(kWaitForPostgres)});
    if (spec.operation == "backup") {
        std::string script =
            env + Lines({"pg_dump --format=custom --no-owner --no-acl --file=" + dump + ".partial",
                         "mv " + dump + ".partial " + dump});
        if (spec.keep > 0) {
            // Retention: the newest `keep` complete dumps stay (this one is the newest).
            script += Lines({"ls -1t -- *.dump | tail -n +" + std::to_string(spec.keep + 1) +
                             " | xargs -r rm -f --"});
        }
        return script + Lines({"stat -c %s " + dump + " > " + paths.termination_log});
    }
    const std::string sql = ".restore-" + spec.operation_id + ".sql";
    // The whole schema is replaced in one transaction: objects made after the backup (a
    // migration's new tables) go too, and a failed restore leaves the data as it was.
    return env + Lines({"test -s " + dump + " || { echo \"backup " + spec.backup_id +
                            " is not on the store's backup volume\" >&2; exit 1; }",
                        std::string(kEndOtherSessions),
                        // To a file first: in a pipe sh would not see pg_restore fail.
                        std::string(kReplaceSchemaThen) + dump + "; } > " + sql,
                        "psql -X -q -v ON_ERROR_STOP=1 --single-transaction --file=" + sql +
                            " > /dev/null",
                        "rm -f " + sql, "touch " + RestoredMarker(spec),
                        "echo restored > " + paths.termination_log});
}

// MariaDB (WooCommerce): the same steps with the MariaDB client tools of its image.
std::string MariadbScript(const DataJobSpec& spec, const DataJobPaths& paths) {
    const std::string connect =
        R"(--host="$STOREFLEET_DB_HOST" --user="$MARIADB_USER" --password="$MARIADB_PASSWORD")";
    const std::string dump = spec.backup_id + ".dump";
    const std::string env =
        Lines({"set -eu", "cd " + paths.backups, DoneAlready(spec, dump, paths), "tries=0",
               "until mariadb-admin " + connect + std::string(kPingUntilAnswered)});
    if (spec.operation == "backup") {
        std::string script = env + Lines({"mariadb-dump " + connect +
                                              " --single-transaction --databases "
                                              "\"$MARIADB_DATABASE\" > " +
                                              dump + ".partial",
                                          "mv " + dump + ".partial " + dump});
        if (spec.keep > 0) {
            script += Lines({"ls -1t -- *.dump | tail -n +" + std::to_string(spec.keep + 1) +
                             " | xargs -r rm -f --"});
        }
        return script + Lines({"stat -c %s " + dump + " > " + paths.termination_log});
    }
    return env + Lines({"test -s " + dump + " || { echo \"backup " + spec.backup_id +
                            " is not on the store's backup volume\" >&2; exit 1; }",
                        "mariadb " + connect + " < " + dump, "touch " + RestoredMarker(spec),
                        "echo restored > " + paths.termination_log});
}

}  // namespace

Result<DataJobSpec> DataJobSpecFromEvent(const v1::Envelope& envelope) {
    DataJobSpec spec;
    spec.store_id = envelope.store_id();
    std::string placement;
    v1::Engine engine = v1::ENGINE_UNSPECIFIED;
    if (envelope.has_store_backup_requested()) {
        const auto& backup = envelope.store_backup_requested();
        spec.operation = "backup";
        spec.operation_id = backup.backup_id();
        spec.backup_id = backup.backup_id();
        spec.keep = backup.keep();
        spec.plan = backup.plan();
        spec.requested_by = backup.requested_by();
        engine = backup.engine();
        placement = backup.placement();
    } else if (envelope.has_store_restore_requested()) {
        const auto& restore = envelope.store_restore_requested();
        spec.operation = "restore";
        spec.operation_id = restore.restore_id();
        spec.backup_id = restore.backup_id();
        spec.requested_by = restore.requested_by();
        engine = restore.engine();
        placement = restore.placement();
    } else {
        return Error::Permanent("bad_command",
                                "not a StoreBackupRequested or StoreRestoreRequested");
    }
    if (!IsUuid(spec.store_id)) return Error::Permanent("bad_command", "store id is not a UUID");
    if (!IsUuid(spec.operation_id) || !IsUuid(spec.backup_id))
        return Error::Permanent("bad_command", "the backup or restore id is not a UUID");
    spec.engine = events::EngineName(engine);
    if (spec.engine != "medusa" && spec.engine != "woocommerce")
        return Error::Permanent("bad_command", "unknown engine");
    if (spec.plan.empty()) spec.plan = "small";
    spec.real_node = placement == "real-node";
    return spec;
}

std::string DataJobName(const DataJobSpec& spec) {
    return spec.operation + "-" + spec.operation_id;
}

std::string DataJobScript(const DataJobSpec& spec, const DataJobPaths& paths) {
    return spec.engine == "medusa" ? PostgresScript(spec, paths) : MariadbScript(spec, paths);
}

json BackupVolumeClaimObject(const DataJobSpec& spec, const std::string& ns,
                             const std::string& storage_class) {
    json claim_spec = {
        {"accessModes", json::array({"ReadWriteOnce"})},
        {"resources", {{"requests", {{"storage", std::to_string(PlanFactor(spec.plan)) + "Gi"}}}}}};
    if (!storage_class.empty()) claim_spec["storageClassName"] = storage_class;
    return {{"apiVersion", "v1"},
            {"kind", "PersistentVolumeClaim"},
            {"metadata",
             {{"name", kBackupVolumeClaim},
              {"namespace", ns},
              {"labels",
               {{"app.kubernetes.io/managed-by", "storefleet"},
                {"app.kubernetes.io/part-of", "storefleet"},
                {"app.kubernetes.io/component", "backups"}}}}},
            {"spec", claim_spec}};
}

std::string DatabaseStorageClass(const json& database) {
    const auto templates =
        database.value("spec", json::object()).value("volumeClaimTemplates", json::array());
    if (templates.empty() || !templates[0].is_object()) return "";
    return templates[0].value("spec", json::object()).value("storageClassName", "");
}

Result<json> DataJobObject(const DataJobSpec& spec, const std::string& ns, const json& database,
                           std::chrono::seconds deadline) {
    const auto pod_spec = database.value("spec", json::object())
                              .value("template", json::object())
                              .value("spec", json::object());
    const auto containers = pod_spec.value("containers", json::array());
    if (containers.empty() || !containers[0].is_object() || !containers[0].contains("image")) {
        return Error::Permanent("no_database",
                                "the store's database has no container to take the image from");
    }
    const json& database_container = containers[0];
    json env = database_container.value("env", json::array());
    env.push_back({{"name", "STOREFLEET_DB_HOST"},
                   {"value", database.value("spec", json::object()).value("serviceName", "")}});
    json container = {
        {"name", spec.operation},
        {"image", database_container["image"]},
        {"command", json::array({"sh", "-c", DataJobScript(spec)})},
        {"env", env},
        {"volumeMounts", json::array({{{"name", "backups"}, {"mountPath", kBackupMountPath}}})},
        // Its size on success; the last lines of its log on failure.
        {"terminationMessagePolicy", "FallbackToLogsOnError"},
        // Within the store's LimitRange and a small share of its ResourceQuota.
        {"resources",
         {{"requests", {{"cpu", "50m"}, {"memory", "64Mi"}}},
          {"limits", {{"cpu", "500m"}, {"memory", "256Mi"}}}}}};
    for (const auto* field : {"imagePullPolicy", "securityContext"}) {
        if (database_container.contains(field)) container[field] = database_container[field];
    }
    json job_pod_spec = {
        {"restartPolicy", "Never"},
        {"automountServiceAccountToken", false},
        {"enableServiceLinks", false},
        {"containers", json::array({container})},
        {"volumes",
         json::array({{{"name", "backups"},
                       {"persistentVolumeClaim", {{"claimName", kBackupVolumeClaim}}}}})}};
    for (const auto* field : {"securityContext", "nodeSelector", "tolerations", "affinity"}) {
        if (pod_spec.contains(field)) job_pod_spec[field] = pod_spec[field];
    }
    const json labels = {{"app.kubernetes.io/managed-by", "storefleet"},
                         {"app.kubernetes.io/part-of", "storefleet"},
                         {"app.kubernetes.io/component", spec.operation},
                         {kDataJobLabel, spec.operation}};
    return json{{"apiVersion", "batch/v1"},
                {"kind", "Job"},
                {"metadata",
                 {{"name", DataJobName(spec)},
                  {"namespace", ns},
                  {"labels", labels},
                  {"annotations", {{"storefleet.io/backup-id", spec.backup_id}}}}},
                {"spec",
                 {{"backoffLimit", 0},
                  {"activeDeadlineSeconds", deadline.count()},
                  // The provisioner deletes it once it read the outcome; this is the net.
                  {"ttlSecondsAfterFinished", 3600},
                  {"template", {{"metadata", {{"labels", labels}}}, {"spec", job_pod_spec}}}}}};
}

DataJobState EvaluateDataJob(const json& job) {
    DataJobState state;
    const auto status = job.value("status", json::object());
    for (const auto& condition : status.value("conditions", json::array())) {
        if (condition.value("status", "") != "True") continue;
        const std::string type = condition.value("type", "");
        if (type == "Complete") {
            state.finished = true;
            state.succeeded = true;
        } else if (type == "Failed") {
            state.finished = true;
            state.succeeded = false;
            state.message = condition.value("message", condition.value("reason", ""));
        }
    }
    // A Job controller that counts a success before it writes the condition.
    if (!state.finished && status.value("succeeded", 0) > 0) {
        state.finished = true;
        state.succeeded = true;
    }
    return state;
}

std::string TerminationMessage(const json& pods) {
    for (const auto& pod : pods.value("items", json::array())) {
        for (const auto& container :
             pod.value("status", json::object()).value("containerStatuses", json::array())) {
            const auto terminated =
                container.value("state", json::object()).value("terminated", json::object());
            std::string message = terminated.value("message", "");
            if (!message.empty()) return message;
        }
    }
    return "";
}

}  // namespace storefleet::provisioner
