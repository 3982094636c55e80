// The read model's ready JSON (read.stores.view_json, kept by the projector's trigger) is
// byte for byte what the query API would encode from the row's columns (ToJson dumped),
// for awkward values too: the list serves those bytes as they are.
#include <gtest/gtest.h>

#include <cstdlib>

#include "read_model.hpp"
#include "store_reader.hpp"
#include "storefleet/common/ids.hpp"
#include "views.hpp"

namespace storefleet {
namespace {

std::string PgUrl() {
    const char* url = std::getenv("STOREFLEET_PG_URL");  // NOLINT(concurrency-mt-unsafe)
    return url != nullptr ? url : "";
}

class ReadModelJsonTest : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_FALSE(PgUrl().empty())
            << "STOREFLEET_PG_URL is not set: run through tests/with-stack";
        model_.Migrate();
    }
    void TearDown() override {
        pool_.WithTransaction(
            [&](pqxx::work& txn) { txn.exec("drop schema " + schema_ + " cascade"); });
    }

    pg::Pool pool_{PgUrl(), 2};
    std::string schema_ = "json_" + RandomHex(4);
    projector::PgReadModel model_{pool_, "json-test", schema_};
};

TEST_F(ReadModelJsonTest, ViewJsonIsTheApiEncodingOfTheRow) {
    pool_.WithTransaction([&](pqxx::work& txn) {
        const std::string insert =
            "insert into " + schema_ +
            ".stores (store_id, tenant_id, name, engine, plan, host, status, step, reason, "
            "url, admin_url, namespace, simulated, created_at, updated_at, generation, "
            "observed_generation, suspended, admin_email, desired_chart_version, "
            "observed_chart_version) values ";
        // Every escape JSON needs, non-ASCII text, NULLs and empty strings (both null in
        // the API), a simulated store (the note), times with and without a fraction; the
        // desired state and the chart versions, desired and observed, known or not.
        txn.exec(
            insert +
            "(gen_random_uuid(), 't', 'tricky', 'medusa', 'large', 'h.example', 'failed', 'helm', "
            "E'quote \" back \\\\ nl \\n tab \\t cr \\r ff \\f bs \\b bell \\x07 us \\x1f del "
            "\\x7f "
            "é ✓ 😀 </script>', 'http://x/?a=1&b=\"2\"', 'http://x/admin', 'ns-1', true, "
            "timestamptz '2026-01-02 03:04:05.000006+00', timestamptz '2026-01-02 03:04:05+00', "
            "3, 2, true, E'o\"wner\\\\@example.com', E'0.2.0-rc.1+\"b\"', '0.1.1'), "
            "(gen_random_uuid(), 't', '', null, null, '', 'ready', '', null, '', null, '', false, "
            "timestamptz '1999-12-31 23:59:59.999999+00', now(), 1, 1, false, '', '', ''), "
            "(gen_random_uuid(), 't', 'plain', 'woocommerce', 'small', 'p.example', 'requested', "
            "null, null, "
            "null, null, null, false, now(), now(), 1, 0, false, null, '0.1.1', null)");
        // An update keeps it current.
        txn.exec("update " + schema_ +
                 ".stores set status = 'provisioning', step = 'namespace', "
                 "updated_at = updated_at + interval '1 millisecond' where name = 'plain'");
        txn.exec("update " + schema_ +
                 ".stores set status = 'ready', observed_chart_version = '0.1.1', "
                 "observed_generation = 1 where name = 'plain'");
    });
    auto rows = pool_.WithTransaction([&](pqxx::work& txn) {
        return txn.exec("select " STOREFLEET_STORE_VIEW_COLUMNS ", view_json from " + schema_ +
                        ".stores");
    });
    ASSERT_EQ(rows.size(), 3U);
    for (const auto& row : rows) {
        const query::StoreView view = query::StoreViewFrom(row);
        ASSERT_FALSE(row[query::kStoreViewColumnCount].is_null()) << view.name;
        const std::string encoded =
            query::ToJson(view).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        EXPECT_EQ(row[query::kStoreViewColumnCount].as<std::string>(), encoded)
            << "store '" << view.name << "'";
        EXPECT_EQ(query::StoreJsonText(view), encoded) << "without ready JSON the row is encoded";
        if (view.name == "tricky") {
            EXPECT_EQ(view.desired_chart_version, "0.2.0-rc.1+\"b\"") << "the columns were read";
            EXPECT_EQ(view.observed_chart_version, "0.1.1");
        }
        if (view.name == "plain") {
            EXPECT_EQ(view.observed_chart_version, "0.1.1");
        }
    }
}

}  // namespace
}  // namespace storefleet
