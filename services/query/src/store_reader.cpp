#include "store_reader.hpp"

namespace storefleet::query {
namespace {

// Statement names and their SQL. Times leave Postgres as microseconds since the epoch
// (exact, and the same numbers the cursor carries); NULL text leaves as ''.
constexpr const char* kTenantOfToken = "query_tenant_of_token";
constexpr const char* kTenantOfTokenSql = "select id from intake.tenants where token_sha256 = $1";

#define STORE_COLUMNS                                                                           \
    "store_id::text, coalesce(name, ''), coalesce(engine, ''), coalesce(plan, ''), "            \
    "coalesce(host, ''), status, coalesce(step, ''), coalesce(reason, ''), coalesce(url, ''), " \
    "coalesce(admin_url, ''), coalesce(namespace, ''), simulated, "                             \
    "(extract(epoch from created_at) * 1000000)::bigint, "                                      \
    "(extract(epoch from updated_at) * 1000000)::bigint"

// Two listing statements rather than one with an optional cursor, so that each has a
// plan that walks the (tenant_id, created_at desc, store_id desc) index from the right
// place. $2 = '' means any status.
constexpr const char* kListFirst = "query_list_first";
constexpr const char* kListFirstSql =
    "select " STORE_COLUMNS
    " from read.stores where tenant_id = $1 and ($2 = '' or status = $2) "
    "order by created_at desc, store_id desc limit $3";
constexpr const char* kListAfter = "query_list_after";
constexpr const char* kListAfterSql =
    "select " STORE_COLUMNS
    " from read.stores where tenant_id = $1 and ($2 = '' or status = $2) "
    "and (created_at, store_id) < (timestamptz 'epoch' + $3::bigint * interval '1 microsecond', "
    "$4::uuid) order by created_at desc, store_id desc limit $5";

constexpr const char* kGetStore = "query_get_store";
constexpr const char* kGetStoreSql =
    "select " STORE_COLUMNS " from read.stores where store_id = $1::uuid and tenant_id = $2";

#undef STORE_COLUMNS

constexpr const char* kTimeline = "query_timeline";
constexpr const char* kTimelineSql =
    "select event_id::text, type, coalesce(status, ''), coalesce(step, ''), coalesce(reason, ''), "
    "(extract(epoch from occurred_at) * 1000000)::bigint, coalesce(correlation_id, '') "
    "from read.store_events where store_id = $1::uuid and tenant_id = $2 "
    "order by sequence, occurred_at, event_id";

constexpr const char* kSchemaPresent =
    "select to_regclass('read.stores') is not null "
    "and to_regclass('read.store_events') is not null "
    "and to_regclass('intake.tenants') is not null";

StoreView StoreFrom(const pqxx::row& r) {
    StoreView store;
    store.id = r[0].as<std::string>();
    store.name = r[1].as<std::string>();
    store.engine = r[2].as<std::string>();
    store.plan = r[3].as<std::string>();
    store.host = r[4].as<std::string>();
    store.status = r[5].as<std::string>();
    store.step = r[6].as<std::string>();
    store.reason = r[7].as<std::string>();
    store.url = r[8].as<std::string>();
    store.admin_url = r[9].as<std::string>();
    store.k8s_namespace = r[10].as<std::string>();
    store.simulated = r[11].as<bool>();
    store.created_at_us = r[12].as<int64_t>();
    store.updated_at_us = r[13].as<int64_t>();
    return store;
}

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
    connection.prepare(kTenantOfToken, kTenantOfTokenSql);
    connection.prepare(kListFirst, kListFirstSql);
    connection.prepare(kListAfter, kListAfterSql);
    connection.prepare(kGetStore, kGetStoreSql);
    connection.prepare(kTimeline, kTimelineSql);
}

// SQLSTATE classes worth a retry: 40 transaction rollback, 53 insufficient resources,
// 57 operator intervention (statement timeout, shutdown), 42P01 undefined table (the
// projector or intake has not created its schema yet).
bool Transient(const pqxx::sql_error& error) {
    const std::string state = error.sqlstate();
    return state.rfind("40", 0) == 0 || state.rfind("53", 0) == 0 || state.rfind("57", 0) == 0 ||
           state == "42P01";
}

}  // namespace

PgStoreReader::PgStoreReader(pg::Pool& pool) : pool_(pool) { pool_.OnConnect(Prepare); }

template <typename Fn>
auto PgStoreReader::Read(Fn&& work) {
    try {
        return pool_.WithTransaction(std::forward<Fn>(work));
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
        return Read([](pqxx::work& txn) { return txn.exec(kSchemaPresent)[0][0].as<bool>(); });
    } catch (const std::exception&) {
        return false;
    }
}

std::optional<std::string> PgStoreReader::TenantOfToken(const std::string& token_sha256) {
    return Read([&](pqxx::work& txn) -> std::optional<std::string> {
        auto rows = txn.exec_prepared(kTenantOfToken, token_sha256);
        if (rows.empty()) return std::nullopt;
        return rows[0][0].as<std::string>();
    });
}

std::vector<StoreView> PgStoreReader::ListStores(const std::string& tenant_id,
                                                 const ListRequest& request) {
    return Read([&](pqxx::work& txn) {
        const int fetch = request.limit + 1;
        auto rows = request.after ? txn.exec_prepared(kListAfter, tenant_id, request.status,
                                                      request.after->created_at_us,
                                                      request.after->store_id, fetch)
                                  : txn.exec_prepared(kListFirst, tenant_id, request.status, fetch);
        std::vector<StoreView> stores;
        stores.reserve(rows.size());
        for (const auto& row : rows) stores.push_back(StoreFrom(row));
        return stores;
    });
}

std::optional<StoreView> PgStoreReader::GetStore(const std::string& tenant_id,
                                                 const std::string& store_id) {
    return Read([&](pqxx::work& txn) -> std::optional<StoreView> {
        auto rows = txn.exec_prepared(kGetStore, store_id, tenant_id);
        if (rows.empty()) return std::nullopt;
        return StoreFrom(rows[0]);
    });
}

std::optional<std::vector<EventView>> PgStoreReader::GetTimeline(const std::string& tenant_id,
                                                                 const std::string& store_id) {
    return Read([&](pqxx::work& txn) -> std::optional<std::vector<EventView>> {
        // The store first: a store without events is an empty timeline, no store a 404.
        if (txn.exec_prepared(kGetStore, store_id, tenant_id).empty()) return std::nullopt;
        auto rows = txn.exec_prepared(kTimeline, store_id, tenant_id);
        std::vector<EventView> events;
        events.reserve(rows.size());
        for (const auto& row : rows) events.push_back(EventFrom(row));
        return events;
    });
}

}  // namespace storefleet::query
