#include "outbox_relay.hpp"

#include <unistd.h>

#include <random>

#include "storefleet/common/ids.hpp"
#include "storefleet/common/log.hpp"

namespace storefleet::intake {
namespace {

constexpr const char* kTryLock = "select pg_try_advisory_lock($1)";
// Who published last and until when its messages may still land; one row.
constexpr const char* kReadLeader =
    "select holder, greatest(0, extract(epoch from (publish_until - now())) * 1000)::bigint "
    "from intake.outbox_relay where id = 1";
constexpr const char* kClaimLeader =
    "insert into intake.outbox_relay (id, holder, publish_until) values (1, $1, now()) "
    "on conflict (id) do update set holder = excluded.holder";
constexpr const char* kPublishing =
    "update intake.outbox_relay set publish_until = now() + $1 * interval '1 millisecond' where id = 1";
constexpr const char* kReadBatch =
    "select id, topic, key, payload, extract(epoch from (now() - created_at))::float8 "
    "from intake.outbox where sent_at is null order by id limit $1";
// Marks the batch sent and says nothing of ours is in flight any more, in one statement.
constexpr const char* kMarkSent =
    "with sent as (update intake.outbox set sent_at = now() where id = any($1::bigint[])) "
    "update intake.outbox_relay set publish_until = now() where id = 1";
constexpr const char* kPruneSent =
    "delete from intake.outbox where id in (select id from intake.outbox "
    "where sent_at < now() - interval '1 hour' limit 5000)";

std::string Hostname() {
    char name[256] = {};
    if (gethostname(name, sizeof(name) - 1) != 0) return "intake";
    return name;
}

}  // namespace

OutboxRelay::OutboxRelay(std::string pg_url, kafka::EventPublisher& publisher, metrics::Registry& registry,
                         Options options)
    : pg_url_(std::move(pg_url)),
      publisher_(publisher),
      options_(options),
      identity_(Hostname() + "/" + std::to_string(getpid()) + "/" + NewUuid().substr(0, 8)),
      sent_(registry.GetCounter("storefleet_outbox_sent_total", "Outbox rows published to Kafka.")),
      failures_(registry.GetCounter("storefleet_outbox_failures_total",
                                    "Outbox batches that could not be published (retried).")),
      leader_gauge_(registry.GetGauge("storefleet_outbox_leader", "1 while this replica's relay publishes the outbox.")),
      oldest_unsent_(registry.GetGauge("storefleet_outbox_oldest_unsent_seconds",
                                       "Age of the oldest outbox row not yet published (leader only).")) {}

OutboxRelay::~OutboxRelay() { Stop(); }

void OutboxRelay::Start() { thread_ = std::thread([this] { Run(); }); }

void OutboxRelay::Stop() {
    stop_.Trigger();
    Wake();
    if (thread_.joinable()) thread_.join();
    DropConnection();
}

void OutboxRelay::Wake() {
    {
        std::lock_guard lock(mutex_);
        woken_ = true;
    }
    wake_.notify_one();
}

void OutboxRelay::DropConnection() {
    if (leader_.exchange(false)) log::Warn("outbox relay is no longer the leader", {{"relay", identity_}});
    leader_gauge_.Set(0);
    connection_.reset();  // closing the session releases the advisory lock
}

bool OutboxRelay::TryLead() {
    if (leader_.load()) return true;
    if (!connection_) connection_ = std::make_unique<pqxx::connection>(pg_url_);
    pqxx::nontransaction session(*connection_);
    if (!session.exec_params(kTryLock, kOutboxLeaderLock)[0][0].as<bool>()) return false;
    // Leader now. If another relay published last, its messages may still be in flight:
    // wait until they can no longer land, so ours always come after them.
    auto previous = session.exec(kReadLeader);
    if (!previous.empty() && previous[0][0].as<std::string>() != identity_) {
        const auto wait = std::chrono::milliseconds(previous[0][1].as<int64_t>());
        if (wait.count() > 0) {
            log::Info("outbox relay takes over; waiting for the previous leader's messages to settle",
                      {{"relay", identity_}, {"previous", previous[0][0].as<std::string>()},
                       {"wait_ms", wait.count()}});
            if (stop_.WaitFor(wait)) return false;
        }
    }
    session.exec_params(kClaimLeader, identity_);
    leader_ = true;
    leader_gauge_.Set(1);
    log::Info("outbox relay is the leader", {{"relay", identity_}});
    return true;
}

int OutboxRelay::RelayOnce() {
    if (!TryLead()) return 0;
    pqxx::nontransaction session(*connection_);
    auto rows = session.exec_params(kReadBatch, options_.batch_size);
    if (rows.empty()) {
        oldest_unsent_.Set(0);
        return 0;
    }
    oldest_unsent_.Set(rows[0][4].as<double>());
    std::vector<kafka::OutgoingMessage> messages;
    messages.reserve(rows.size());
    std::string ids = "{";
    for (const auto& row : rows) {
        pqxx::binarystring payload(row[3]);
        messages.push_back({row[1].as<std::string>(), row[2].as<std::string>(), payload.str()});
        if (ids.size() > 1) ids += ",";
        ids += row[0].as<std::string>();
    }
    ids += "}";
    session.exec_params(kPublishing, (options_.publish_timeout + options_.message_timeout).count());
    auto status = publisher_.PublishAndWait(messages, options_.publish_timeout);
    if (!status.ok()) throw std::runtime_error(status.error().message);
    session.exec_params(kMarkSent, ids);
    return static_cast<int>(rows.size());
}

void OutboxRelay::Run() {
    std::mt19937 jitter(std::random_device{}());
    auto backoff = std::chrono::milliseconds(100);
    int batches = 0;
    while (!stop_.Triggered()) {
        int sent = 0;
        try {
            sent = RelayOnce();
            sent_.Inc(sent);
            healthy_ = true;
            backoff = std::chrono::milliseconds(100);
            if (sent > 0 && ++batches % 1000 == 0) {
                pqxx::nontransaction session(*connection_);
                session.exec(kPruneSent);
            }
        } catch (const pqxx::broken_connection& error) {
            // The session, and with it the lock, is gone: another relay may lead now.
            failures_.Inc();
            healthy_ = false;
            DropConnection();
            log::Warn("outbox relay lost Postgres; will retry", {{"error", error.what()}});
            stop_.WaitFor(backoff);
            backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
            continue;
        } catch (const std::exception& error) {
            failures_.Inc();
            healthy_ = false;
            log::Warn("outbox relay failed; will retry", {{"error", error.what()},
                                                           {"backoff_ms", backoff.count()}});
            if (connection_ && !connection_->is_open()) DropConnection();
            auto wait = backoff + std::chrono::milliseconds(jitter() % (backoff.count() / 2 + 1));
            stop_.WaitFor(wait);
            backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
            continue;
        }
        if (sent > 0) continue;  // there may be more
        std::unique_lock lock(mutex_);
        // A standby ignores wake-ups: it only checks the lock every standby_poll.
        wake_.wait_for(lock, leader_.load() ? options_.idle_poll : options_.standby_poll,
                       [this] { return woken_ && leader_.load(); });
        woken_ = false;
    }
}

}  // namespace storefleet::intake
