// What the query service reads of a store's life (decision 11) on the real Postgres of the
// local stack, through what the read model exposes: the generation, observed generation,
// desired state and condition of a store the ledger has and the read model not yet
// (read.stores_seen: generation 1, converging), of a row the projector keeps (its view_json
// is byte for byte ToJson of its columns), of a deletion the ledger accepted first, and the
// change log the stream sends; and a change intake accepted (its ledger's generation and
// desired state) before the read model has it. Rows are written straight into both schemas, under a
// tenant of the test's own.
#include <gtest/gtest.h>

#include <cstdlib>

#include "change_feed.hpp"
#include "intake_store.hpp"
#include "read_model.hpp"
#include "store_reader.hpp"
#include "storefleet/common/ids.hpp"

namespace storefleet {
namespace {

std::string PgUrl() {
    const char* url = std::getenv("STOREFLEET_PG_URL");  // NOLINT(concurrency-mt-unsafe)
    return url != nullptr ? url : "";
}

std::string Dump(const query::StoreView& store) {
    return query::ToJson(store).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

class StoreLifecycleReaderTest : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_FALSE(PgUrl().empty())
            << "STOREFLEET_PG_URL is not set: run through tests/with-stack";
        intake::IntakeStore(writer_, "stores.test").Migrate();
        projector::PgReadModel(writer_, "lifecycle-reader-test", "read").Migrate();
        Exec("insert into intake.tenants (id, store_quota) values ($1, 10)", tenant_);
    }
    void TearDown() override {
        Exec("delete from read.store_changes where tenant_id = $1", tenant_);
        Exec("delete from read.stores where tenant_id = $1", tenant_);
        Exec("delete from intake.stores where tenant_id = $1", tenant_);
        Exec("delete from intake.tenants where id = $1", tenant_);
    }

    template <typename... Args>
    void Exec(const std::string& sql, Args&&... args) {
        writer_.WithTransaction(
            [&](pqxx::work& txn) { txn.exec_params(sql, std::forward<Args>(args)...); });
    }
    std::string Ledger(const std::string& state, int deletion_ago = -1) {
        std::string id = NewUuid();
        Exec(
            "insert into intake.stores (store_id, tenant_id, name, engine, plan, host, state, "
            "correlation_id, created_at, deletion_requested_at) values ($1::uuid, $2, $3, "
            "'woocommerce', 'small', 'h.example', $4, 'c', now() - interval '1 minute', "
            "case when $5 < 0 then null else now() - make_interval(secs => $5) end)",
            id, tenant_, "s-" + id.substr(0, 8), state, deletion_ago);
        return id;
    }

    pg::Pool writer_{PgUrl(), 2};
    pg::Pool reader_pool_{PgUrl(), 2};
    query::PgStoreReader reader_{reader_pool_};
    std::string tenant_ = "life-" + RandomHex(4);
};

TEST_F(StoreLifecycleReaderTest, AStoreTheReadModelHasNotSeenIsGenerationOneConverging) {
    const std::string id = Ledger("active");
    auto store = reader_.GetStore(tenant_, id);
    ASSERT_TRUE(store);
    EXPECT_TRUE(store->ready_json.empty());
    const nlohmann::json json = query::ToJson(*store);
    EXPECT_EQ(json["generation"], 1);
    EXPECT_EQ(json["observed_generation"], 0);
    EXPECT_EQ(json["condition"]["state"], "converging") << json.dump();
    EXPECT_EQ(json["condition"]["message"], "converging to generation 1");
    EXPECT_EQ(json["desired"], nlohmann::json({{"plan", "small"},
                                               {"suspended", false},
                                               {"admin_email", nullptr},
                                               {"chart_version", nullptr}}));
    EXPECT_TRUE(json["chart_version"].is_null());
    EXPECT_EQ(json["desired_etag"], "\"g1\"");
}

TEST_F(StoreLifecycleReaderTest, ARowsReadyJsonIsTheEncodingOfItsColumnsAndTheStreamHasThem) {
    const std::string id = Ledger("active");
    Exec(
        "insert into read.stores (store_id, tenant_id, name, engine, plan, host, status, "
        "created_at, updated_at, generation, observed_generation, suspended, admin_email, drift, "
        "desired_chart_version, observed_chart_version) "
        "values ($1::uuid, $2, 'drifty', 'medusa', 'large', 'h.example', 'ready', "
        "now() - interval '1 hour', now() - interval '10 seconds', 3, 3, true, "
        "E'o\"wner@example.com', E'web: \"replicas\" 1\\n want 0', '0.2.0', '0.1.1')",
        id, tenant_);
    auto store = reader_.GetStore(tenant_, id);
    ASSERT_TRUE(store);
    ASSERT_FALSE(store->ready_json.empty());
    // The same row without its ready JSON: what the API encodes from the columns.
    query::StoreView columns = *store;
    columns.ready_json.clear();
    EXPECT_EQ(store->ready_json, Dump(columns));
    EXPECT_EQ(columns.generation, 3);
    EXPECT_EQ(columns.observed_generation, 3);
    EXPECT_TRUE(columns.suspended);
    EXPECT_EQ(columns.desired_chart_version, "0.2.0");
    EXPECT_EQ(columns.observed_chart_version, "0.1.1");
    EXPECT_EQ(columns.condition_state, "out_of_sync");
    EXPECT_EQ(columns.condition_message, "web: \"replicas\" 1\n want 0");

    // The list serves the same bytes, filtered by the new statuses too.
    Exec("update read.stores set drift = null, status = 'suspended' where store_id = $1::uuid", id);
    query::ListRequest request;
    request.status = "suspended";
    auto listed = reader_.ListStores(tenant_, request);
    ASSERT_EQ(listed.size(), 1U);
    const nlohmann::json json = nlohmann::json::parse(listed[0].ready_json);
    EXPECT_EQ(json["condition"]["state"], "in_sync");
    EXPECT_EQ(json["desired"]["suspended"], true);
    request.status = "degraded";
    EXPECT_TRUE(reader_.ListStores(tenant_, request).empty());

    // The change log the stream reads carries the lifecycle fields of the row.
    Exec(
        "insert into read.store_changes (change_id, store_id, tenant_id, name, engine, plan, "
        "host, status, step, reason, url, admin_url, namespace, simulated, created_at, "
        "updated_at, generation, observed_generation, suspended, admin_email, condition_state, "
        "condition_message, desired_chart_version, observed_chart_version) "
        "select nextval('read.store_changes_id'), store_id, tenant_id, name, "
        "engine, plan, host, status, step, reason, url, admin_url, namespace, simulated, "
        "created_at, updated_at, generation, observed_generation, suspended, admin_email, "
        "condition_state, condition_message, desired_chart_version, observed_chart_version "
        "from read.stores where store_id = $1::uuid",
        id);
    query::PgChangeFeed feed(PgUrl(), reader_pool_);
    auto changes = feed.After(feed.Head() - 1, tenant_, 10);
    ASSERT_EQ(changes.size(), 1U);
    EXPECT_EQ(Dump(changes[0].store), nlohmann::json::parse(listed[0].ready_json).dump())
        << "the stream sends what the list sends";
    EXPECT_EQ(changes[0].store.observed_chart_version, "0.1.1");
    EXPECT_EQ(changes[0].store.desired_chart_version, "0.2.0");
}

TEST_F(StoreLifecycleReaderTest, AConditionMessageIsEncodedAsTheApiEncodesIt) {
    // The reason of a failure becomes the condition's message: every escape JSON needs.
    const std::string id = Ledger("active");
    Exec(
        "insert into read.stores (store_id, tenant_id, name, engine, host, plan, status, reason, "
        "created_at, updated_at, admin_email) values ($1::uuid, $2, 'tricky', 'woocommerce', "
        "'h.example', 'small', 'failed', "
        "E'quote \" back \\\\ nl \\n tab \\t bell \\x07 us \\x1f del \\x7f é ✓ 😀 "
        "</script>', now() - interval '1 hour', now(), E'a\\\\b@example.com')",
        id, tenant_);
    auto store = reader_.GetStore(tenant_, id);
    ASSERT_TRUE(store);
    ASSERT_FALSE(store->ready_json.empty());
    query::StoreView columns = *store;
    columns.ready_json.clear();
    EXPECT_EQ(columns.condition_state, "degraded");
    EXPECT_EQ(columns.condition_message, columns.reason);
    EXPECT_NE(columns.reason.find('\x07'), std::string::npos) << "the escapes reached the row";
    EXPECT_EQ(store->ready_json, Dump(columns));
}

TEST_F(StoreLifecycleReaderTest, AChangeTheLedgerAcceptedShowsBeforeTheReadModelHasIt) {
    // Read-your-writes after a PATCH: the ledger is at generation 2 (medium, suspended), the
    // read model's row still at 1 and in sync.
    const std::string id = Ledger("active");
    Exec(
        "insert into read.stores (store_id, tenant_id, name, engine, host, plan, status, "
        "created_at, updated_at, generation, observed_generation, desired_chart_version, "
        "observed_chart_version) values ($1::uuid, $2, 'n', "
        "'woocommerce', 'h.example', 'small', 'ready', now() - interval '1 hour', "
        "now() - interval '10 seconds', 1, 1, '0.1.1', '0.1.1')",
        id, tenant_);
    auto store = reader_.GetStore(tenant_, id);
    ASSERT_TRUE(store);
    EXPECT_EQ(store->condition_state, "in_sync");
    EXPECT_FALSE(store->ready_json.empty());
    EXPECT_EQ(store->desired_chart_version, "0.1.1");

    Exec(
        "update intake.stores set generation = 2, plan = 'medium', suspended = true, "
        "admin_email = 'new@example.com', chart_version = '0.2.0' where store_id = $1::uuid",
        id);
    store = reader_.GetStore(tenant_, id);
    ASSERT_TRUE(store);
    EXPECT_TRUE(store->ready_json.empty()) << "the ledger changed what the row says";
    EXPECT_EQ(store->desired_chart_version, "0.2.0") << "the ledger's desired state";
    EXPECT_EQ(store->observed_chart_version, "0.1.1") << "the row's: what it runs meanwhile";
    EXPECT_EQ(store->generation, 2);
    EXPECT_EQ(store->observed_generation, 1);
    EXPECT_EQ(store->plan, "medium");
    EXPECT_TRUE(store->suspended);
    EXPECT_EQ(store->admin_email, "new@example.com");
    EXPECT_EQ(store->status, "ready") << "it serves generation 1 meanwhile";
    EXPECT_EQ(store->condition_state, "converging");
    EXPECT_EQ(store->condition_message, "converging to generation 2");
    EXPECT_EQ(query::ToJson(*store)["desired_etag"], "\"g2\"");

    // Once the projector has the change, the row answers again, ready JSON included.
    Exec(
        "update read.stores set generation = 2, plan = 'medium', suspended = true, "
        "admin_email = 'new@example.com', desired_chart_version = '0.2.0' "
        "where store_id = $1::uuid",
        id);
    store = reader_.GetStore(tenant_, id);
    ASSERT_TRUE(store);
    EXPECT_FALSE(store->ready_json.empty());
    EXPECT_EQ(store->generation, 2);
    const nlohmann::json json = nlohmann::json::parse(store->ready_json);
    EXPECT_EQ(json["desired"]["chart_version"], "0.2.0");
    EXPECT_EQ(json["chart_version"], "0.1.1");
}

TEST_F(StoreLifecycleReaderTest, ADeletionTheLedgerAcceptedFirstIsConverging) {
    const std::string id = Ledger("deleting", 1);
    Exec(
        "insert into read.stores (store_id, tenant_id, name, plan, status, created_at, "
        "updated_at, generation, observed_generation) values ($1::uuid, $2, 'n', 'small', "
        "'ready', now() - interval '1 hour', now() - interval '10 seconds', 2, 2)",
        id, tenant_);
    auto store = reader_.GetStore(tenant_, id);
    ASSERT_TRUE(store);
    EXPECT_EQ(store->status, "deleting");
    EXPECT_TRUE(store->ready_json.empty());
    EXPECT_EQ(store->condition_state, "converging");
    EXPECT_EQ(store->condition_message, "deleting the store");
    EXPECT_EQ(store->generation, 2);
}

}  // namespace
}  // namespace storefleet
