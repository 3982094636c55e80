// The query service's reads on the real Postgres, through what intake and the read model
// expose for them: a store as a client sees it (read.stores_seen merges the read model's row
// with intake's ledger: "requested" before the projector has the store, "deleting" once a
// deletion is accepted after the row's last change) and the token rule
// (intake.principal_of_token). Rows are written straight into both schemas, under a tenant of
// the test's own.
#include "store_reader.hpp"

#include <gtest/gtest.h>

#include <cstdlib>

#include "intake_store.hpp"
#include "read_model.hpp"
#include "storefleet/common/ids.hpp"

namespace storefleet {
namespace {

std::string PgUrl() {
    const char* url = std::getenv("STOREFLEET_PG_URL");  // NOLINT(concurrency-mt-unsafe)
    return url != nullptr ? url : "";
}

class StoreReaderTest : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_FALSE(PgUrl().empty())
            << "STOREFLEET_PG_URL is not set: run through tests/with-stack";
        intake::IntakeStore(writer_, "stores.test").Migrate();
        projector::PgReadModel(writer_, "store-reader-test", "read").Migrate();
        Exec("insert into intake.tenants (id, store_quota) values ($1, 10)", tenant_);
    }
    void TearDown() override {
        Exec("delete from read.stores where tenant_id = $1", tenant_);
        Exec("delete from intake.stores where tenant_id = $1", tenant_);
        Exec("delete from intake.api_tokens where tenant_id = $1", tenant_);
        Exec("delete from intake.tenants where id = $1", tenant_);
    }

    template <typename... Args>
    void Exec(const std::string& sql, Args&&... args) {
        writer_.WithTransaction(
            [&](pqxx::work& txn) { txn.exec_params(sql, std::forward<Args>(args)...); });
    }
    // A ledger row: state, and when it was requested and its deletion requested (seconds ago).
    std::string Ledger(const std::string& state, int created_ago, int deletion_ago = -1) {
        std::string id = NewUuid();
        Exec(
            "insert into intake.stores (store_id, tenant_id, name, engine, plan, host, state, "
            "correlation_id, "
            "created_at, deletion_requested_at) values ($1::uuid, $2, $3, 'woocommerce', 'small', "
            "'h.example', $4, "
            "'c', now() - make_interval(secs => $5), "
            "case when $6 < 0 then null else now() - make_interval(secs => $6) end)",
            id, tenant_, "s-" + id.substr(0, 8), state, created_ago, deletion_ago);
        return id;
    }
    // The read model's row of `id`, last changed `updated_ago` seconds ago.
    void ReadRow(const std::string& id, const std::string& status, int updated_ago) {
        Exec(
            "insert into read.stores (store_id, tenant_id, name, engine, plan, host, status, "
            "created_at, updated_at) "
            "values ($1::uuid, $2, $3, 'woocommerce', 'small', 'h.example', $4, now() - interval "
            "'1 hour', "
            "now() - make_interval(secs => $5))",
            id, tenant_, "s-" + id.substr(0, 8), status, updated_ago);
    }
    std::string Status(const std::string& id) {
        auto store = reader_.GetStore(tenant_, id);
        return store ? store->status : "(none)";
    }

    pg::Pool writer_{PgUrl(), 2};
    pg::Pool reader_pool_{PgUrl(), 2};
    query::PgStoreReader reader_{reader_pool_};
    std::string tenant_ = "reader-" + RandomHex(4);
};

TEST_F(StoreReaderTest, TheLedgerAnswersUntilTheProjectorHasTheStore) {
    const std::string requested = Ledger("active", 5);
    const std::string deleting = Ledger("deleting", 5, 1);
    const std::string gone = Ledger("deleted", 5, 1);
    EXPECT_EQ(Status(requested), "requested");
    EXPECT_EQ(Status(deleting), "deleting");
    EXPECT_EQ(Status(gone), "(none)");
    auto store = reader_.GetStore(tenant_, requested);
    ASSERT_TRUE(store);
    EXPECT_EQ(store->name, "s-" + requested.substr(0, 8));
    EXPECT_TRUE(store->ready_json.empty()) << "no read model row, no ready JSON";
    // The timeline: a store the ledger has is an empty timeline, a deleted one a 404.
    ASSERT_TRUE(reader_.GetTimeline(tenant_, requested));
    EXPECT_TRUE(reader_.GetTimeline(tenant_, requested)->empty());
    EXPECT_FALSE(reader_.GetTimeline(tenant_, gone));
    EXPECT_FALSE(reader_.GetStore("another-tenant", requested))
        << "another tenant's store is a 404";
}

TEST_F(StoreReaderTest, TheReadModelAnswersOnceItHasTheStoreUnlessADeletionIsNewer) {
    const std::string ready = Ledger("active", 60);
    ReadRow(ready, "ready", 10);
    const std::string deleting = Ledger("deleting", 60, 5);
    ReadRow(deleting, "ready", 10);  // deletion accepted after the row's last change
    const std::string stale = Ledger("deleting", 60, 20);
    ReadRow(stale, "ready", 10);  // the row changed after the deletion was accepted
    const std::string deleted = Ledger("deleted", 60, 20);
    ReadRow(deleted, "deleted", 10);
    EXPECT_EQ(Status(ready), "ready");
    EXPECT_EQ(Status(deleting), "deleting");
    EXPECT_EQ(Status(stale), "ready");
    EXPECT_EQ(Status(deleted), "deleted") << "the read model keeps a deleted store";

    auto unchanged = reader_.GetStore(tenant_, ready);
    ASSERT_TRUE(unchanged);
    EXPECT_NE(unchanged->ready_json.find("\"status\":\"ready\""), std::string::npos)
        << unchanged->ready_json;
    auto merged = reader_.GetStore(tenant_, deleting);
    ASSERT_TRUE(merged);
    EXPECT_TRUE(merged->ready_json.empty()) << "the ledger changed the row: no ready JSON";
    EXPECT_GT(merged->updated_at_us, unchanged->updated_at_us) << "updated at the deletion's time";

    // A batch answers each pair as one read does, in order, a missing store included.
    const std::vector<query::StoreKey> keys = {{tenant_, deleting},
                                               {tenant_, NewUuid()},
                                               {tenant_, ready},
                                               {"another-tenant", ready},
                                               {tenant_, stale}};
    auto batch = reader_.GetStores(keys);
    ASSERT_EQ(batch.size(), keys.size());
    for (std::size_t i = 0; i < keys.size(); ++i) {
        auto one = reader_.GetStore(keys[i].tenant_id, keys[i].store_id);
        ASSERT_EQ(batch[i].has_value(), one.has_value()) << i;
        if (!one) continue;
        EXPECT_EQ(batch[i]->status, one->status) << i;
        EXPECT_EQ(batch[i]->updated_at_us, one->updated_at_us) << i;
        EXPECT_EQ(batch[i]->ready_json, one->ready_json) << i;
    }
}

TEST_F(StoreReaderTest, ATokenAuthenticatesUntilRevokedOrExpired) {
    auto token = [&](const std::string& role, const std::string& tail) {
        std::string hash = Sha256Hex(RandomHex(16));
        Exec(
            "insert into intake.api_tokens (token_id, tenant_id, name, role, token_sha256, "
            "expires_at, revoked_at) "
            "values (gen_random_uuid(), $1, 'test', $2, $3, " +
                tail + ")",
            tenant_, role, hash);
        return hash;
    };
    const std::string live = token("tenant", "null, null");
    const std::string admin = token("admin", "now() + interval '1 hour', null");
    const std::string revoked = token("tenant", "null, now()");
    const std::string expired = token("tenant", "now() - interval '1 second', null");
    auto principal = reader_.PrincipalOfToken(live);
    ASSERT_TRUE(principal);
    EXPECT_EQ(principal->tenant_id, tenant_);
    EXPECT_FALSE(principal->admin);
    ASSERT_TRUE(reader_.PrincipalOfToken(admin));
    EXPECT_TRUE(reader_.PrincipalOfToken(admin)->admin);
    EXPECT_FALSE(reader_.PrincipalOfToken(revoked));
    EXPECT_FALSE(reader_.PrincipalOfToken(expired));
    EXPECT_FALSE(reader_.PrincipalOfToken(Sha256Hex("unknown")));
    // Intake's own authentication reads the same rule.
    intake::IntakeStore store(writer_, "stores.test");
    auto intake_principal = store.Authenticate(live);
    ASSERT_TRUE(intake_principal);
    EXPECT_EQ(intake_principal->tenant_id, tenant_);
    EXPECT_FALSE(intake_principal->token_id.empty());
    EXPECT_FALSE(store.Authenticate(revoked));
    EXPECT_FALSE(store.Authenticate(expired));
}

TEST_F(StoreReaderTest, ReadyOnceBothSchemasExposeWhatItReads) { EXPECT_TRUE(reader_.Ready()); }

}  // namespace
}  // namespace storefleet
