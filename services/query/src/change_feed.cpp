#include "change_feed.hpp"

#include "store_reader.hpp"
#include "storefleet/common/ids.hpp"
#include "storefleet/common/log.hpp"

namespace storefleet::query {
namespace {

constexpr const char* kChangesSql =
    "select change_id, tenant_id, " STOREFLEET_STORE_VIEW_COLUMNS
    " from read.store_changes where change_id > $1 and ($2 = '' or tenant_id = $2) "
    "order by change_id limit $3";
constexpr const char* kHeadSql = "select coalesce(max(change_id), 0) from read.store_changes";
constexpr const char* kOldestSql = "select coalesce(min(change_id), 0) from read.store_changes";
// Intake's view for this stream (its migration 14): the rollouts named, or the active ones and
// those over for less than a minute (their last change may be what was missed).
constexpr const char* kRolloutsSql =
    "select rollout_id::text, engine, target_version, state, coalesce(reason, ''), "
    "to_char(updated_at at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), wave, waves, "
    "canary_passed, active, counts_by_wave::text, failures::text from intake.rollout_progress "
    "where ($1 and (active or updated_at > now() - interval '1 minute')) "
    "or rollout_id = any($2::uuid[]) order by rollout_id";

// A Postgres array literal of uuids (they need no quoting).
std::string UuidArray(const std::set<std::string>& ids) {
    std::string literal = "{";
    for (const auto& id : ids) {
        if (literal.size() > 1) literal += ',';
        literal += id;
    }
    return literal + "}";
}

}  // namespace

class PgChangeFeed::Receiver final : public pqxx::notification_receiver {
public:
    explicit Receiver(pqxx::connection_base& connection)
        : pqxx::notification_receiver(connection, "store_changed") {}
    void operator()(const std::string&, int) override {}
};

// Collects the ids intake's trigger sends (migration 14); malformed payloads are dropped, as
// the uuid cast would fail the whole read.
class PgChangeFeed::RolloutReceiver final : public pqxx::notification_receiver {
public:
    RolloutReceiver(pqxx::connection_base& connection, RolloutChanges& changes)
        : pqxx::notification_receiver(connection, "rollout_changed"), changes_(changes) {}
    void operator()(const std::string& payload, int) override {
        if (IsUuid(payload)) changes_.ids.insert(payload);
    }

private:
    RolloutChanges& changes_;
};

PgChangeFeed::PgChangeFeed(const std::string& pg_url, pg::Pool& pool)
    : pg_url_(pg::WithConnectionDefaults(pg_url)), pool_(pool) {}

PgChangeFeed::~PgChangeFeed() { StopListening(); }

void PgChangeFeed::StopListening() {
    rollout_receiver_.reset();
    receiver_.reset();
    listener_.reset();
}

void PgChangeFeed::Listen() {
    StopListening();
    // Whatever was notified while nobody listened is lost: the next look reads every active
    // rollout (the server sends only what differs from what it sent).
    rollout_changes_.all_active = true;
    try {
        listener_ = std::make_unique<pqxx::connection>(pg_url_);
        receiver_ = std::make_unique<Receiver>(*listener_);
        rollout_receiver_ = std::make_unique<RolloutReceiver>(*listener_, rollout_changes_);
        // The LISTEN is sent lazily; a no-op round trip makes it take effect now.
        listener_->get_notifs();
        pqxx::nontransaction(*listener_).exec("select 1");
    } catch (const std::exception& error) {
        log::Warn("stream: cannot LISTEN for store changes; polling", {{"error", error.what()}});
        StopListening();
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
        StopListening();
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

RolloutChanges PgChangeFeed::TakeRolloutChanges() {
    RolloutChanges taken = std::move(rollout_changes_);
    rollout_changes_ = {};
    // Without a LISTEN (polling), every look reads the active rollouts.
    if (!listener_) taken.all_active = true;
    return taken;
}

std::vector<RolloutProgress> PgChangeFeed::Rollouts(const RolloutChanges& which) {
    return pool_.WithoutTransaction([&](pqxx::nontransaction& session) {
        auto rows = session.exec_params(kRolloutsSql, which.all_active, UuidArray(which.ids));
        std::vector<RolloutProgress> rollouts;
        rollouts.reserve(rows.size());
        for (const auto& r : rows) {
            RolloutProgress progress;
            progress.rollout_id = r[0].as<std::string>();
            progress.engine = r[1].as<std::string>();
            progress.target_version = r[2].as<std::string>();
            progress.state = r[3].as<std::string>();
            progress.reason = r[4].as<std::string>();
            progress.updated_at = r[5].as<std::string>();
            progress.wave = r[6].as<int>();
            progress.waves = r[7].as<int>();
            progress.canary_passed = r[8].as<bool>();
            progress.active = r[9].as<bool>();
            progress.counts_by_wave = nlohmann::json::parse(r[10].as<std::string>());
            progress.failures = nlohmann::json::parse(r[11].as<std::string>());
            rollouts.push_back(std::move(progress));
        }
        return rollouts;
    });
}

}  // namespace storefleet::query
