#include "data_job.hpp"

#include <gtest/gtest.h>

#include "dispatcher.hpp"
#include "store_plan.hpp"
#include "storefleet/events/envelope.hpp"

namespace storefleet::provisioner {
namespace {

using json = nlohmann::json;

constexpr const char* kStore = "123e4567-e89b-42d3-a456-426614174000";
constexpr const char* kBackup = "0b5e8a4c-0a6f-4d0e-9f43-5a1c2f0d6e01";
constexpr const char* kRestore = "7c1d2e3f-4a5b-4c6d-8e7f-901a2b3c4d5e";

v1::Envelope Backup(v1::Engine engine = v1::ENGINE_MEDUSA, const std::string& placement = "") {
    auto envelope = events::NewEnvelope("tenant-a", kStore, "c-1");
    auto* backup = envelope.mutable_store_backup_requested();
    backup->set_backup_id(kBackup);
    backup->set_requested_by("tenant-a");
    backup->set_keep(3);
    backup->set_engine(engine);
    backup->set_placement(placement);
    backup->set_plan("medium");
    events::SetTypeFromPayload(envelope);
    return envelope;
}

v1::Envelope Restore() {
    auto envelope = events::NewEnvelope("tenant-a", kStore, "c-2");
    auto* restore = envelope.mutable_store_restore_requested();
    restore->set_restore_id(kRestore);
    restore->set_backup_id(kBackup);
    restore->set_engine(v1::ENGINE_MEDUSA);
    events::SetTypeFromPayload(envelope);
    return envelope;
}

// The store's database StatefulSet as the medusa-store chart renders it on the real node
// (the fields the Job takes).
json Database() {
    return json::parse(R"({
      "metadata": {"name": "store-postgresql"},
      "spec": {
        "replicas": 1,
        "serviceName": "store-postgresql-headless",
        "template": {"spec": {
          "securityContext": {"runAsUser": 999, "fsGroup": 999, "runAsNonRoot": true},
          "nodeSelector": {"storefleet.io/node-kind": "real"},
          "tolerations": [{"key": "storefleet.io/real-node", "operator": "Equal", "value": "true"}],
          "containers": [{
            "name": "postgresql",
            "image": "storefleet.local/postgres:15-bookworm",
            "imagePullPolicy": "Never",
            "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}},
            "env": [{"name": "MEDUSA_DB_USER", "value": "medusa"},
                    {"name": "MEDUSA_DB_PASSWORD",
                     "valueFrom": {"secretKeyRef": {"name": "store-credentials", "key": "db-password"}}}]
          }]
        }},
        "volumeClaimTemplates": [{"metadata": {"name": "data"},
                                  "spec": {"storageClassName": "storefleet-real-node"}}]
      }
    })");
}

TEST(DataJobTest, SpecFromABackupAndARestoreCommand) {
    auto backup = DataJobSpecFromEvent(Backup(v1::ENGINE_MEDUSA, "real-node"));
    ASSERT_TRUE(backup.ok());
    EXPECT_EQ(backup->operation, "backup");
    EXPECT_EQ(backup->operation_id, kBackup);
    EXPECT_EQ(backup->keep, 3U);
    EXPECT_EQ(backup->plan, "medium");
    EXPECT_TRUE(backup->real_node);
    EXPECT_EQ(DataJobName(*backup), std::string("backup-") + kBackup);
    auto restore = DataJobSpecFromEvent(Restore());
    ASSERT_TRUE(restore.ok());
    EXPECT_EQ(restore->operation, "restore");
    EXPECT_EQ(restore->backup_id, kBackup);
    EXPECT_EQ(DataJobName(*restore), std::string("restore-") + kRestore);
    // Ids name a Job and a file: anything but a UUID is refused.
    auto bad = Backup();
    bad.mutable_store_backup_requested()->set_backup_id("../../etc");
    EXPECT_EQ(DataJobSpecFromEvent(bad).error().code, "bad_command");
}

TEST(DataJobTest, TheJobRunsOnTheDatabaseImageWithItsEnvironmentAndPlacement) {
    auto spec = DataJobSpecFromEvent(Backup(v1::ENGINE_MEDUSA, "real-node"));
    auto job = DataJobObject(*spec, "store-x", Database(), std::chrono::seconds(900));
    ASSERT_TRUE(job.ok());
    const auto& pod = (*job)["spec"]["template"]["spec"];
    const auto& container = pod["containers"][0];
    EXPECT_EQ(container["image"], "storefleet.local/postgres:15-bookworm");
    EXPECT_EQ(container["imagePullPolicy"], "Never");
    // The credentials by reference, as the database has them, and where the database is.
    EXPECT_EQ(container["env"][1]["valueFrom"]["secretKeyRef"]["key"], "db-password");
    EXPECT_EQ(
        container["env"].back(),
        json::parse(R"({"name": "STOREFLEET_DB_HOST", "value": "store-postgresql-headless"})"));
    EXPECT_EQ(container["securityContext"]["capabilities"]["drop"][0], "ALL");
    EXPECT_EQ(pod["securityContext"]["fsGroup"], 999);
    EXPECT_EQ(pod["nodeSelector"]["storefleet.io/node-kind"], "real");
    EXPECT_EQ(pod["automountServiceAccountToken"], false);
    EXPECT_EQ(pod["volumes"][0]["persistentVolumeClaim"]["claimName"], kBackupVolumeClaim);
    EXPECT_EQ((*job)["spec"]["backoffLimit"], 0);
    EXPECT_EQ((*job)["spec"]["activeDeadlineSeconds"], 900);
    // Its own NetworkPolicy's label; not the chart's instance label (readiness, drift).
    EXPECT_EQ((*job)["spec"]["template"]["metadata"]["labels"][kDataJobLabel], "backup");
    EXPECT_FALSE(
        (*job)["spec"]["template"]["metadata"]["labels"].contains("app.kubernetes.io/instance"));
    EXPECT_EQ(DatabaseStorageClass(Database()), "storefleet-real-node");
    auto claim = BackupVolumeClaimObject(*spec, "store-x", "storefleet-real-node");
    EXPECT_EQ(claim["spec"]["resources"]["requests"]["storage"], "2Gi");  // medium
    EXPECT_EQ(claim["spec"]["storageClassName"], "storefleet-real-node");
    // A database without a container to copy from is refused in words.
    EXPECT_FALSE(DataJobObject(*spec, "store-x", json::object(), std::chrono::seconds(1)).ok());
}

TEST(DataJobTest, ScriptsDumpAtomicallyKeepTheRetentionAndRestoreInOneTransaction) {
    auto backup = *DataJobSpecFromEvent(Backup());
    const std::string dump = DataJobScript(backup);
    EXPECT_NE(dump.find("pg_dump --format=custom"), std::string::npos) << dump;
    EXPECT_NE(dump.find(std::string("mv ") + kBackup + ".dump.partial " + kBackup + ".dump"),
              std::string::npos);
    EXPECT_NE(dump.find("tail -n +4"), std::string::npos);  // keep 3
    EXPECT_NE(dump.find("/dev/termination-log"), std::string::npos);
    const std::string restore = DataJobScript(*DataJobSpecFromEvent(Restore()));
    EXPECT_NE(restore.find("--single-transaction"), std::string::npos) << restore;
    EXPECT_NE(restore.find("drop schema public cascade"), std::string::npos);
    EXPECT_NE(restore.find("pg_terminate_backend"), std::string::npos);
    const std::string woo = DataJobScript(*DataJobSpecFromEvent(Backup(v1::ENGINE_WOOCOMMERCE)));
    EXPECT_NE(woo.find("mariadb-dump"), std::string::npos) << woo;
}

TEST(DataJobTest, JobStateAndTerminationMessage) {
    EXPECT_FALSE(EvaluateDataJob(json::parse(R"({"status": {"active": 1}})")).finished);
    auto done = EvaluateDataJob(
        json::parse(R"({"status": {"conditions": [{"type": "Complete", "status": "True"}]}})"));
    EXPECT_TRUE(done.finished && done.succeeded);
    auto failed = EvaluateDataJob(json::parse(
        R"({"status": {"conditions": [{"type": "Failed", "status": "True", "message": "BackoffLimitExceeded"}]}})"));
    EXPECT_TRUE(failed.finished);
    EXPECT_FALSE(failed.succeeded);
    EXPECT_EQ(failed.message, "BackoffLimitExceeded");
    EXPECT_EQ(TerminationMessage(json::parse(R"({"items": [{"status": {"containerStatuses": [
        {"state": {"terminated": {"exitCode": 0, "message": "48213"}}}]}}]})")),
              "48213");
    EXPECT_EQ(TerminationMessage(json::parse(R"({"items": []})")), "");
}

TEST(DataJobTest, ABackupNeitherCancelsNorIsCancelledByAChangeOnlyByADeletion) {
    auto change = events::NewEnvelope("tenant-a", kStore, "c-3");
    change.mutable_store_change_requested()->set_generation(2);
    events::SetTypeFromPayload(change);
    auto deletion = events::NewEnvelope("tenant-a", kStore, "c-4");
    deletion.mutable_store_deletion_requested()->set_requested_by("tenant-a");
    events::SetTypeFromPayload(deletion);
    EXPECT_FALSE(SupersedesCommand(change, Backup()));
    EXPECT_FALSE(SupersedesCommand(Backup(), change));
    EXPECT_FALSE(SupersedesCommand(Restore(), Backup()));
    EXPECT_TRUE(SupersedesCommand(deletion, Backup()));
    EXPECT_TRUE(events::IsStoreCommand(Backup()));
    EXPECT_EQ(Backup().type(), "StoreBackupRequested");
}

}  // namespace
}  // namespace storefleet::provisioner
