#include "store_reader.hpp"

#include "storefleet/pg/array_literal.hpp"

namespace storefleet::query {
namespace {

// Statement names and their SQL. Times leave Postgres as microseconds since the epoch
// (exact, and the same numbers the cursor carries); NULL text leaves as ''.
//
// What this service may read of other schemas, and nothing else (schema_contract_test):
// intake's contract (intake.principal_of_token, intake.store_requests; intake's migration 9)
// and the read model's: its tables kept for the API (read.stores for lists, read.store_events
// for timelines, read.store_changes for the stream) and read.stores_seen (the projector's
// migration 6), the one place a store's status as a client sees it is derived.
constexpr const char* kPrincipalOfToken = "query_principal_of_token";
constexpr const char* kPrincipalOfTokenSql =
    "select tenant_id, admin from intake.principal_of_token($1)";

// Two listing statements rather than one with an optional cursor, so that each has a
// plan that walks the (tenant_id, created_at desc, store_id desc) index from the right
// place. '' means any status ($2), engine ($3), name prefix ($4; a-z0-9- only, so no LIKE
// escaping is needed).
// A listed store is its ready JSON (kept by the read model, see the projector's migration 5)
// and what the cursor needs: nothing is decoded or re-encoded per row.
#define LIST_COLUMNS "view_json, store_id::text, (extract(epoch from created_at) * 1000000)::bigint"
#define LIST_FILTERS                                                                            \
    "tenant_id = $1 and ($2 = '' or status = $2) and ($3 = '' or engine = $3) and ($4 = '' or " \
    "name like $4 || '%') "
constexpr const char* kListFirst = "query_list_first";
constexpr const char* kListFirstSql = "select " LIST_COLUMNS " from read.stores where " LIST_FILTERS
                                      "order by created_at desc, store_id desc limit $5";
constexpr const char* kListAfter = "query_list_after";
constexpr const char* kListAfterSql =
    "select " LIST_COLUMNS " from read.stores where " LIST_FILTERS
    "and (created_at, store_id) < (timestamptz 'epoch' + $5::bigint * interval '1 microsecond', "
    "$6::uuid) order by created_at desc, store_id desc limit $7";
#undef LIST_FILTERS
#undef LIST_COLUMNS

// One store, read-your-writes, as read.stores_seen derives it: the read model's row merged
// with intake's ledger (a 202 is followed by a 200 at its Location whatever Kafka is doing).
// One statement, outside a transaction. The columns are StoreViewFrom's, then the ready JSON
// or NULL (kSeenViewJson), then the pair's place n (kSeenPlace).
#define SEEN_COLUMNS                                                                               \
    "select store_id, name, engine, plan, host, status, step, reason, url, admin_url, namespace, " \
    "simulated, created_us, updated_us, generation, observed_generation, suspended, admin_email, " \
    "condition_state, condition_message, desired_chart_version, observed_chart_version, "          \
    "view_json, n "
constexpr int kSeenViewJson = kStoreViewColumnCount;
constexpr int kSeenPlace = kStoreViewColumnCount + 1;
constexpr const char* kGetStore = "query_get_store";
constexpr const char* kGetStoreSql =
    SEEN_COLUMNS "from read.stores_seen(array[$1::uuid], array[$2::text])";

// The same for a batch of (store, tenant) pairs, two arrays of equal length: a row per pair
// that is a store, numbered by its place in the arrays (1-based).
constexpr const char* kGetStores = "query_get_stores";
constexpr const char* kGetStoresSql = SEEN_COLUMNS "from read.stores_seen($1::uuid[], $2::text[])";
#undef SEEN_COLUMNS

// Whether the tenant has the store at all (for the timeline's 404), ledger included.
constexpr const char* kStoreExists = "query_store_exists";
constexpr const char* kStoreExistsSql =
    "select exists (select 1 from read.stores_seen(array[$1::uuid], array[$2::text]))";

constexpr const char* kTimeline = "query_timeline";
constexpr const char* kTimelineSql =
    "select event_id::text, type, coalesce(status, ''), coalesce(step, ''), coalesce(reason, ''), "
    "(extract(epoch from occurred_at) * 1000000)::bigint, coalesce(correlation_id, '') "
    "from read.store_events where store_id = $1::uuid and tenant_id = $2 "
    "order by sequence, occurred_at, event_id";

// Everything above exists: intake's migration 9 and the projector's migration 6 have run
// (deploy both before this service; the chart's migrations Job runs before it rolls).
constexpr const char* kSchemaPresent =
    "select to_regclass('read.stores') is not null "
    "and to_regclass('read.store_events') is not null "
    "and to_regprocedure('read.stores_seen(uuid[],text[])') is not null "
    "and to_regclass('intake.store_requests') is not null "
    "and to_regprocedure('intake.principal_of_token(text)') is not null";

EventView EventFrom(const pqxx::row& r) {
    EventView event;
    event.event_id = r[0].as<std::string>();
    event.type = r[1].as<std::string>();
    event.status = r[2].as<std::string>();
    event.step = r[3].as<std::string>();
    event.reason = r[4].as<std::string>();
    event.occurred_at_us = r[5].as<int64_t>();
    event.correlation_id = r[6].as<std::string>();
    return event;
}

void Prepare(pqxx::connection& connection) {
    // Defence in depth: this service never writes, and a slow query must not hold an
    // HTTP reactor thread for long.
    connection.set_variable("default_transaction_read_only", "on");
    connection.set_variable("statement_timeout", "5000");
    // libpqxx 6 prepares lazily, on first use.
    connection.prepare(kPrincipalOfToken, kPrincipalOfTokenSql);
    connection.prepare(kStoreExists, kStoreExistsSql);
    connection.prepare(kListFirst, kListFirstSql);
    connection.prepare(kListAfter, kListAfterSql);
    connection.prepare(kGetStore, kGetStoreSql);
    connection.prepare(kGetStores, kGetStoresSql);
    connection.prepare(kTimeline, kTimelineSql);
}

// SQLSTATE classes worth a retry: 40 transaction rollback, 53 insufficient resources,
// 57 operator intervention (statement timeout, shutdown), 42P01 undefined table and 42883
// undefined function (the projector or intake has not migrated its schema yet).
bool Transient(const pqxx::sql_error& error) {
    const std::string& state = error.sqlstate();
    return state.rfind("40", 0) == 0 || state.rfind("53", 0) == 0 || state.rfind("57", 0) == 0 ||
           state == "42P01" || state == "42883";
}

}  // namespace

StoreView StoreViewFrom(const pqxx::row& row, int first) {
    auto text = [&](int i) { return row[first + i].as<std::string>(); };
    StoreView store;
    store.id = text(0);
    store.name = text(1);
    store.engine = text(2);
    store.plan = text(3);
    store.host = text(4);
    store.status = text(5);
    store.step = text(6);
    store.reason = text(7);
    store.url = text(8);
    store.admin_url = text(9);
    store.k8s_namespace = text(10);
    store.simulated = row[first + 11].as<bool>();
    store.created_at_us = row[first + 12].as<int64_t>();
    store.updated_at_us = row[first + 13].as<int64_t>();
    store.generation = row[first + 14].as<int64_t>();
    store.observed_generation = row[first + 15].as<int64_t>();
    store.suspended = row[first + 16].as<bool>();
    store.admin_email = text(17);
    store.condition_state = text(18);
    store.condition_message = text(19);
    store.desired_chart_version = text(20);
    store.observed_chart_version = text(21);
    return store;
}

PgStoreReader::PgStoreReader(pg::Pool& pool) : pool_(pool) { pool_.OnConnect(Prepare); }

// Every read is one statement (or a few that need no common snapshot), so none pays for
// BEGIN and COMMIT round trips: each runs on its own, in autocommit.
template <typename Fn>
auto PgStoreReader::Read(Fn&& work) {
    try {
        return pool_.WithoutTransaction(std::forward<Fn>(work));
    } catch (const pg::PoolTimeout& error) {
        throw ReadUnavailable(error.what());
    } catch (const pqxx::broken_connection& error) {
        throw ReadUnavailable(error.what());
    } catch (const pqxx::sql_error& error) {
        if (Transient(error)) throw ReadUnavailable(error.what());
        throw;
    }
}

bool PgStoreReader::Ready() {
    try {
        return Read(
            [](pqxx::nontransaction& txn) { return txn.exec(kSchemaPresent)[0][0].as<bool>(); });
    } catch (const std::exception&) {
        return false;
    }
}

std::optional<http::Principal> PgStoreReader::PrincipalOfToken(const std::string& token_sha256) {
    return Read([&](pqxx::nontransaction& txn) -> std::optional<http::Principal> {
        auto rows = txn.exec_prepared(kPrincipalOfToken, token_sha256);
        if (rows.empty()) return std::nullopt;
        return http::Principal{rows[0][0].as<std::string>(), rows[0][1].as<bool>()};
    });
}

std::vector<StoreView> PgStoreReader::ListStores(const std::string& tenant_id,
                                                 const ListRequest& request) {
    return Read([&](pqxx::nontransaction& txn) {
        const int fetch = request.limit + 1;
        auto rows = request.after
                        ? txn.exec_prepared(kListAfter, tenant_id, request.status, request.engine,
                                            request.name_prefix, request.after->created_at_us,
                                            request.after->store_id, fetch)
                        : txn.exec_prepared(kListFirst, tenant_id, request.status, request.engine,
                                            request.name_prefix, fetch);
        std::vector<StoreView> stores(rows.size());
        for (std::size_t i = 0; i < rows.size(); ++i) {
            const auto& row = rows[static_cast<pqxx::result::size_type>(i)];
            stores[i].ready_json.assign(row[0].c_str(), row[0].size());
            stores[i].id.assign(row[1].c_str(), row[1].size());
            stores[i].created_at_us = row[2].as<int64_t>();
        }
        return stores;
    });
}

std::optional<StoreView> PgStoreReader::GetStore(const std::string& tenant_id,
                                                 const std::string& store_id) {
    return Read([&](pqxx::nontransaction& txn) -> std::optional<StoreView> {
        auto rows = txn.exec_prepared(kGetStore, store_id, tenant_id);
        if (rows.empty()) return std::nullopt;
        StoreView store = StoreViewFrom(rows[0]);
        if (!rows[0][kSeenViewJson].is_null())
            store.ready_json = rows[0][kSeenViewJson].as<std::string>();
        return store;
    });
}

std::vector<std::optional<StoreView>> PgStoreReader::GetStores(const std::vector<StoreKey>& keys) {
    std::vector<std::optional<StoreView>> stores(keys.size());
    if (keys.empty()) return stores;
    std::vector<std::string> store_ids;
    std::vector<std::string> tenant_ids;
    store_ids.reserve(keys.size());
    tenant_ids.reserve(keys.size());
    for (const auto& key : keys) {
        store_ids.push_back(key.store_id);
        tenant_ids.push_back(key.tenant_id);
    }
    Read([&](pqxx::nontransaction& txn) {
        auto rows = txn.exec_prepared(kGetStores, pg::ArrayLiteral(store_ids),
                                      pg::ArrayLiteral(tenant_ids));
        for (const auto& row : rows) {
            const auto n = row[kSeenPlace].as<std::size_t>();
            if (n < 1 || n > keys.size()) continue;
            StoreView store = StoreViewFrom(row);
            if (!row[kSeenViewJson].is_null())
                store.ready_json = row[kSeenViewJson].as<std::string>();
            stores[n - 1] = std::move(store);
        }
        return 0;
    });
    return stores;
}

std::optional<std::vector<EventView>> PgStoreReader::GetTimeline(const std::string& tenant_id,
                                                                 const std::string& store_id) {
    return Read([&](pqxx::nontransaction& txn) -> std::optional<std::vector<EventView>> {
        // The store first: a store without events is an empty timeline, no store a 404.
        if (!txn.exec_prepared(kStoreExists, store_id, tenant_id)[0][0].as<bool>())
            return std::nullopt;
        auto rows = txn.exec_prepared(kTimeline, store_id, tenant_id);
        std::vector<EventView> events;
        events.reserve(rows.size());
        for (const auto& row : rows) events.push_back(EventFrom(row));
        return events;
    });
}

}  // namespace storefleet::query
