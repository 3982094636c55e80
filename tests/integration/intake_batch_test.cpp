// Creates committed together (CreateBatcher + intake.create_stores) against the real
// Postgres of the local stack: each create of a batch gets its own outcome, a conflicting
// or over-quota one fails alone, and every accepted store has its store row and exactly one
// outbox row.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "intake_store.hpp"
#include "storefleet/common/ids.hpp"

namespace storefleet::intake {
namespace {

std::string PgUrl() {
    const char* url = std::getenv("STOREFLEET_PG_URL");  // NOLINT(concurrency-mt-unsafe)
    return url != nullptr ? url : "";
}

class IntakeBatchTest : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_FALSE(PgUrl().empty())
            << "STOREFLEET_PG_URL is not set: run through tests/with-stack";
        store_.Migrate();
        tenant_id_ = "batch-" + RandomHex(4);
        store_.SeedTenant(tenant_id_, RandomHex(16), 100);
        store_.SetBatchObserver([this](std::size_t items, double) {
            std::lock_guard lock(mutex_);
            batch_sizes_.push_back(items);
        });
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
    void WaitForWaiting(std::size_t wanted) {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        while (store_.WaitingCreates() < wanted) {
            ASSERT_LT(std::chrono::steady_clock::now(), deadline)
                << "only " << store_.WaitingCreates() << " of " << wanted << " creates submitted";
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
    }
    // Creates `names` at once, each from its own thread (as HTTP handlers do), while the
    // tenant row is held by another transaction: the first create's batch waits on that
    // lock, and all the others queue behind it, so they are written as one more batch.
    std::map<std::string, std::vector<std::string>> CreateTogether(
        const std::vector<std::string>& names) {
        std::map<std::string, std::vector<std::string>>
            by_outcome;  // "accepted" or error code -> names
        std::mutex results_mutex;
        pqxx::connection holder(PgUrl());
        pqxx::work lock(holder);
        lock.exec_params("select 1 from intake.tenants where id = $1 for update", tenant_id_);
        std::vector<std::thread> threads;
        for (const auto& name : names) {
            threads.emplace_back([&, name] {
                auto result = store_.CreateStore(
                    Tenant{tenant_id_}, {name, "woocommerce", "small", ""}, "", "corr-" + name);
                std::lock_guard guard(results_mutex);
                by_outcome[result.ok() ? "accepted" : result.error().code].push_back(name);
            });
        }
        WaitForWaiting(names.size());
        lock.abort();
        for (auto& thread : threads) thread.join();
        return by_outcome;
    }

    pg::Pool pool_{PgUrl(), 4};
    IntakeStore store_{pool_, "stores.test"};
    std::string tenant_id_;
    std::mutex mutex_;
    std::vector<std::size_t> batch_sizes_;
};

TEST_F(IntakeBatchTest, OneConflictingCreateOfABatchFailsAloneAndTheOthersAreCommitted) {
    std::vector<std::string> names;
    for (int i = 0; i < 12; ++i) names.push_back("shop-" + std::to_string(i));
    names.emplace_back("shop-3");  // the same name twice in one batch: one of the two is refused
    auto outcomes = CreateTogether(names);

    ASSERT_EQ(outcomes["accepted"].size(), 12U);
    ASSERT_EQ(outcomes["name_taken"].size(), 1U);
    EXPECT_EQ(outcomes["name_taken"][0], "shop-3");
    EXPECT_EQ(outcomes.size(), 2U) << "no other outcome";
    {
        std::lock_guard lock(mutex_);
        std::size_t total = 0;
        for (auto size : batch_sizes_) total += size;
        EXPECT_EQ(total, names.size());
        EXPECT_LE(batch_sizes_.size(), 2U)
            << "the creates queued behind the first batch were written as one";
    }
    EXPECT_EQ(Scalar("select count(*) from intake.stores where tenant_id = $1"), 12);
    EXPECT_EQ(Scalar("select count(distinct name) from intake.stores where tenant_id = $1"), 12);
    EXPECT_EQ(Scalar("select live_stores from intake.tenants where id = $1"), 12)
        << "the refused create holds no unit of quota";
    EXPECT_EQ(
        Scalar(
            "select count(*) from intake.outbox o join intake.stores s on o.key = s.store_id::text "
            "where s.tenant_id = $1"),
        12)
        << "exactly one outbox row per accepted store";
    EXPECT_EQ(Scalar("select count(*) from intake.stores s where s.tenant_id = $1 and not exists "
                     "(select 1 from intake.outbox o where o.key = s.store_id::text)"),
              0);
}

TEST_F(IntakeBatchTest, ABatchLargerThanTheQuotaLeftAcceptsOnlyWhatFits) {
    SetQuota(5);
    ASSERT_TRUE(
        store_.CreateStore(Tenant{tenant_id_}, {"before", "woocommerce", "small", ""}, "", "c0")
            .ok());
    // A taken name in the batch does not use up a unit of the quota.
    std::vector<std::string> names = {"before"};
    for (int i = 0; i < 9; ++i) names.push_back("more-" + std::to_string(i));
    auto outcomes = CreateTogether(names);

    EXPECT_EQ(outcomes["accepted"].size(), 4U) << "4 units were left of 5";
    EXPECT_EQ(outcomes["name_taken"].size(), 1U);
    EXPECT_EQ(outcomes["quota_exceeded"].size(), 5U);
    EXPECT_EQ(Scalar("select live_stores from intake.tenants where id = $1"), 5);
    EXPECT_EQ(Scalar("select count(*) from intake.stores where tenant_id = $1"), 5);
    EXPECT_EQ(
        Scalar(
            "select count(*) from intake.outbox o join intake.stores s on o.key = s.store_id::text "
            "where s.tenant_id = $1"),
        5);
}

TEST_F(IntakeBatchTest, ACreateOfAnUnknownTenantIsRefusedWithoutHarmingItsBatch) {
    std::map<std::string, std::string> outcome;
    std::mutex outcome_mutex;
    pqxx::connection holder(PgUrl());
    pqxx::work lock(holder);
    lock.exec_params("select 1 from intake.tenants where id = $1 for update", tenant_id_);
    std::vector<std::thread> threads;
    for (const std::string& tenant :
         {tenant_id_, std::string("no-such-tenant-") + RandomHex(4), tenant_id_}) {
        threads.emplace_back([&, tenant] {
            const std::string name = "t-" + RandomHex(3);
            auto result =
                store_.CreateStore(Tenant{tenant}, {name, "medusa", "small", ""}, "", "c");
            std::lock_guard guard(outcome_mutex);
            outcome[tenant + "/" + name] = result.ok() ? "accepted" : result.error().code;
        });
    }
    WaitForWaiting(3);
    lock.abort();
    for (auto& thread : threads) thread.join();
    int accepted = 0;
    int unauthorized = 0;
    for (const auto& [key, code] : outcome) {
        accepted += code == "accepted" ? 1 : 0;
        unauthorized += code == "unauthorized" ? 1 : 0;
    }
    EXPECT_EQ(accepted, 2);
    EXPECT_EQ(unauthorized, 1) << "a tenant that is gone: refused as before";
    EXPECT_EQ(Scalar("select count(*) from intake.stores where tenant_id = $1"), 2);
    // No foreign key holds this (migration 7): the quota reservation finds no tenant row.
    EXPECT_EQ(pool_.WithTransaction([](pqxx::work& txn) {
        return txn
            .exec(
                "select count(*) from intake.stores s where not exists "
                "(select 1 from intake.tenants t where t.id = s.tenant_id)")[0][0]
            .as<int>();
    }),
              0)
        << "a store without a tenant";
}

// A batch whose commit was lost on the way back is written again by the retry: every
// create is 'created' again, the quota and the outbox count each store once, and a name
// given twice in the batch is taken by the earlier create both times.
TEST_F(IntakeBatchTest, ABatchWrittenTwiceCountsEachStoreOnce) {
    const std::string ids =
        "{" + NewUuid() + "," + NewUuid() + "," + NewUuid() + "," + NewUuid() + "}";
    const std::string tenants =
        "{" + tenant_id_ + "," + tenant_id_ + "," + tenant_id_ + "," + tenant_id_ + "}";
    auto write = [&] {
        return pool_.WithTransaction([&](pqxx::work& txn) {
            return txn
                .exec_params(
                    "select array_to_string(intake.create_stores($1::uuid[], $2::text[], "
                    "'{one,two,one,three}', '{woocommerce,woocommerce,medusa,medusa}', "
                    "'{small,small,small,small}', "
                    "'{h1,h2,h3,h4}', '{c1,c2,c3,c4}', 'stores.test', '{0a01,0a02,0a03,0a04}'), "
                    "',')",
                    ids, tenants)[0][0]
                .as<std::string>();
        });
    };
    EXPECT_EQ(write(), "created,created,name_taken,created");
    EXPECT_EQ(write(), "created,created,name_taken,created");
    EXPECT_EQ(Scalar("select live_stores from intake.tenants where id = $1"), 3);
    EXPECT_EQ(Scalar("select count(*) from intake.stores where tenant_id = $1"), 3);
    EXPECT_EQ(
        Scalar(
            "select count(*) from intake.outbox o join intake.stores s on o.key = s.store_id::text "
            "where s.tenant_id = $1"),
        3);
    EXPECT_EQ(Scalar("select count(*) from intake.stores where tenant_id = $1 and name = 'one' and "
                     "engine = 'woocommerce'"),
              1)
        << "the earlier of two creates of one name is the one written";
    EXPECT_EQ(pool_.WithTransaction([&](pqxx::work& txn) {
        return txn
            .exec_params(
                "select string_agg(encode(o.payload, 'hex'), ',' order by o.id) from intake.outbox "
                "o "
                "join intake.stores s on o.key = s.store_id::text where s.tenant_id = $1",
                tenant_id_)[0][0]
            .as<std::string>();
    }),
              "0a01,0a02,0a04")
        << "the outbox keeps the batch's order";
}

}  // namespace
}  // namespace storefleet::intake
