// StoreProvisioner::RunDataCommand: backups and restores (data_job.hpp, decision 14).
#include "data_job.hpp"
#include "provisioner.hpp"
#include "storefleet/common/backoff.hpp"
#include "storefleet/common/log.hpp"

namespace storefleet::provisioner {
namespace {

using Clock = std::chrono::steady_clock;

// Reads of the store's database StatefulSet (the chart's component=database).
constexpr const char* kDatabaseSelector =
    "?labelSelector=app.kubernetes.io%2Finstance%3Dstore%2Capp.kubernetes.io%2Fcomponent%"
    "3Ddatabase";

// Runs `attempt` until it succeeds, fails for good, the deadline passes or `cancel` fires.
template <typename Fn>
Status Retrying(const CancelToken& cancel, Clock::time_point deadline, Fn&& attempt) {
    Backoff backoff(std::chrono::milliseconds(250), std::chrono::milliseconds(5'000));
    for (;;) {
        if (cancel.Cancelled()) return Error::Permanent("cancelled", "cancelled");
        Status status = attempt();
        if (status.ok() || !status.error().retryable()) return status;
        const auto wait = backoff.Next();
        if (Clock::now() + wait > deadline) return status;
        if (cancel.Sleep(wait)) return Error::Permanent("cancelled", "cancelled");
    }
}

}  // namespace

CommandOutcome StoreProvisioner::RunDataCommand(const Command& cmd, const CancelToken& cancel) {
    const auto started = Clock::now();
    const auto deadline = started + options_.store_deadline;
    const std::string store_id = cmd.envelope.store_id();
    auto elapsed_ms = [&] {
        return static_cast<uint64_t>(
            std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count());
    };
    auto stopped = [&] {
        return cancel.Why() == CancelToken::Reason::kLeaseLost ? CommandOutcome::kRetry
                                                               : CommandOutcome::kCancelled;
    };
    std::string operation = cmd.envelope.has_store_backup_requested() ? "backup" : "restore";
    auto fail = [&](const std::string& reason, const std::string& detail) {
        log::Error("store " + operation + " failed",
                   {{"store_id", store_id}, {"reason", reason}, {"detail", detail}});
        registry_
            .GetCounter("storefleet_provisioner_data_jobs_total", "Backups and restores finished.",
                        {{"operation", operation}, {"outcome", "failed"}})
            .Inc();
        if (!statuses_.PublishData(cmd, {"failed", reason, 0, elapsed_ms(), 6}, cancel).ok())
            return stopped();
        return CommandOutcome::kFinished;
    };
    auto spec = DataJobSpecFromEvent(cmd.envelope);
    if (!spec.ok()) return fail("the command is not valid: " + spec.error().message, "");
    const std::string ns = NamespaceFor(store_id);
    if (!statuses_.PublishData(cmd, {"running", "", 0, 0, 2}, cancel).ok()) return stopped();

    // The database it copies from, or restores to: its image, environment and placement.
    nlohmann::json database;
    if (auto read = Retrying(cancel, deadline,
                             [&]() -> Status {
                                 auto list = kube_.Get("/apis/apps/v1/namespaces/" + ns +
                                                       "/statefulsets" + kDatabaseSelector);
                                 if (!list.ok()) return list.error();
                                 const auto items = list->value("items", nlohmann::json::array());
                                 database = items.empty() ? nlohmann::json() : items[0];
                                 return Status::Ok();
                             });
        !read.ok()) {
        if (read.error().code == "cancelled") return stopped();
        return fail("the store's database could not be read", read.error().message);
    }
    if (database.is_null())
        return fail("the store has no database to " + operation + " (is it still being created?)",
                    "no StatefulSet with component=database in " + ns);
    if (database.value("spec", nlohmann::json::object()).value("replicas", 1) == 0) {
        return fail("the store is suspended: resume it first, its database is not running",
                    "database replicas 0");
    }
    auto job =
        DataJobObject(*spec, ns, database,
                      std::chrono::duration_cast<std::chrono::seconds>(options_.store_deadline));
    if (!job.ok()) return fail(job.error().message, "");
    const std::string job_name = DataJobName(*spec);
    const std::string job_path = "/apis/batch/v1/namespaces/" + ns + "/jobs/" + job_name;
    if (auto applied = Retrying(
            cancel, deadline,
            [&]() -> Status {
                auto claim = kube_.Apply(
                    "/api/v1/namespaces/" + ns + "/persistentvolumeclaims/" + kBackupVolumeClaim,
                    BackupVolumeClaimObject(*spec, ns, DatabaseStorageClass(database)));
                if (!claim.ok()) return claim.error();
                auto created = kube_.Apply(job_path, *job);
                return created.ok() ? Status::Ok() : Status(created.error());
            });
        !applied.ok()) {
        if (applied.error().code == "cancelled") return stopped();
        return fail("the " + operation + " Job could not be created", applied.error().message);
    }
    log::Info("store " + operation + " Job started",
              {{"store_id", store_id}, {"job", job_name}, {"backup_id", spec->backup_id}});

    // Await its end; the Job's own activeDeadlineSeconds ends it at the latest.
    DataJobState state;
    for (;;) {
        auto read = kube_.Get(job_path);
        if (read.ok()) {
            state = EvaluateDataJob(*read);
            if (state.finished) break;
        } else if (!read.error().retryable()) {
            return fail("the " + operation + " Job went away before it finished",
                        read.error().message);
        }
        if (Clock::now() > deadline + std::chrono::seconds(30))
            return fail("the " + operation + " did not finish in time", job_name);
        if (cancel.Sleep(options_.readiness_poll)) return stopped();
    }
    std::string message;
    if (auto pods =
            kube_.Get("/api/v1/namespaces/" + ns + "/pods?labelSelector=job-name%3D" + job_name);
        pods.ok()) {
        message = TerminationMessage(*pods);
    }
    const uint64_t duration_ms = elapsed_ms();
    // Deleted once its outcome is read (its pods with it); ttlSecondsAfterFinished is the net.
    auto remove_job = [&] {
        if (auto deleted = kube_.Call("DELETE", job_path, R"({"propagationPolicy":"Background"})");
            !deleted.ok()) {
            log::Warn("data Job not deleted",
                      {{"job", job_name}, {"error", deleted.error().message}});
        }
    };
    if (!state.succeeded) {
        remove_job();
        return fail("the " + operation +
                        " Job failed; the platform's operators have the details in its logs",
                    state.message + " | " + message);
    }
    uint64_t size = 0;
    if (operation == "backup" && !message.empty()) {
        try {
            size = std::stoull(message);
        } catch (const std::exception&) {
            size = 0;
        }
    }
    if (!statuses_.PublishData(cmd, {"completed", "", size, duration_ms, 4}, cancel).ok())
        return stopped();
    remove_job();
    registry_
        .GetCounter("storefleet_provisioner_data_jobs_total", "Backups and restores finished.",
                    {{"operation", operation}, {"outcome", "completed"}})
        .Inc();
    registry_
        .GetHistogram("storefleet_provisioner_data_job_seconds",
                      "From a backup or restore command taken to its Job's end.",
                      {{"operation", operation}})
        .Observe(static_cast<double>(duration_ms) / 1000.0);
    log::Info("store " + operation + " completed", {{"store_id", store_id},
                                                    {"backup_id", spec->backup_id},
                                                    {"size_bytes", size},
                                                    {"duration_ms", duration_ms}});
    return CommandOutcome::kFinished;
}

}  // namespace storefleet::provisioner
