// Deletion as a lifecycle, on the real Postgres and Kafka of the local stack: the intake
// ledger keeps a store's name and unit of quota until a provisioner reports it deleted on
// store-status; LifecycleConsumer applies that once however often it is replayed, and a
// failed deletion can be requested again (a new command in the outbox).
#include <gtest/gtest.h>

#include <chrono>

#include "intake_store.hpp"
#include "lifecycle_consumer.hpp"
#include "storefleet/common/ids.hpp"
#include "storefleet/events/envelope.hpp"
#include "storefleet/events/status.hpp"
#include "storefleet/kafka/publisher.hpp"
#include "storefleet/test_support/env.hpp"
#include "storefleet/test_support/wait.hpp"

namespace storefleet::intake {
namespace {

using namespace std::chrono_literals;

using test_support::Env;
using test_support::WaitUntil;

// How long the lifecycle consumer may take to apply an event (its group join included).
constexpr auto kApplied = 60s;

class IntakeLifecycleTest : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_FALSE(Env("STOREFLEET_PG_URL").empty()) << "run through tests/with-stack";
        store_.Migrate();
        tenant_id_ = "life-" + RandomHex(4);
        store_.SeedTenant(tenant_id_, token_, 2);
    }
    void TearDown() override {
        // These commands are not meant to be built: keep them out of a relay's way.
        pool_.WithTransaction([&](pqxx::work& txn) {
            txn.exec_params(
                "delete from intake.outbox where key in "
                "(select store_id::text from intake.stores where tenant_id = $1)",
                tenant_id_);
        });
    }
    // An admin's quota change (the admin API's PATCH writes the same column).
    void SetQuota(int quota) {
        pool_.WithTransaction([&](pqxx::work& txn) {
            txn.exec_params("update intake.tenants set store_quota = $2 where id = $1", tenant_id_,
                            quota);
        });
    }
    int Scalar(const std::string& sql, const std::string& arg) {
        return pool_.WithTransaction(
            [&](pqxx::work& txn) { return txn.exec_params(sql, arg)[0][0].as<int>(); });
    }
    int LiveStores() {
        return Scalar("select live_stores from intake.tenants where id = $1", tenant_id_);
    }
    std::string State(const std::string& store_id) {
        return pool_.WithTransaction([&](pqxx::work& txn) {
            return txn
                .exec_params("select state from intake.stores where store_id = $1::uuid",
                             store_id)[0][0]
                .as<std::string>();
        });
    }
    int OutboxRows(const std::string& store_id) {
        return Scalar("select count(*) from intake.outbox where key = $1", store_id);
    }
    std::string Create(const std::string& name) {
        auto created =
            store_.CreateStore(Tenant{tenant_id_}, {name, "woocommerce", "small", ""}, "", "c");
        EXPECT_TRUE(created.ok()) << (created.ok() ? "" : created.error().message);
        return created.ok() ? created->body["id"].get<std::string>() : "";
    }
    // What a provisioner sends on store-status; returns the encoded event (to replay it).
    std::string Report(const std::string& store_id, v1::StoreStatus status, const std::string& step,
                       const std::string& replay = "") {
        std::string payload = replay;
        if (payload.empty()) {
            auto envelope = events::NewEnvelope(tenant_id_, store_id, "c");
            envelope.mutable_store_status_changed()->set_status(status);
            envelope.mutable_store_status_changed()->set_step(step);
            events::SetTypeFromPayload(envelope);
            payload = events::Encode(envelope);
        }
        EXPECT_TRUE(
            publisher_.PublishAndWait({{events::kStatusTopic, store_id, payload, {}}}, 10s).ok());
        return payload;
    }

    pg::Pool pool_{Env("STOREFLEET_PG_URL"), 2};
    IntakeStore store_{pool_, "stores.test"};
    kafka::KafkaPublisher publisher_{Env("STOREFLEET_KAFKA_BROKERS"), "lifecycle-test"};
    std::string token_ = RandomHex(16);
    std::string tenant_id_;
};

TEST_F(IntakeLifecycleTest,
       QuotaAndNameAreFreedOnceWhenTheStoreIsDeletedAndAFailedDeletionCanBeRetried) {
    const Tenant tenant{tenant_id_};
    const std::string a = Create("alpha");
    const std::string b = Create("beta");
    ASSERT_EQ(LiveStores(), 2);

    // DELETE: the store is deleting, the quota and the name stay taken.
    auto deleting = store_.RequestDeletion(tenant, a, "c");
    ASSERT_TRUE(deleting.ok());
    EXPECT_EQ(deleting->http_status, 202);
    EXPECT_EQ(deleting->body["status"], "deleting");
    auto again = store_.RequestDeletion(tenant, a, "c");
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->http_status, 202);
    EXPECT_EQ(again->body["status"], "deleting");
    EXPECT_EQ(OutboxRows(a), 2) << "the create and one deletion: a repeated DELETE sends nothing";
    EXPECT_EQ(LiveStores(), 2) << "the quota is still counted after DELETE";
    SetQuota(3);
    auto taken = store_.CreateStore(tenant, {"alpha", "woocommerce", "small", ""}, "", "c");
    ASSERT_FALSE(taken.ok());
    EXPECT_EQ(taken.error().code, "name_taken") << "the name is still taken after DELETE";
    SetQuota(2);

    // The provisioner reports it deleted; the consumer frees the quota and the name.
    metrics::Registry registry;
    LifecycleConsumer consumer(store_, Env("STOREFLEET_KAFKA_BROKERS"),
                               "intake-lifecycle-test-" + RandomHex(4), registry);
    consumer.Start();
    const std::string deleted_event = Report(a, v1::STORE_STATUS_DELETED, "deleted");
    ASSERT_TRUE(WaitUntil([&] { return State(a) == "deleted"; }, kApplied))
        << "the DELETED event was not applied";
    EXPECT_EQ(LiveStores(), 1) << "the quota is freed once the store is deleted";

    // The same event again (a replay) frees nothing more. The FAILED deletion of beta
    // after it tells when the consumer got past the replay.
    ASSERT_TRUE(store_.RequestDeletion(tenant, b, "c").ok());
    const double applied_before = consumer.Applied();
    Report(a, v1::STORE_STATUS_DELETED, "deleted", deleted_event);
    Report(b, v1::STORE_STATUS_FAILED, "deletion");
    ASSERT_TRUE(WaitUntil(
        [&] { return consumer.Applied() >= applied_before + 2 && State(b) == "deletion_failed"; },
        kApplied));
    EXPECT_EQ(LiveStores(), 1) << "a replayed DELETED event freed the quota twice";

    // A deletion that failed can be requested again: a new command, back to deleting; the
    // store is still counted.
    EXPECT_EQ(OutboxRows(b), 2);
    auto retried = store_.RequestDeletion(tenant, b, "c");
    ASSERT_TRUE(retried.ok());
    EXPECT_EQ(retried->http_status, 202);
    EXPECT_EQ(State(b), "deleting");
    EXPECT_EQ(OutboxRows(b), 3) << "the deletion command is sent again";
    ASSERT_TRUE(store_.RequestDeletion(tenant, b, "c").ok());
    EXPECT_EQ(OutboxRows(b), 3) << "and only once while it is in progress";
    EXPECT_EQ(LiveStores(), 1);

    // The name is free again, and the quota has room: alpha can be created anew.
    EXPECT_FALSE(Create("alpha").empty());
    EXPECT_EQ(LiveStores(), 2);
    Report(b, v1::STORE_STATUS_DELETED, "deleted");
    ASSERT_TRUE(WaitUntil([&] { return State(b) == "deleted"; }, kApplied));
    EXPECT_EQ(LiveStores(), 1);
    auto gone = store_.RequestDeletion(tenant, b, "c");
    ASSERT_FALSE(gone.ok());
    EXPECT_EQ(gone.error().code, "not_found") << "a deleted store answers 404";
    consumer.Stop();
}

}  // namespace
}  // namespace storefleet::intake
