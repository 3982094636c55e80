#include "read_model.hpp"

#include <cctype>
#include <map>
#include <optional>
#include <stdexcept>
#include <unordered_set>

#include "config.hpp"
#include "projector_migrations.hpp"
#include "storefleet/common/log.hpp"
#include "storefleet/pg/array_literal.hpp"
#include "storefleet/pg/migrations.hpp"

namespace storefleet::projector {
namespace {

// Times cross the wire as microseconds since the epoch (bigint): exact both ways, and no
// time zone or text format to agree on.

// Statement names and their SQL, "{schema}" standing for the read model's schema. Empty
// strings are stored as NULL; a timeline sequence of 0 (unordered) too.
constexpr const char* kLockStore = "projector_lock_store";
constexpr const char* kLockStoreSql =
    "select tenant_id, coalesce(name, ''), coalesce(engine, ''), coalesce(plan, ''), "
    "coalesce(host, ''), status, coalesce(step, ''), coalesce(reason, ''), coalesce(url, ''), "
    "coalesce(admin_url, ''), coalesce(namespace, ''), simulated, "
    "(extract(epoch from created_at) * 1000000)::bigint, "
    "(extract(epoch from updated_at) * 1000000)::bigint, last_sequence, request_seen, "
    "generation, observed_generation, suspended, coalesce(admin_email, ''), coalesce(drift, ''), "
    "coalesce(desired_chart_version, ''), coalesce(observed_chart_version, ''), "
    "observed_chart_sequence "
    "from {schema}.stores where store_id = $1::uuid for update";

constexpr const char* kInsertStore = "projector_insert_store";
constexpr const char* kInsertStoreSql =
    "insert into {schema}.stores (store_id, tenant_id, name, engine, plan, host, status, step, "
    "reason, url, admin_url, namespace, simulated, created_at, updated_at, last_sequence, "
    "request_seen, generation, observed_generation, suspended, admin_email, drift, "
    "desired_chart_version, observed_chart_version, observed_chart_sequence) "
    "values ($1::uuid, $2, nullif($3, ''), nullif($4, ''), nullif($5, ''), nullif($6, ''), $7, "
    "nullif($8, ''), nullif($9, ''), nullif($10, ''), nullif($11, ''), nullif($12, ''), "
    "$13::boolean, "
    "timestamptz 'epoch' + $14::bigint * interval '1 microsecond', "
    "timestamptz 'epoch' + $15::bigint * interval '1 microsecond', $16::bigint, "
    "$17::boolean, $18::bigint, $19::bigint, $20::boolean, nullif($21, ''), nullif($22, ''), "
    "nullif($23, ''), nullif($24, ''), $25::bigint) "
    "on conflict (store_id) do nothing returning store_id";

constexpr const char* kUpdateStore = "projector_update_store";
constexpr const char* kUpdateStoreSql =
    "update {schema}.stores set name = nullif($2, ''), engine = nullif($3, ''), "
    "plan = nullif($4, ''), "
    "host = nullif($5, ''), status = $6, step = nullif($7, ''), reason = nullif($8, ''), "
    "url = nullif($9, ''), admin_url = nullif($10, ''), namespace = nullif($11, ''), "
    "simulated = $12::boolean, "
    "created_at = timestamptz 'epoch' + $13::bigint * interval '1 microsecond', "
    "updated_at = timestamptz 'epoch' + $14::bigint * interval '1 microsecond', "
    "last_sequence = $15::bigint, request_seen = $16::boolean, generation = $17::bigint, "
    "observed_generation = $18::bigint, suspended = $19::boolean, admin_email = nullif($20, ''), "
    "drift = nullif($21, ''), desired_chart_version = nullif($22, ''), "
    "observed_chart_version = nullif($23, ''), observed_chart_sequence = $24::bigint "
    "where store_id = $1::uuid";

// The batch forms of the statements above: one round trip for a whole batch, not one per
// event (the per-event round trips were most of the projector's Postgres time).
constexpr const char* kInsertEvents = "projector_insert_events";
constexpr const char* kInsertEventsSql =
    "insert into {schema}.store_events (event_id, store_id, tenant_id, type, status, step, "
    "reason, occurred_at, correlation_id, sequence) "
    "select e.event_id, e.store_id, e.tenant_id, e.type, nullif(e.status, ''), nullif(e.step, ''), "
    "nullif(e.reason, ''), timestamptz 'epoch' + e.occurred_us * interval '1 microsecond', "
    "nullif(e.correlation_id, ''), nullif(e.sequence, 0) "
    "from unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], "
    "$7::text[], "
    "$8::bigint[], $9::text[], $10::bigint[]) "
    "as e(event_id, store_id, tenant_id, type, status, step, reason, occurred_us, correlation_id, "
    "sequence) "
    "on conflict (event_id) do nothing returning event_id::text";

// Rows are locked in store_id order, so two replicas locking overlapping batches queue
// rather than deadlock.
constexpr const char* kLockStores = "projector_lock_stores";
constexpr const char* kLockStoresSql =
    "select tenant_id, coalesce(name, ''), coalesce(engine, ''), coalesce(plan, ''), "
    "coalesce(host, ''), status, coalesce(step, ''), coalesce(reason, ''), coalesce(url, ''), "
    "coalesce(admin_url, ''), coalesce(namespace, ''), simulated, "
    "(extract(epoch from created_at) * 1000000)::bigint, "
    "(extract(epoch from updated_at) * 1000000)::bigint, last_sequence, request_seen, "
    "generation, observed_generation, suspended, coalesce(admin_email, ''), coalesce(drift, ''), "
    "coalesce(desired_chart_version, ''), coalesce(observed_chart_version, ''), "
    "observed_chart_sequence, store_id::text "
    "from {schema}.stores where store_id = any($1::uuid[]) order by store_id for update";
// The column of kLockStoresSql that holds the store id (the others are RowFrom's).
constexpr int kLockedStoreIdColumn = 24;

// The row values of a batch as arrays, $1 the store ids; shared by the insert and the update.
#define STOREFLEET_ROWS_FROM_ARRAYS                                                                \
    "unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], "  \
    "$8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::boolean[], "              \
    "$14::bigint[], "                                                                              \
    "$15::bigint[], $16::bigint[], $17::boolean[], $18::bigint[], $19::bigint[], $20::boolean[], " \
    "$21::text[], $22::text[], $23::text[], $24::text[], $25::bigint[]) "                          \
    "as v(store_id, tenant_id, name, engine, plan, host, status, step, "                           \
    "reason, url, admin_url, namespace, simulated, created_us, updated_us, last_sequence, "        \
    "request_seen, generation, observed_generation, suspended, admin_email, drift, "               \
    "desired_chart_version, observed_chart_version, observed_chart_sequence)"
constexpr const char* kInsertStores = "projector_insert_stores";
constexpr const char* kInsertStoresSql =
    "insert into {schema}.stores (store_id, tenant_id, name, engine, plan, host, status, step, "
    "reason, url, admin_url, namespace, simulated, created_at, updated_at, last_sequence, "
    "request_seen, generation, observed_generation, suspended, admin_email, drift, "
    "desired_chart_version, observed_chart_version, observed_chart_sequence) "
    "select v.store_id, v.tenant_id, nullif(v.name, ''), nullif(v.engine, ''), nullif(v.plan, ''), "
    "nullif(v.host, ''), v.status, nullif(v.step, ''), nullif(v.reason, ''), nullif(v.url, ''), "
    "nullif(v.admin_url, ''), nullif(v.namespace, ''), v.simulated, "
    "timestamptz 'epoch' + v.created_us * interval '1 microsecond', "
    "timestamptz 'epoch' + v.updated_us * interval '1 microsecond', v.last_sequence, "
    "v.request_seen, v.generation, v.observed_generation, v.suspended, nullif(v.admin_email, ''), "
    "nullif(v.drift, ''), nullif(v.desired_chart_version, ''), "
    "nullif(v.observed_chart_version, ''), v.observed_chart_sequence "
    "from " STOREFLEET_ROWS_FROM_ARRAYS
    " on conflict (store_id) do nothing returning store_id::text";
constexpr const char* kUpdateStores = "projector_update_stores";
constexpr const char* kUpdateStoresSql =
    "update {schema}.stores s set name = nullif(v.name, ''), engine = nullif(v.engine, ''), "
    "plan = nullif(v.plan, ''), host = nullif(v.host, ''), status = v.status, step = "
    "nullif(v.step, ''), "
    "reason = nullif(v.reason, ''), url = nullif(v.url, ''), admin_url = nullif(v.admin_url, ''), "
    "namespace = nullif(v.namespace, ''), simulated = v.simulated, "
    "created_at = timestamptz 'epoch' + v.created_us * interval '1 microsecond', "
    "updated_at = timestamptz 'epoch' + v.updated_us * interval '1 microsecond', "
    "last_sequence = v.last_sequence, request_seen = v.request_seen, generation = v.generation, "
    "observed_generation = v.observed_generation, suspended = v.suspended, "
    "admin_email = nullif(v.admin_email, ''), drift = nullif(v.drift, ''), "
    "desired_chart_version = nullif(v.desired_chart_version, ''), "
    "observed_chart_version = nullif(v.observed_chart_version, ''), "
    "observed_chart_sequence = v.observed_chart_sequence "
    "from " STOREFLEET_ROWS_FROM_ARRAYS " where s.store_id = v.store_id";
#undef STOREFLEET_ROWS_FROM_ARRAYS

constexpr const char* kSaveOffset = "projector_save_offset";
constexpr const char* kSaveOffsetSql =
    "insert into {schema}.consumer_offsets (consumer_group, topic, partition, next_offset) "
    "values ($1, $2, $3, $4) on conflict (consumer_group, topic, partition) "
    "do update set next_offset = excluded.next_offset";

constexpr const char* kNotify = "projector_notify";
// The query service listens on store_changed; another schema (a replay) has a channel of
// its own so that it does not wake the query service for rows it does not serve.
constexpr const char* kNotifySql = "select pg_notify({channel}, id) from unnest($1::text[]) as id";

// Serializes the tail of every projector transaction that logs changes (any replica), so
// change ids commit in order. The key is the schema's, so a replay schema has its own.
constexpr const char* kLockChangeLog = "projector_lock_change_log";
constexpr const char* kLockChangeLogSql =
    "select pg_advisory_xact_lock(hashtext('{schema}.store_changes'))";
constexpr const char* kLogChanges = "projector_log_changes";
constexpr const char* kLogChangesSql =
    "insert into {schema}.store_changes (change_id, store_id, tenant_id, name, engine, plan, host, "
    "status, step, reason, url, admin_url, namespace, simulated, created_at, updated_at, "
    "generation, observed_generation, suspended, admin_email, condition_state, condition_message, "
    "desired_chart_version, observed_chart_version) "
    "select nextval('{schema}.store_changes_id'), store_id, tenant_id, name, engine, plan, host, "
    "status, step, reason, url, admin_url, namespace, simulated, created_at, updated_at, "
    "generation, observed_generation, suspended, admin_email, condition_state, condition_message, "
    "desired_chart_version, observed_chart_version "
    "from {schema}.stores where store_id = any($1::uuid[]) order by store_id";
// The stream replays at most this far back; older changes go (a client further behind
// re-reads the list).
constexpr const char* kPruneChanges = "projector_prune_changes";
constexpr const char* kPruneChangesSql =
    "delete from {schema}.store_changes where recorded_at < now() - interval '24 hours'";

constexpr const char* kLoadOffsets =
    "select topic, partition, next_offset from {schema}.consumer_offsets "
    "where consumer_group = $1";

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
    row.request_seen = r[15].as<bool>();
    row.generation = r[16].as<int64_t>();
    row.observed_generation = r[17].as<int64_t>();
    row.suspended = r[18].as<bool>();
    row.admin_email = r[19].as<std::string>();
    row.drift = r[20].as<std::string>();
    row.chart_version = r[21].as<std::string>();
    row.observed_chart_version = r[22].as<std::string>();
    row.observed_chart_sequence = r[23].as<int64_t>();
    return row;
}

// Spells the schema (a plain identifier, so no quoting) and the notify channel into `sql`.
std::string Sql(std::string_view sql, const std::string& schema) {
    std::string out(sql);
    auto replace = [&out](std::string_view token, const std::string& value) {
        for (auto at = out.find(token); at != std::string::npos; at = out.find(token, at)) {
            out.replace(at, token.size(), value);
            at += value.size();
        }
    };
    replace("{schema}", schema);
    replace("{channel}", schema == "read" ? "'store_changed'" : "'store_changed_" + schema + "'");
    return out;
}

}  // namespace

PgReadModel::PgReadModel(pg::Pool& pool, std::string group_id, std::string schema)
    : pool_(pool), group_id_(std::move(group_id)), schema_(std::move(schema)) {
    if (!IsPlainIdentifier(schema_)) {
        throw std::invalid_argument("read model schema '" + schema_ +
                                    "' is not a plain identifier");
    }
    pool_.OnConnect([schema = schema_](pqxx::connection& connection) {
        // libpqxx 6 prepares lazily on first use, so this is safe before the migrations ran.
        connection.prepare(kLockStore, Sql(kLockStoreSql, schema));
        connection.prepare(kInsertStore, Sql(kInsertStoreSql, schema));
        connection.prepare(kUpdateStore, Sql(kUpdateStoreSql, schema));
        connection.prepare(kInsertEvents, Sql(kInsertEventsSql, schema));
        connection.prepare(kLockStores, Sql(kLockStoresSql, schema));
        connection.prepare(kInsertStores, Sql(kInsertStoresSql, schema));
        connection.prepare(kUpdateStores, Sql(kUpdateStoresSql, schema));
        connection.prepare(kSaveOffset, Sql(kSaveOffsetSql, schema));
        connection.prepare(kNotify, Sql(kNotifySql, schema));
        connection.prepare(kLockChangeLog, Sql(kLockChangeLogSql, schema));
        connection.prepare(kLogChanges, Sql(kLogChangesSql, schema));
        connection.prepare(kPruneChanges, Sql(kPruneChangesSql, schema));
    });
}

void PgReadModel::Migrate() {
    auto lease = pool_.Acquire();
    pg::ApplyMigrations(*lease, schema_, Migrations());
}

bool PgReadModel::ApplyChange(pqxx::work& txn, const PlannedEvent& event) {
    const StoreEffect& change = event.change;
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
                                  row.created_at_us, row.updated_at_us, row.last_sequence,
                                  row.request_seen, row.generation, row.observed_generation,
                                  row.suspended, row.admin_email, row.drift, row.chart_version,
                                  row.observed_chart_version, row.observed_chart_sequence);
                return true;
            case RowAction::kInsert:
                if (!txn.exec_prepared(kInsertStore, change.store_id, row.tenant_id, row.name,
                                       row.engine, row.plan, row.host, row.status, row.step,
                                       row.reason, row.url, row.admin_url, row.k8s_namespace,
                                       row.simulated, row.created_at_us, row.updated_at_us,
                                       row.last_sequence, row.request_seen, row.generation,
                                       row.observed_generation, row.suspended, row.admin_email,
                                       row.drift, row.chart_version, row.observed_chart_version,
                                       row.observed_chart_sequence)
                         .empty()) {
                    return true;
                }
                break;
        }
    }
    throw std::runtime_error("store " + change.store_id + " is neither insertable nor updatable");
}

namespace {

// A uuid's 32 hex digits in lower case, whatever spelling it came in: Postgres answers ids
// in its own spelling, events may carry another.
std::string UuidKey(const std::string& id) {
    std::string key;
    key.reserve(32);
    for (const char c : id) {
        if (std::isxdigit(static_cast<unsigned char>(c)) != 0) {
            key.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
        }
    }
    return key;
}

// One column of a batch statement per field, each a Postgres array literal.
struct RowArrays {
    std::vector<std::string> store_id, tenant_id, name, engine, plan, host, status, step, reason,
        url, admin_url, k8s_namespace, simulated, created_us, updated_us, last_sequence,
        request_seen, generation, observed_generation, suspended, admin_email, drift,
        desired_chart_version, observed_chart_version, observed_chart_sequence;

    void Add(const std::string& id, const StoreRow& row) {
        store_id.push_back(id);
        tenant_id.push_back(row.tenant_id);
        name.push_back(row.name);
        engine.push_back(row.engine);
        plan.push_back(row.plan);
        host.push_back(row.host);
        status.push_back(row.status);
        step.push_back(row.step);
        reason.push_back(row.reason);
        url.push_back(row.url);
        admin_url.push_back(row.admin_url);
        k8s_namespace.push_back(row.k8s_namespace);
        simulated.emplace_back(row.simulated ? "true" : "false");
        created_us.push_back(std::to_string(row.created_at_us));
        updated_us.push_back(std::to_string(row.updated_at_us));
        last_sequence.push_back(std::to_string(row.last_sequence));
        request_seen.emplace_back(row.request_seen ? "true" : "false");
        generation.push_back(std::to_string(row.generation));
        observed_generation.push_back(std::to_string(row.observed_generation));
        suspended.emplace_back(row.suspended ? "true" : "false");
        admin_email.push_back(row.admin_email);
        drift.push_back(row.drift);
        desired_chart_version.push_back(row.chart_version);
        observed_chart_version.push_back(row.observed_chart_version);
        observed_chart_sequence.push_back(std::to_string(row.observed_chart_sequence));
    }
    [[nodiscard]] bool empty() const { return store_id.empty(); }

    pqxx::result Exec(pqxx::work& txn, const char* statement) const {
        using pg::ArrayLiteral;
        return txn.exec_prepared(
            statement, ArrayLiteral(store_id), ArrayLiteral(tenant_id), ArrayLiteral(name),
            ArrayLiteral(engine), ArrayLiteral(plan), ArrayLiteral(host), ArrayLiteral(status),
            ArrayLiteral(step), ArrayLiteral(reason), ArrayLiteral(url), ArrayLiteral(admin_url),
            ArrayLiteral(k8s_namespace), ArrayLiteral(simulated), ArrayLiteral(created_us),
            ArrayLiteral(updated_us), ArrayLiteral(last_sequence), ArrayLiteral(request_seen),
            ArrayLiteral(generation), ArrayLiteral(observed_generation), ArrayLiteral(suspended),
            ArrayLiteral(admin_email), ArrayLiteral(drift), ArrayLiteral(desired_chart_version),
            ArrayLiteral(observed_chart_version), ArrayLiteral(observed_chart_sequence));
    }
};

// The events of a batch that are new (not a replay), by index: one insert for all of them.
std::vector<std::size_t> RecordEvents(pqxx::work& txn, const std::vector<PlannedEvent>& events) {
    std::vector<std::string> event_id, store_id, tenant_id, type, status, step, reason, occurred_us,
        correlation_id, sequence;
    for (const auto& event : events) {
        const TimelineEntry& entry = event.entry;
        event_id.push_back(entry.event_id);
        store_id.push_back(entry.store_id);
        tenant_id.push_back(entry.tenant_id);
        type.push_back(entry.type);
        status.push_back(entry.status);
        step.push_back(entry.step);
        reason.push_back(entry.reason);
        occurred_us.push_back(std::to_string(entry.occurred_at_us));
        correlation_id.push_back(entry.correlation_id);
        sequence.push_back(std::to_string(entry.sequence));
    }
    using pg::ArrayLiteral;
    const auto rows = txn.exec_prepared(
        kInsertEvents, ArrayLiteral(event_id), ArrayLiteral(store_id), ArrayLiteral(tenant_id),
        ArrayLiteral(type), ArrayLiteral(status), ArrayLiteral(step), ArrayLiteral(reason),
        ArrayLiteral(occurred_us), ArrayLiteral(correlation_id), ArrayLiteral(sequence));
    std::unordered_set<std::string> inserted;
    for (const auto& row : rows) inserted.insert(UuidKey(row[0].as<std::string>()));
    // An id twice in one batch is inserted once: the first of them is the recorded one.
    std::vector<std::size_t> recorded;
    for (std::size_t i = 0; i < events.size(); ++i) {
        if (inserted.erase(UuidKey(events[i].entry.event_id)) > 0) recorded.push_back(i);
    }
    return recorded;
}

// A store's row as the batch leaves it: decided in memory, event after event, from the
// row locked at the start, then written with one statement for all stores.
struct StoreInBatch {
    std::string store_id;
    std::optional<StoreRow> row;
    bool in_table = false;  // the row existed when it was locked
    bool changed = false;
    std::size_t changes = 0;  // events that changed the row
    std::vector<std::size_t> events;
};

}  // namespace

BatchResult PgReadModel::Apply(const BatchPlan& plan) {
    return pool_.WithTransaction([&](pqxx::work& txn) {
        BatchResult result;
        // The event id makes a replay a no-op, whatever offset it was replayed from.
        if (!plan.events.empty()) result.recorded = RecordEvents(txn, plan.events);

        std::map<std::string, StoreInBatch>
            stores;  // by UuidKey, so locked and written in id order
        for (const std::size_t i : result.recorded) {
            const auto& store_id = plan.events[i].entry.store_id;
            auto& store = stores[UuidKey(store_id)];
            store.store_id = store_id;
            store.events.push_back(i);
        }
        if (!stores.empty()) {
            std::vector<std::string> ids;
            ids.reserve(stores.size());
            for (const auto& [key, store] : stores) ids.push_back(store.store_id);
            for (const auto& row : txn.exec_prepared(kLockStores, pg::ArrayLiteral(ids))) {
                auto found = stores.find(UuidKey(row[kLockedStoreIdColumn].as<std::string>()));
                if (found == stores.end()) continue;
                found->second.row = RowFrom(row);
                found->second.in_table = true;
            }
        }
        RowArrays inserts, updates;
        for (auto& [key, store] : stores) {
            for (const std::size_t i : store.events) {
                const PlannedEvent& event = plan.events[i];
                RowDecision decision = Decide(store.row, event.change);
                if (decision.action == RowAction::kForeignTenant) {
                    log::Warn("event names another tenant than its store; store left unchanged",
                              {{"event_id", event.entry.event_id},
                               {"store_id", event.change.store_id},
                               {"correlation_id", event.entry.correlation_id}});
                }
                if (decision.action != RowAction::kInsert && decision.action != RowAction::kUpdate)
                    continue;
                store.row = std::move(decision.row);
                store.changed = true;
                ++store.changes;
            }
            result.stores_changed += store.changes;
            if (!store.changed) continue;
            (store.in_table ? updates : inserts).Add(store.store_id, *store.row);
        }
        if (!inserts.empty()) {
            std::unordered_set<std::string> inserted;
            for (const auto& row : inserts.Exec(txn, kInsertStores))
                inserted.insert(UuidKey(row[0].as<std::string>()));
            // Another replica inserted one of these rows after it was found missing: its
            // events go again, one by one, against the row that is there now.
            for (auto& [key, store] : stores) {
                if (!store.changed || store.in_table || inserted.count(key) > 0) continue;
                result.stores_changed -= store.changes;
                for (const std::size_t i : store.events) {
                    if (ApplyChange(txn, plan.events[i])) ++result.stores_changed;
                }
            }
        }
        if (!updates.empty()) updates.Exec(txn, kUpdateStores);
        for (const auto& next : plan.next_offsets) {
            txn.exec_prepared(kSaveOffset, group_id_, next.topic, next.partition, next.offset);
        }
        std::vector<std::string> changed, touched;
        for (const auto& [key, store] : stores) {
            touched.push_back(store.store_id);
            if (store.changed) changed.push_back(store.store_id);
        }
        if (!changed.empty()) {
            // Last, so the lock is held only from here to the commit.
            txn.exec_prepared(kLockChangeLog);
            txn.exec_prepared(kLogChanges, pg::ArrayLiteral(changed));
        }
        if (!touched.empty()) txn.exec_prepared(kNotify, pg::ArrayLiteral(touched));
        return result;
    });
}

int64_t PgReadModel::PruneChangeLog() {
    return pool_.WithTransaction([&](pqxx::work& txn) {
        return static_cast<int64_t>(txn.exec_prepared(kPruneChanges).affected_rows());
    });
}

void PgReadModel::LoadOffsets(std::vector<kafka::PartitionOffset>& partitions) {
    auto rows = pool_.WithTransaction(
        [&](pqxx::work& txn) { return txn.exec_params(Sql(kLoadOffsets, schema_), group_id_); });
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
