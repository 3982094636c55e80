#include "change_feed.hpp"

#include "store_reader.hpp"
#include "storefleet/common/log.hpp"

namespace storefleet::query {
namespace {

constexpr const char* kChangesSql =
    "select change_id, tenant_id, " STOREFLEET_STORE_VIEW_COLUMNS
    " from read.store_changes where change_id > $1 and ($2 = '' or tenant_id = $2) "
    "order by change_id limit $3";
constexpr const char* kHeadSql = "select coalesce(max(change_id), 0) from read.store_changes";
constexpr const char* kOldestSql = "select coalesce(min(change_id), 0) from read.store_changes";

}  // namespace

class PgChangeFeed::Receiver final : public pqxx::notification_receiver {
public:
    explicit Receiver(pqxx::connection_base& connection)
        : pqxx::notification_receiver(connection, "store_changed") {}
    void operator()(const std::string&, int) override {}
};

PgChangeFeed::PgChangeFeed(const std::string& pg_url, pg::Pool& pool)
    : pg_url_(pg::WithConnectionDefaults(pg_url)), pool_(pool) {}

PgChangeFeed::~PgChangeFeed() {
    receiver_.reset();
    listener_.reset();
}

void PgChangeFeed::Listen() {
    receiver_.reset();
    listener_.reset();
    try {
        listener_ = std::make_unique<pqxx::connection>(pg_url_);
        receiver_ = std::make_unique<Receiver>(*listener_);
        // The LISTEN is sent lazily; a no-op round trip makes it take effect now.
        listener_->get_notifs();
        pqxx::nontransaction(*listener_).exec("select 1");
    } catch (const std::exception& error) {
        log::Warn("stream: cannot LISTEN for store changes; polling", {{"error", error.what()}});
        receiver_.reset();
        listener_.reset();
    }
}

int PgChangeFeed::WakeFd() {
    if (!listener_ || !listener_->is_open()) Listen();
    return listener_ ? listener_->sock() : -1;
}

void PgChangeFeed::Drain() {
    if (!listener_) return;
    try {
        listener_->get_notifs();
    } catch (const std::exception& error) {
        log::Warn("stream: the LISTEN connection broke; reopening", {{"error", error.what()}});
        receiver_.reset();
        listener_.reset();
    }
}

std::vector<ChangeLogEntry> PgChangeFeed::After(int64_t after, const std::string& tenant_id,
                                                int limit) {
    return pool_.WithoutTransaction([&](pqxx::nontransaction& session) {
        auto rows = session.exec_params(kChangesSql, after, tenant_id, limit);
        std::vector<ChangeLogEntry> changes;
        changes.reserve(rows.size());
        for (const auto& r : rows) {
            ChangeLogEntry change;
            change.change_id = r[0].as<int64_t>();
            change.tenant_id = r[1].as<std::string>();
            change.store = StoreViewFrom(r, 2);
            changes.push_back(std::move(change));
        }
        return changes;
    });
}

int64_t PgChangeFeed::Head() {
    return pool_.WithoutTransaction(
        [](pqxx::nontransaction& session) { return session.exec(kHeadSql)[0][0].as<int64_t>(); });
}

int64_t PgChangeFeed::Oldest() {
    return pool_.WithoutTransaction(
        [](pqxx::nontransaction& session) { return session.exec(kOldestSql)[0][0].as<int64_t>(); });
}

}  // namespace storefleet::query
