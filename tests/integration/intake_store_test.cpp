// IntakeStore against the real Postgres of the local stack: quota, unique names,
// idempotency and the outbox, each checked in the database itself.
#include "intake_store.hpp"

#include <gtest/gtest.h>

#include <cstdlib>

#include "admin_store.hpp"
#include "storefleet/common/ids.hpp"
#include "storefleet/events/envelope.hpp"
#include "storefleet/events/status.hpp"

namespace storefleet::intake {
namespace {

std::string PgUrl() {
    const char* url = std::getenv("STOREFLEET_PG_URL");  // NOLINT(concurrency-mt-unsafe)
    return url != nullptr ? url : "";
}

class IntakeStoreTest : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_FALSE(PgUrl().empty())
            << "STOREFLEET_PG_URL is not set: run through tests/with-stack";
        store_.Migrate();
        tenant_id_ = "it-" + RandomHex(4);
        store_.SeedTenant(tenant_id_, token_, 2);
    }
    // These commands are not meant to be built: keep them out of the relay's way.
    void TearDown() override {
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
    int Scalar(const std::string& sql) {
        return pool_.WithTransaction(
            [&](pqxx::work& txn) { return txn.exec_params(sql, tenant_id_)[0][0].as<int>(); });
    }
    Tenant tenant() { return Tenant{store_.Authenticate(Sha256Hex(token_))->tenant_id}; }
    std::string TokenIdOf(const std::string& token) {
        return pool_.WithTransaction([&](pqxx::work& txn) {
            return txn
                .exec_params("select token_id::text from intake.api_tokens where token_sha256 = $1",
                             Sha256Hex(token))[0][0]
                .as<std::string>();
        });
    }
    // Outbox rows of one of this tenant's stores.
    int OutboxRows(const std::string& store_id) {
        return pool_.WithTransaction([&](pqxx::work& txn) {
            return txn
                .exec_params(
                    "select count(*) from intake.outbox o join intake.stores s on o.key = "
                    "s.store_id::text "
                    "where s.tenant_id = $1 and s.store_id = $2::uuid",
                    tenant_id_, store_id)[0][0]
                .as<int>();
        });
    }

    pg::Pool pool_{PgUrl(), 2};
    IntakeStore store_{pool_, "stores.test"};
    std::string token_ = RandomHex(16);
    std::string tenant_id_;
};

TEST_F(IntakeStoreTest, AuthenticatesByTokenHashOnly) {
    EXPECT_EQ(tenant().id, tenant_id_);
    EXPECT_FALSE(store_.Authenticate(Sha256Hex("not-a-token")).has_value());
    EXPECT_EQ(
        Scalar("select count(*) from intake.api_tokens where tenant_id = $1 and token_sha256 = '" +
               token_ + "'"),
        0)
        << "the raw token must not be stored";
    EXPECT_EQ(
        Scalar("select count(*) from intake.api_tokens where tenant_id = $1 and token_sha256 = '" +
               Sha256Hex(token_) + "' and revoked_at is null"),
        1);
}

TEST_F(IntakeStoreTest, ANewBootstrapTokenRevokesTheOldOneAndAnAdminTokenSaysSo) {
    const std::string replacement = RandomHex(16);
    store_.SeedTenant(tenant_id_, replacement, 2);
    EXPECT_FALSE(store_.Authenticate(Sha256Hex(token_)).has_value())
        << "the old bootstrap token is revoked";
    auto principal = store_.Authenticate(Sha256Hex(replacement));
    ASSERT_TRUE(principal.has_value());
    EXPECT_EQ(principal->tenant_id, tenant_id_);
    EXPECT_FALSE(principal->admin);

    const std::string admin_tenant = tenant_id_ + "-ops";
    const std::string admin_token = RandomHex(16);
    store_.SeedTenant(admin_tenant, admin_token, 0, /*admin=*/true);
    auto admin = store_.Authenticate(Sha256Hex(admin_token));
    ASSERT_TRUE(admin.has_value());
    EXPECT_TRUE(admin->admin);
}

// What a replica's start does with the bootstrap files must never undo an admin: each of
// these failed before migration 8 (every start revived the file's token, revoked the
// rotated replacement and reset the quota).
TEST_F(IntakeStoreTest, ARevokedBootstrapTokenStaysRevokedAcrossRestarts) {
    AdminStore admin(pool_);
    const std::string token_id = TokenIdOf(token_);
    ASSERT_TRUE(admin.RevokeToken("cli:test", token_id).ok());
    EXPECT_EQ(store_.SeedTenant(tenant_id_, token_, 2), IntakeStore::SeedOutcome::kTokenRevoked)
        << "a restart with the same file";
    EXPECT_FALSE(store_.Authenticate(Sha256Hex(token_)).has_value())
        << "the revoked token came back";
}

TEST_F(IntakeStoreTest, ARotatedBootstrapTokenKeepsItsReplacementAcrossRestarts) {
    AdminStore admin(pool_);
    auto rotated = admin.RotateToken("cli:test", TokenIdOf(token_));
    ASSERT_TRUE(rotated.ok()) << rotated.error().message;
    EXPECT_EQ(store_.SeedTenant(tenant_id_, token_, 2), IntakeStore::SeedOutcome::kTokenRevoked);
    EXPECT_FALSE(store_.Authenticate(Sha256Hex(token_)).has_value())
        << "the rotated-out token came back";
    auto replacement = store_.Authenticate(Sha256Hex(rotated->token));
    ASSERT_TRUE(replacement.has_value()) << "a restart revoked the rotation's replacement";
    EXPECT_EQ(replacement->tenant_id, tenant_id_);

    // A new token in the file revokes the file's earlier token only, never an admin's.
    const std::string next_file_token = RandomHex(16);
    EXPECT_EQ(store_.SeedTenant(tenant_id_, next_file_token, 2),
              IntakeStore::SeedOutcome::kTokenAdded);
    EXPECT_TRUE(store_.Authenticate(Sha256Hex(next_file_token)).has_value());
    EXPECT_TRUE(store_.Authenticate(Sha256Hex(rotated->token)).has_value());
}

TEST_F(IntakeStoreTest, TheFilesQuotaAppliesOnlyWhenTheTenantIsFirstCreated) {
    AdminStore admin(pool_);
    ASSERT_TRUE(admin.UpdateTenant("cli:test", tenant_id_, 7, std::nullopt).ok());
    EXPECT_EQ(store_.SeedTenant(tenant_id_, token_, 2), IntakeStore::SeedOutcome::kTokenKept);
    EXPECT_EQ(Scalar("select store_quota from intake.tenants where id = $1"), 7)
        << "a restart undid the PATCH";
}

TEST_F(IntakeStoreTest, ATokenOfAnotherTenantIsRefusedAndMovesNowhere) {
    EXPECT_THROW(store_.SeedTenant(tenant_id_ + "-other", token_, 2), std::runtime_error);
    auto principal = store_.Authenticate(Sha256Hex(token_));
    ASSERT_TRUE(principal.has_value());
    EXPECT_EQ(principal->tenant_id, tenant_id_);
}

TEST_F(IntakeStoreTest, QuotaAndUniqueNamesHoldAndRefusalsChangeNothing) {
    auto first = store_.CreateStore(tenant(), {"one", "woocommerce", "small", ""}, "", "c1");
    ASSERT_TRUE(first.ok()) << first.error().message;
    EXPECT_EQ(first->body["host"], "one." + tenant_id_ + ".stores.test");

    auto taken = store_.CreateStore(tenant(), {"one", "medusa", "small", ""}, "", "c2");
    ASSERT_FALSE(taken.ok());
    EXPECT_EQ(taken.error().code, "name_taken");

    ASSERT_TRUE(store_.CreateStore(tenant(), {"two", "woocommerce", "large", ""}, "", "c3").ok());
    auto over = store_.CreateStore(tenant(), {"three", "woocommerce", "small", ""}, "", "c4");
    ASSERT_FALSE(over.ok());
    EXPECT_EQ(over.error().code, "quota_exceeded");
    EXPECT_NE(over.error().message.find("2 of its 2"), std::string::npos) << over.error().message;

    EXPECT_EQ(Scalar("select count(*) from intake.stores where tenant_id = $1"), 2);
    EXPECT_EQ(Scalar("select live_stores from intake.tenants where id = $1"), 2);
    EXPECT_EQ(
        Scalar(
            "select count(*) from intake.outbox o join intake.stores s on o.key = s.store_id::text "
            "where s.tenant_id = $1"),
        2)
        << "exactly one outbox row per accepted store";

    // Requesting a deletion frees nothing yet: the store still exists until it is deleted.
    const std::string id = first->body["id"];
    ASSERT_TRUE(store_.RequestDeletion(tenant(), id, "c5").ok());
    ASSERT_TRUE(store_.RequestDeletion(tenant(), id, "c6").ok()) << "a repeated delete is accepted";
    EXPECT_EQ(OutboxRows(id), 2) << "the create and ONE deletion: a repeated DELETE sends nothing";
    EXPECT_EQ(Scalar("select live_stores from intake.tenants where id = $1"), 2);
    SetQuota(3);  // room in the quota: only the name can refuse
    auto still_taken = store_.CreateStore(tenant(), {"one", "woocommerce", "small", ""}, "", "c7");
    ASSERT_FALSE(still_taken.ok());
    EXPECT_EQ(still_taken.error().code, "name_taken");

    // The provisioner reports it deleted: name and quota are free, once, however often
    // the event is replayed.
    ASSERT_TRUE(store_.ApplyStoreStatus(id, v1::STORE_STATUS_DELETED, "deleted").ok());
    ASSERT_TRUE(store_.ApplyStoreStatus(id, v1::STORE_STATUS_DELETED, "deleted").ok());
    EXPECT_EQ(Scalar("select live_stores from intake.tenants where id = $1"), 1);
    EXPECT_TRUE(store_.CreateStore(tenant(), {"one", "woocommerce", "small", ""}, "", "c8").ok());
    auto gone = store_.RequestDeletion(tenant(), id, "c9");
    ASSERT_FALSE(gone.ok());
    EXPECT_EQ(gone.error().code, "not_found") << "a deleted store is gone";
}

TEST_F(IntakeStoreTest, AFailedDeletionCanBeRequestedAgain) {
    auto created = store_.CreateStore(tenant(), {"stuck", "woocommerce", "small", ""}, "", "c1");
    ASSERT_TRUE(created.ok());
    const std::string id = created->body["id"];
    auto outbox_rows = [&] { return OutboxRows(id); };
    ASSERT_TRUE(store_.RequestDeletion(tenant(), id, "c2").ok());
    ASSERT_TRUE(store_.RequestDeletion(tenant(), id, "c3").ok());
    EXPECT_EQ(outbox_rows(), 2) << "create + one deletion while it is in progress";
    // A namespace stuck terminating made the provisioner give up.
    ASSERT_TRUE(store_.ApplyStoreStatus(id, v1::STORE_STATUS_FAILED, "deletion").ok());
    EXPECT_EQ(Scalar("select count(*) from intake.stores where state = 'deletion_failed' and "
                     "tenant_id = $1"),
              1);
    EXPECT_EQ(Scalar("select live_stores from intake.tenants where id = $1"), 1) << "still counted";
    ASSERT_TRUE(store_.RequestDeletion(tenant(), id, "c4").ok());
    EXPECT_EQ(outbox_rows(), 3) << "DELETE after a failed deletion sends it again";
    // A failure of provisioning (not of a deletion) changes nothing here.
    ASSERT_TRUE(store_.ApplyStoreStatus(id, v1::STORE_STATUS_FAILED, "failed").ok());
    EXPECT_EQ(
        Scalar("select count(*) from intake.stores where state = 'deleting' and tenant_id = $1"),
        1);
}

TEST_F(IntakeStoreTest, OutboxCarriesADecodableCommand) {
    auto created =
        store_.CreateStore(tenant(), {"shop", "medusa", "medium", "me@shop.test"}, "", "corr-9");
    ASSERT_TRUE(created.ok());
    auto payload = pool_.WithTransaction([&](pqxx::work& txn) {
        auto row = txn.exec_params("select topic, payload from intake.outbox where key = $1",
                                   created->body["id"].get<std::string>())[0];
        EXPECT_EQ(row[0].as<std::string>(), "store-commands");
        return pqxx::binarystring(row[1]).str();
    });
    auto envelope = events::Decode(payload);
    ASSERT_TRUE(envelope.ok());
    EXPECT_EQ(envelope->correlation_id(), "corr-9");
    EXPECT_EQ(envelope->tenant_id(), tenant_id_);
    EXPECT_EQ(envelope->store_requested().engine(), v1::ENGINE_MEDUSA);
    EXPECT_EQ(envelope->store_requested().admin_email(), "me@shop.test");
}

TEST_F(IntakeStoreTest, IdempotencyKeyReplaysTheFirstAnswer) {
    auto first = store_.CreateStore(tenant(), {"idem", "woocommerce", "small", ""}, "key-1", "c1");
    ASSERT_TRUE(first.ok());
    auto again = store_.CreateStore(tenant(), {"idem", "woocommerce", "small", ""}, "key-1", "c2");
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->body["id"], first->body["id"]);
    auto other = store_.CreateStore(tenant(), {"idem2", "woocommerce", "small", ""}, "key-1", "c3");
    ASSERT_FALSE(other.ok());
    EXPECT_EQ(other.error().code, "idempotency_key_reused");
    EXPECT_EQ(Scalar("select count(*) from intake.stores where tenant_id = $1"), 1);
    EXPECT_EQ(Scalar("select live_stores from intake.tenants where id = $1"), 1);
}

// The same key with another placement is another request: before the fix the hash left
// placement out, and a retry asking for the real node got the first answer (a store placed
// anywhere) as if it were its own.
TEST_F(IntakeStoreTest, AnIdempotencyKeyReusedWithAnotherPlacementIsRefused) {
    auto first =
        store_.CreateStore(tenant(), {"placed", "medusa", "small", "", "any"}, "key-p", "c1");
    ASSERT_TRUE(first.ok());
    auto other =
        store_.CreateStore(tenant(), {"placed", "medusa", "small", "", "real-node"}, "key-p", "c2");
    ASSERT_FALSE(other.ok());
    EXPECT_EQ(other.error().code, "idempotency_key_reused");
    auto same =
        store_.CreateStore(tenant(), {"placed", "medusa", "small", "", "any"}, "key-p", "c3");
    ASSERT_TRUE(same.ok());
    EXPECT_EQ(same->body["id"], first->body["id"]);
}

}  // namespace
}  // namespace storefleet::intake
