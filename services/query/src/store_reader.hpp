#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "listing.hpp"
#include "storefleet/http/auth.hpp"
#include "storefleet/pg/pool.hpp"
#include "views.hpp"

namespace storefleet::query {

// The columns of a StoreView in StoreViewFrom's order, for SQL over read.stores or
// read.store_changes (a macro so that statements can be spelled at compile time). Times
// leave Postgres as microseconds since the epoch; NULL text leaves as ''.
#define STOREFLEET_STORE_VIEW_COLUMNS                                                           \
    "store_id::text, coalesce(name, ''), coalesce(engine, ''), coalesce(plan, ''), "            \
    "coalesce(host, ''), status, coalesce(step, ''), coalesce(reason, ''), coalesce(url, ''), " \
    "coalesce(admin_url, ''), coalesce(namespace, ''), simulated, "                             \
    "(extract(epoch from created_at) * 1000000)::bigint, "                                      \
    "(extract(epoch from updated_at) * 1000000)::bigint, generation, observed_generation, "     \
    "suspended, coalesce(admin_email, ''), condition_state, condition_message, "                \
    "coalesce(desired_chart_version, ''), coalesce(observed_chart_version, '')"
// How many columns STOREFLEET_STORE_VIEW_COLUMNS is.
inline constexpr int kStoreViewColumnCount = 22;

// A StoreView from the STOREFLEET_STORE_VIEW_COLUMNS of `row`, starting at column `first`.
StoreView StoreViewFrom(const pqxx::row& row, int first = 0);

// The database cannot answer now (no free connection, connection lost, query timed
// out); the request may succeed if retried. The API answers 503.
class ReadUnavailable : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// One store of one tenant, as a GET asks for it.
struct StoreKey {
    std::string tenant_id;
    std::string store_id;  // a UUID
};

// The process edge to Postgres, so the API can be tested with a fake. Every read is
// scoped to a tenant: another tenant's store is indistinguishable from a missing one.
class StoreReader {
public:
    virtual ~StoreReader() = default;
    // Who holds this API token (neither revoked nor expired), if anyone.
    virtual std::optional<http::Principal> PrincipalOfToken(const std::string& token_sha256) = 0;
    // Up to `request.limit + 1` stores, newest first, after `request.after` if set.
    virtual std::vector<StoreView> ListStores(const std::string& tenant_id,
                                              const ListRequest& request) = 0;
    virtual std::optional<StoreView> GetStore(const std::string& tenant_id,
                                              const std::string& store_id) = 0;
    // GetStore for each key, in order (a StoreBatcher's batch); one read where it can.
    virtual std::vector<std::optional<StoreView>> GetStores(const std::vector<StoreKey>& keys) {
        std::vector<std::optional<StoreView>> stores;
        stores.reserve(keys.size());
        for (const auto& key : keys) stores.push_back(GetStore(key.tenant_id, key.store_id));
        return stores;
    }
    // The store's timeline, oldest first; nullopt if the tenant has no such store.
    virtual std::optional<std::vector<EventView>> GetTimeline(const std::string& tenant_id,
                                                              const std::string& store_id) = 0;
};

// Reads what schema "read" and schema "intake" expose for it (read.stores_seen merges the
// ledger's stores the projector has not seen yet; intake.principal_of_token resolves tokens)
// with prepared statements, on connections that are read-only and time out slow
// statements. Thread-safe: each call
// takes its own pooled connection. Throws ReadUnavailable for transient failures.
class PgStoreReader final : public StoreReader {
public:
    // Registers its session settings and prepared statements with the pool
    // (Pool::OnConnect), so construct it before anything takes a connection from `pool`.
    explicit PgStoreReader(pg::Pool& pool);

    // For /readyz: Postgres answers and what this service reads exists (intake's and the
    // projector's migrations create it).
    bool Ready();

    std::optional<http::Principal> PrincipalOfToken(const std::string& token_sha256) override;
    std::vector<StoreView> ListStores(const std::string& tenant_id,
                                      const ListRequest& request) override;
    std::optional<StoreView> GetStore(const std::string& tenant_id,
                                      const std::string& store_id) override;
    // One statement for the whole batch.
    std::vector<std::optional<StoreView>> GetStores(const std::vector<StoreKey>& keys) override;
    std::optional<std::vector<EventView>> GetTimeline(const std::string& tenant_id,
                                                      const std::string& store_id) override;

private:
    template <typename Fn>
    auto Read(Fn&& work);

    pg::Pool& pool_;
};

}  // namespace storefleet::query
