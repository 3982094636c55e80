#include "read_model.hpp"

#include <set>

#include "storefleet/common/log.hpp"
#include "storefleet/pg/migrations.hpp"

namespace storefleet::projector {
namespace {

const std::vector<pg::Migration> kMigrations = {
    {1, "stores, store_events, consumer_offsets", R"SQL(
create table stores (
    store_id uuid primary key,
    tenant_id text not null,
    name text,
    engine text,
    plan text,
    host text,
    status text not null,
    step text,
    reason text,
    url text,
    admin_url text,
    namespace text,
    simulated boolean not null default false,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    last_sequence bigint not null default 0
);
-- The query service's listing: a tenant's stores, newest first, keyset-paginated.
create index stores_tenant_newest on stores (tenant_id, created_at desc, store_id desc);
create table store_events (
    event_id uuid primary key,
    store_id uuid not null,
    tenant_id text not null,
    type text not null,
    status text,
    step text,
    reason text,
    occurred_at timestamptz not null,
    correlation_id text,
    recorded_at timestamptz not null default now()
);
create index store_events_timeline on store_events (store_id, occurred_at, event_id);
-- Kafka offsets committed in the same transaction as the rows they produced.
create table consumer_offsets (
    consumer_group text,
    topic text,
    partition int,
    next_offset bigint not null,
    primary key (consumer_group, topic, partition)
);
)SQL"},
    {2, "record each event's own insert time, not its transaction's start", R"SQL(
alter table store_events alter column recorded_at set default clock_timestamp();
)SQL"},
};

// Times cross the wire as microseconds since the epoch (bigint): exact both ways, and no
// time zone or text format to agree on.

// Statement names and their SQL. Empty strings are stored as NULL.
constexpr const char* kInsertEvent = "projector_insert_event";
constexpr const char* kInsertEventSql =
    "insert into read.store_events (event_id, store_id, tenant_id, type, status, step, reason, "
    "occurred_at, correlation_id) values ($1::uuid, $2::uuid, $3, $4, nullif($5, ''), "
    "nullif($6, ''), nullif($7, ''), timestamptz 'epoch' + $8::bigint * interval '1 microsecond', "
    "nullif($9, '')) on conflict (event_id) do nothing returning event_id";

constexpr const char* kLockStore = "projector_lock_store";
constexpr const char* kLockStoreSql =
    "select tenant_id, coalesce(name, ''), coalesce(engine, ''), coalesce(plan, ''), "
    "coalesce(host, ''), status, coalesce(step, ''), coalesce(reason, ''), coalesce(url, ''), "
    "coalesce(admin_url, ''), coalesce(namespace, ''), simulated, "
    "(extract(epoch from created_at) * 1000000)::bigint, "
    "(extract(epoch from updated_at) * 1000000)::bigint, last_sequence "
    "from read.stores where store_id = $1::uuid for update";

constexpr const char* kInsertStore = "projector_insert_store";
constexpr const char* kInsertStoreSql =
    "insert into read.stores (store_id, tenant_id, name, engine, plan, host, status, step, reason, "
    "url, admin_url, namespace, simulated, created_at, updated_at, last_sequence) "
    "values ($1::uuid, $2, nullif($3, ''), nullif($4, ''), nullif($5, ''), nullif($6, ''), $7, "
    "nullif($8, ''), nullif($9, ''), nullif($10, ''), nullif($11, ''), nullif($12, ''), "
    "$13::boolean, "
    "timestamptz 'epoch' + $14::bigint * interval '1 microsecond', "
    "timestamptz 'epoch' + $15::bigint * interval '1 microsecond', $16::bigint) "
    "on conflict (store_id) do nothing returning store_id";

constexpr const char* kUpdateStore = "projector_update_store";
constexpr const char* kUpdateStoreSql =
    "update read.stores set name = nullif($2, ''), engine = nullif($3, ''), plan = nullif($4, ''), "
    "host = nullif($5, ''), status = $6, step = nullif($7, ''), reason = nullif($8, ''), "
    "url = nullif($9, ''), admin_url = nullif($10, ''), namespace = nullif($11, ''), "
    "simulated = $12::boolean, "
    "created_at = timestamptz 'epoch' + $13::bigint * interval '1 microsecond', "
    "updated_at = timestamptz 'epoch' + $14::bigint * interval '1 microsecond', "
    "last_sequence = $15::bigint where store_id = $1::uuid";

constexpr const char* kSaveOffset = "projector_save_offset";
constexpr const char* kSaveOffsetSql =
    "insert into read.consumer_offsets (consumer_group, topic, partition, next_offset) "
    "values ($1, $2, $3, $4) on conflict (consumer_group, topic, partition) "
    "do update set next_offset = excluded.next_offset";

constexpr const char* kNotify = "projector_notify";
constexpr const char* kNotifySql = "select pg_notify('store_changed', $1)";

constexpr const char* kLoadOffsets =
    "select topic, partition, next_offset from read.consumer_offsets where consumer_group = $1";

StoreRow RowFrom(const pqxx::row& r) {
    StoreRow row;
    row.tenant_id = r[0].as<std::string>();
    row.name = r[1].as<std::string>();
    row.engine = r[2].as<std::string>();
    row.plan = r[3].as<std::string>();
    row.host = r[4].as<std::string>();
    row.status = r[5].as<std::string>();
    row.step = r[6].as<std::string>();
    row.reason = r[7].as<std::string>();
    row.url = r[8].as<std::string>();
    row.admin_url = r[9].as<std::string>();
    row.k8s_namespace = r[10].as<std::string>();
    row.simulated = r[11].as<bool>();
    row.created_at_us = r[12].as<int64_t>();
    row.updated_at_us = r[13].as<int64_t>();
    row.last_sequence = r[14].as<int64_t>();
    return row;
}

void Prepare(pqxx::connection& connection) {
    // libpqxx 6 prepares lazily on first use, so this is safe before the migrations ran.
    connection.prepare(kInsertEvent, kInsertEventSql);
    connection.prepare(kLockStore, kLockStoreSql);
    connection.prepare(kInsertStore, kInsertStoreSql);
    connection.prepare(kUpdateStore, kUpdateStoreSql);
    connection.prepare(kSaveOffset, kSaveOffsetSql);
    connection.prepare(kNotify, kNotifySql);
}

}  // namespace

PgReadModel::PgReadModel(pg::Pool& pool, std::string group_id)
    : pool_(pool), group_id_(std::move(group_id)) {
    pool_.OnConnect(Prepare);
}

void PgReadModel::Migrate() {
    auto lease = pool_.Acquire();
    pg::ApplyMigrations(*lease, "read", kMigrations);
}

bool PgReadModel::ApplyChange(pqxx::work& txn, const PlannedEvent& event) {
    const StoreChange& change = event.change;
    // Two passes at most: if another replica inserts the row between our lookup and our
    // insert, the insert does nothing and the second pass updates the row it made.
    for (int pass = 0; pass < 2; ++pass) {
        auto rows = txn.exec_prepared(kLockStore, change.store_id);
        std::optional<StoreRow> current;
        if (!rows.empty()) current = RowFrom(rows[0]);
        const RowDecision decision = Decide(current, change);
        const StoreRow& row = decision.row;
        switch (decision.action) {
            case RowAction::kNone:
                return false;
            case RowAction::kForeignTenant:
                log::Warn("event names another tenant than its store; store left unchanged",
                          {{"event_id", event.entry.event_id},
                           {"store_id", change.store_id},
                           {"correlation_id", event.entry.correlation_id}});
                return false;
            case RowAction::kUpdate:
                txn.exec_prepared(kUpdateStore, change.store_id, row.name, row.engine, row.plan,
                                  row.host, row.status, row.step, row.reason, row.url,
                                  row.admin_url, row.k8s_namespace, row.simulated,
                                  row.created_at_us, row.updated_at_us, row.last_sequence);
                return true;
            case RowAction::kInsert:
                if (!txn.exec_prepared(kInsertStore, change.store_id, row.tenant_id, row.name,
                                       row.engine, row.plan, row.host, row.status, row.step,
                                       row.reason, row.url, row.admin_url, row.k8s_namespace,
                                       row.simulated, row.created_at_us, row.updated_at_us,
                                       row.last_sequence)
                         .empty()) {
                    return true;
                }
                break;
        }
    }
    throw std::runtime_error("store " + change.store_id + " is neither insertable nor updatable");
}

BatchResult PgReadModel::Apply(const BatchPlan& plan) {
    return pool_.WithTransaction([&](pqxx::work& txn) {
        BatchResult result;
        std::set<std::string> touched;  // stores whose row or timeline changed: notified
        for (std::size_t i = 0; i < plan.events.size(); ++i) {
            const PlannedEvent& event = plan.events[i];
            const TimelineEntry& entry = event.entry;
            // The event id makes a replay a no-op, whatever offset it was replayed from.
            if (txn.exec_prepared(kInsertEvent, entry.event_id, entry.store_id, entry.tenant_id,
                                  entry.type, entry.status, entry.step, entry.reason,
                                  entry.occurred_at_us, entry.correlation_id)
                    .empty()) {
                continue;
            }
            result.recorded.push_back(i);
            touched.insert(entry.store_id);
            if (ApplyChange(txn, event)) ++result.stores_changed;
        }
        for (const auto& next : plan.next_offsets) {
            txn.exec_prepared(kSaveOffset, group_id_, next.topic, next.partition, next.offset);
        }
        for (const auto& store_id : touched) txn.exec_prepared(kNotify, store_id);
        return result;
    });
}

void PgReadModel::LoadOffsets(std::vector<kafka::PartitionOffset>& partitions) {
    auto rows = pool_.WithTransaction(
        [&](pqxx::work& txn) { return txn.exec_params(kLoadOffsets, group_id_); });
    for (auto& partition : partitions) {
        for (const auto& row : rows) {
            if (row[0].as<std::string>() == partition.topic &&
                row[1].as<int32_t>() == partition.partition) {
                partition.offset = row[2].as<int64_t>();
            }
        }
    }
}

}  // namespace storefleet::projector
