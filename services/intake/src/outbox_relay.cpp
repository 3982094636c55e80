#include "outbox_relay.hpp"

#include <unistd.h>

#include <random>

#include "storefleet/common/backoff.hpp"
#include "storefleet/common/ids.hpp"
#include "storefleet/common/log.hpp"
#include "storefleet/pg/pool.hpp"

namespace storefleet::intake {
namespace {

constexpr const char* kSetApplicationName = "set application_name = 'storefleet-outbox-relay'";
// No statement of the relay may hang it: a stuck one fails, the session is dropped, and the
// relay starts over (losing the leadership).
constexpr const char* kSetStatementTimeout = "set statement_timeout = '15s'";
constexpr const char* kTryLock = "select pg_try_advisory_lock($1)";
// Who published last and for how much longer its messages may still land; one row.
constexpr const char* kReadLeader =
    "select holder, greatest(0, extract(epoch from (publish_until - now())) * 1000)::bigint "
    "from intake.outbox_relay where id = 1";
constexpr const char* kClaimLeader =
    "insert into intake.outbox_relay (id, holder, publish_until) values (1, $1, now()) "
    "on conflict (id) do update set holder = excluded.holder, publish_until = "
    "excluded.publish_until";
// Fencing: only the session that holds the lock, recorded as the leader, may publish. The
// lock check also catches a connection that libpqxx 6 re-opened behind our back (a new
// session, without the lock).
constexpr const char* kBeginPublish = R"SQL(
update intake.outbox_relay set publish_until = now() + $2 * interval '1 millisecond'
where id = 1 and holder = $1 and exists (
    select 1 from pg_locks where locktype = 'advisory' and granted and pid = pg_backend_pid()
    and objsubid = 1 and ((classid::bigint << 32) | objid::bigint) = $3))SQL";
constexpr const char* kReadBatch =
    "select id, topic, key, payload, "
    "(extract(epoch from (now() - created_at)) * 1000)::bigint "
    "from intake.outbox where sent_at is null order by id limit $1";
// Marks the batch sent and says nothing of ours is in flight any more, in one statement.
constexpr const char* kMarkSent =
    "with sent as (update intake.outbox set sent_at = now() where id = any($2::bigint[])) "
    "update intake.outbox_relay set publish_until = now() where id = 1 and holder = $1";
constexpr const char* kSettle =
    "update intake.outbox_relay set publish_until = now() where id = 1 and holder = $1";
constexpr const char* kPruneSent =
    "delete from intake.outbox where id in (select id from intake.outbox "
    "where sent_at < now() - $1 * interval '1 second' limit 5000)";
constexpr int kPruneChunk = 5000;
constexpr int kMaxPruneChunks = 20;

class PostgresOutboxLedger final : public OutboxLedger {
public:
    explicit PostgresOutboxLedger(const std::string& pg_url)
        : pg_url_(pg::WithConnectionDefaults(pg_url)) {}

    std::optional<std::chrono::milliseconds> TryLock(const std::string& identity) override {
        if (!connection_) {
            connection_ = std::make_unique<pqxx::connection>(pg_url_);
            pqxx::nontransaction session(*connection_);
            session.exec(kSetApplicationName);
            session.exec(kSetStatementTimeout);
        }
        pqxx::nontransaction session(*connection_);
        if (!session.exec_params(kTryLock, kOutboxLeaderLock)[0][0].as<bool>()) return std::nullopt;
        auto previous = session.exec(kReadLeader);
        if (previous.empty() || previous[0][0].as<std::string>() == identity)
            return std::chrono::milliseconds(0);
        return std::chrono::milliseconds(previous[0][1].as<int64_t>());
    }

    void Claim(const std::string& identity) override {
        pqxx::nontransaction session(Connection());
        session.exec_params(kClaimLeader, identity);
    }

    OutboxBatch ReadBatch(int limit) override {
        pqxx::nontransaction session(Connection());
        auto rows = session.exec_params(kReadBatch, limit);
        OutboxBatch batch;
        batch.rows.reserve(rows.size());
        for (const auto& row : rows) {
            pqxx::binarystring payload(row[3]);
            batch.rows.push_back({row[0].as<int64_t>(), row[1].as<std::string>(),
                                  row[2].as<std::string>(), payload.str()});
        }
        if (!rows.empty())
            batch.oldest_age =
                std::chrono::milliseconds(std::max<int64_t>(0, rows[0][4].as<int64_t>()));
        return batch;
    }

    bool BeginPublish(const std::string& identity, std::chrono::milliseconds in_flight) override {
        pqxx::nontransaction session(Connection());
        return session.exec_params(kBeginPublish, identity, in_flight.count(), kOutboxLeaderLock)
                   .affected_rows() == 1;
    }

    void MarkSent(const std::string& identity, const std::vector<int64_t>& ids) override {
        std::string array = "{";
        for (const auto id : ids) {
            if (array.size() > 1) array += ",";
            array += std::to_string(id);
        }
        array += "}";
        pqxx::nontransaction session(Connection());
        session.exec_params(kMarkSent, identity, array);
    }

    void Settle(const std::string& identity) override {
        pqxx::nontransaction session(Connection());
        session.exec_params(kSettle, identity);
    }

    int64_t PruneSent(std::chrono::seconds age) override {
        int64_t pruned = 0;
        for (int chunk = 0; chunk < kMaxPruneChunks; ++chunk) {
            pqxx::nontransaction session(Connection());
            const auto deleted = session.exec_params(kPruneSent, age.count()).affected_rows();
            pruned += static_cast<int64_t>(deleted);
            if (deleted < kPruneChunk) break;
        }
        return pruned;
    }

    void Close() override { connection_.reset(); }

private:
    pqxx::connection& Connection() {
        // Only TryLock opens the session: any other call without one has lost the lock.
        if (!connection_) throw pqxx::broken_connection("the outbox relay's session is closed");
        return *connection_;
    }

    std::string pg_url_;
    std::unique_ptr<pqxx::connection> connection_;
};

std::string Hostname() {
    char name[256] = {};
    if (gethostname(name, sizeof(name) - 1) != 0) return "intake";
    return name;
}

}  // namespace

std::unique_ptr<OutboxLedger> NewPostgresOutboxLedger(const std::string& pg_url) {
    return std::make_unique<PostgresOutboxLedger>(pg_url);
}

OutboxRelay::OutboxRelay(std::unique_ptr<OutboxLedger> ledger, kafka::EventPublisher& publisher,
                         metrics::Registry& registry, Options options)
    : ledger_(std::move(ledger)),
      publisher_(publisher),
      options_(options),
      identity_(Hostname() + "/" + std::to_string(getpid()) + "/" + NewUuid().substr(0, 8)),
      sent_(registry.GetCounter("storefleet_outbox_sent_total", "Outbox rows published to Kafka.")),
      failures_(registry.GetCounter("storefleet_outbox_failures_total",
                                    "Outbox steps that failed on Kafka or Postgres (retried).")),
      leader_gauge_(registry.GetGauge("storefleet_outbox_leader",
                                      "1 while this replica's relay publishes the outbox.")),
      oldest_unsent_(
          registry.GetGauge("storefleet_outbox_oldest_unsent_seconds",
                            "Age of the oldest outbox row not yet published (leader only).")) {}

OutboxRelay::OutboxRelay(const std::string& pg_url, kafka::EventPublisher& publisher,
                         metrics::Registry& registry, Options options)
    : OutboxRelay(NewPostgresOutboxLedger(pg_url), publisher, registry, options) {}

OutboxRelay::~OutboxRelay() { Stop(); }

void OutboxRelay::Start() {
    thread_ = std::thread([this] { Run(); });
}

void OutboxRelay::Stop() {
    stop_.Trigger();
    Wake();
    if (thread_.joinable()) thread_.join();
    if (leader_.load()) LoseLeadership("stopping");
    ledger_->Close();  // closing the session releases the lock at once
}

void OutboxRelay::Wake() {
    {
        std::lock_guard lock(mutex_);
        woken_ = true;
    }
    wake_.notify_one();
}

bool OutboxRelay::Healthy() const {
    if (!leader_.load()) return true;
    if (!publish_ok_.load()) return false;
    const int64_t since = oldest_unsent_since_ns_.load();
    if (since == 0) return true;
    const auto age = Clock::now().time_since_epoch() - std::chrono::nanoseconds(since);
    return age <= options_.max_unsent_age;
}

void OutboxRelay::LoseLeadership(const std::string& why) {
    if (leader_.exchange(false))
        log::Warn("outbox relay is no longer the leader", {{"relay", identity_}, {"why", why}});
    leader_gauge_.Set(0);
    oldest_unsent_.Set(0);
    oldest_unsent_since_ns_ = 0;
    ledger_->Close();  // if the session still lives, closing it releases the lock
}

bool OutboxRelay::TryLead() {
    if (leader_.load()) return true;
    auto wait = ledger_->TryLock(identity_);
    if (!wait) return false;
    // Leader now. If another relay published last, its messages may still be in flight:
    // wait until they can no longer land, so ours always come after them.
    if (wait->count() > 0) {
        log::Info("outbox relay takes over; waiting for the previous leader's messages to settle",
                  {{"relay", identity_}, {"wait_ms", wait->count()}});
        if (stop_.WaitFor(*wait)) return false;
    }
    ledger_->Claim(identity_);
    leader_ = true;
    publish_ok_ = true;
    leader_gauge_.Set(1);
    next_prune_ = Clock::now();
    log::Info("outbox relay is the leader", {{"relay", identity_}});
    return true;
}

void OutboxRelay::NoteBacklog(const OutboxBatch& batch) {
    if (batch.rows.empty()) {
        oldest_unsent_since_ns_ = 0;
        oldest_unsent_.Set(0);
        return;
    }
    const auto since = Clock::now().time_since_epoch() - batch.oldest_age;
    oldest_unsent_since_ns_ =
        std::max<int64_t>(1, std::chrono::duration_cast<std::chrono::nanoseconds>(since).count());
    oldest_unsent_.Set(std::chrono::duration<double>(batch.oldest_age).count());
}

int OutboxRelay::RelayOnce() {
    OutboxBatch batch;
    try {
        if (!TryLead()) return 0;
        batch = ledger_->ReadBatch(options_.batch_size);
        NoteBacklog(batch);
        if (batch.rows.empty()) {
            publish_ok_ = true;
            return 0;
        }
        if (!ledger_->BeginPublish(identity_,
                                   options_.publish_timeout + options_.message_timeout)) {
            LoseLeadership("the lock or the leader record is no longer ours");
            return 0;
        }
    } catch (...) {
        LoseLeadership("its Postgres session failed");
        throw;
    }
    std::vector<kafka::OutgoingMessage> messages;
    std::vector<int64_t> ids;
    messages.reserve(batch.rows.size());
    ids.reserve(batch.rows.size());
    for (auto& row : batch.rows) {
        ids.push_back(row.id);
        messages.push_back({std::move(row.topic), std::move(row.key), std::move(row.payload), {}});
    }
    const auto started = Clock::now();
    // PublishAndWait returns only once every message has reported (acknowledged, failed or
    // timed out), so afterwards nothing of ours is in flight.
    auto status = publisher_.PublishAndWait(messages, options_.publish_timeout);
    publish_ok_ = status.ok();
    try {
        if (status.ok()) {
            ledger_->MarkSent(identity_, ids);
        } else {
            ledger_->Settle(identity_);
        }
    } catch (...) {
        LoseLeadership("its Postgres session failed");
        throw;
    }
    if (!status.ok()) throw PublishFailed(status.error().message);
    log::Debug(
        "outbox batch published",
        {{"rows", ids.size()},
         {"first_id", ids.front()},
         {"duration_ms",
          std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count()}});
    return static_cast<int>(ids.size());
}

void OutboxRelay::MaybePrune() {
    if (!leader_.load() || Clock::now() < next_prune_) return;
    next_prune_ = Clock::now() + options_.prune_interval;
    try {
        const auto pruned = ledger_->PruneSent(options_.prune_after);
        if (pruned > 0) log::Info("outbox pruned", {{"rows", pruned}});
    } catch (...) {
        LoseLeadership("its Postgres session failed");
        throw;
    }
}

void OutboxRelay::Run() {
    std::mt19937 jitter(std::random_device{}());
    Backoff backoff(std::chrono::milliseconds(100), std::chrono::milliseconds(5000));
    auto wait_backoff = [&] { stop_.WaitFor(backoff.NextWithJitter(jitter)); };
    while (!stop_.Triggered()) {
        int sent = 0;
        try {
            sent = RelayOnce();
            sent_.Inc(sent);
            backoff.Reset();
            MaybePrune();
        } catch (const PublishFailed& error) {
            // Still the leader: the same batch, in the same order, is tried again.
            failures_.Inc();
            log::Warn("outbox relay cannot publish; will retry the batch",
                      {{"error", error.what()}, {"backoff_ms", backoff.Peek().count()}});
            wait_backoff();
            continue;
        } catch (const std::exception& error) {
            // The session, and with it the lock, is gone: another relay may lead now.
            failures_.Inc();
            log::Warn("outbox relay cannot reach Postgres; will retry",
                      {{"error", error.what()}, {"backoff_ms", backoff.Peek().count()}});
            wait_backoff();
            continue;
        }
        if (sent > 0) continue;  // there may be more
        std::unique_lock lock(mutex_);
        // A standby ignores wake-ups: it only tries the lock every standby_poll.
        wake_.wait_for(lock, leader_.load() ? options_.idle_poll : options_.standby_poll,
                       [this] { return (woken_ && leader_.load()) || stop_.Triggered(); });
        woken_ = false;
    }
}

}  // namespace storefleet::intake
