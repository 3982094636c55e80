#include "data_job.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

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

v1::Envelope Restore(v1::Engine engine = v1::ENGINE_MEDUSA) {
    auto envelope = events::NewEnvelope("tenant-a", kStore, "c-2");
    auto* restore = envelope.mutable_store_restore_requested();
    restore->set_restore_id(kRestore);
    restore->set_backup_id(kBackup);
    restore->set_engine(engine);
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

// The scripts run by sh in a folder of their own, with the database tools replaced by stubs
// that log each call: a command run twice (a replay) does its work once and reports the same.
class DataJobScriptRun : public ::testing::Test {
protected:
    void SetUp() override {
        char folder[] = "/tmp/data-job-test-XXXXXX";
        ASSERT_NE(::mkdtemp(folder), nullptr);
        root_ = folder;
        paths_.backups = root_ + "/backups";
        paths_.termination_log = root_ + "/termination-log";
        std::filesystem::create_directories(paths_.backups);
        std::filesystem::create_directories(root_ + "/bin");
        // Every tool answers at once; pg_dump and mariadb-dump write a dump; each logs its name.
        const std::string log = root_ + "/calls.log";
        for (const std::string tool :
             {"pg_isready", "psql", "pg_restore", "mariadb-admin", "mariadb"}) {
            Stub(tool, "echo " + tool + " >> " + log + "\n" +
                           (tool == "pg_restore" ? "echo 'select 1;'\n" : ""));
        }
        Stub("pg_dump",
             "echo pg_dump >> " + log +
                 "\nfor a; do case $a in --file=*) echo dump > \"${a#--file=}\";; esac; done\n");
        Stub("mariadb-dump", "echo mariadb-dump >> " + log + "\necho dump\n");
    }
    void TearDown() override { std::filesystem::remove_all(root_); }

    void Stub(const std::string& name, const std::string& body) {
        const std::string path = root_ + "/bin/" + name;
        std::ofstream(path) << "#!/bin/sh\n" << body;
        std::filesystem::permissions(path, std::filesystem::perms::owner_all);
    }
    // Runs the script; returns its exit status.
    int Run(const DataJobSpec& spec) {
        const std::string script_file = root_ + "/script.sh";
        std::ofstream(script_file) << DataJobScript(spec, paths_);
        // The database container's environment the Job copies (credentials by reference there).
        const std::string env =
            "STOREFLEET_DB_HOST=db MEDUSA_DB_USER=u MEDUSA_DB_PASSWORD=p MEDUSA_DB_NAME=n "
            "MARIADB_USER=u MARIADB_PASSWORD=p MARIADB_DATABASE=n ";
        const int rc = std::system((env + "PATH='" + root_ + "/bin:/usr/bin:/bin' sh " +
                                    script_file + " > " + root_ + "/run.log 2>&1")
                                       .c_str());
        if (rc != 0) ADD_FAILURE() << "the script failed: " << Read(root_ + "/run.log");
        return rc;
    }
    std::string Read(const std::string& path) {
        std::ifstream in(path);
        std::string text;
        for (std::string line; std::getline(in, line);) text += line + "\n";
        return text;
    }
    int Calls(const std::string& tool) {
        std::istringstream lines(Read(root_ + "/calls.log"));
        int n = 0;
        for (std::string line; std::getline(lines, line);) n += line == tool;
        return n;
    }

    std::string root_;
    DataJobPaths paths_;
};

TEST_F(DataJobScriptRun, ABackupOrARestoreRunTwiceDoesItsWorkOnce) {
    for (const auto engine : {v1::ENGINE_MEDUSA, v1::ENGINE_WOOCOMMERCE}) {
        SCOPED_TRACE(engine == v1::ENGINE_MEDUSA ? "medusa" : "woocommerce");
        const std::string dumper = engine == v1::ENGINE_MEDUSA ? "pg_dump" : "mariadb-dump";
        const std::string loader = engine == v1::ENGINE_MEDUSA ? "psql" : "mariadb";
        std::filesystem::remove(root_ + "/calls.log");
        for (const auto& file : std::filesystem::directory_iterator(paths_.backups))
            std::filesystem::remove(file.path());

        auto backup = *DataJobSpecFromEvent(Backup(engine));
        ASSERT_EQ(Run(backup), 0);
        EXPECT_EQ(Calls(dumper), 1);
        ASSERT_TRUE(std::filesystem::exists(paths_.backups + "/" + kBackup + ".dump"));
        const std::string size = Read(paths_.termination_log);
        EXPECT_FALSE(size.empty());
        ASSERT_EQ(Run(backup), 0) << "the backup replayed";
        EXPECT_EQ(Calls(dumper), 1) << "a replayed backup dumped again";
        EXPECT_EQ(Read(paths_.termination_log), size) << "a replay reports what the first run did";

        auto restore = *DataJobSpecFromEvent(Restore(engine));
        ASSERT_EQ(Run(restore), 0);
        const int loads = Calls(loader);
        EXPECT_GE(loads, 1);
        EXPECT_EQ(Read(paths_.termination_log), "restored\n");
        ASSERT_EQ(Run(restore), 0) << "the restore replayed";
        EXPECT_EQ(Calls(loader), loads) << "a replayed restore loaded the dump again";
        EXPECT_EQ(Read(paths_.termination_log), "restored\n");

        // Another restore of the same backup (a new request, a new id) does run.
        auto again = restore;
        again.operation_id = "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a";
        ASSERT_EQ(Run(again), 0);
        EXPECT_GT(Calls(loader), loads);
    }
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
