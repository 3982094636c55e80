#pragma once

#include <pqxx/pqxx>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "storefleet/common/shutdown.hpp"
#include "storefleet/kafka/publisher.hpp"
#include "storefleet/metrics/registry.hpp"

namespace storefleet::intake {

// The advisory lock key of the outbox leader (any constant agreed by every replica).
inline constexpr int64_t kOutboxLeaderLock = 0x53544f5245464c54;  // "STOREFLT"

struct OutboxRow {
    int64_t id = 0;
    std::string topic;
    std::string key;
    std::string payload;
};

struct OutboxBatch {
    std::vector<OutboxRow> rows;  // in id order
    // Age of the oldest unsent row (the first), on Postgres' clock; 0 when empty.
    std::chrono::milliseconds oldest_age{0};
};

// The relay's session with Postgres: one connection of its own, never from the pool, whose
// life is the leadership (a session-level advisory lock dies with its session). Every call
// is an autocommit statement: no transaction, no row lock. Any exception means the session
// is gone or unusable; the relay then calls Close() and is no longer the leader.
// Used only from the relay's thread. The process edge that unit tests substitute.
class OutboxLedger {
public:
    virtual ~OutboxLedger() = default;
    // Opens the session if needed and tries to take the leader lock without waiting.
    // nullopt: another relay holds it. Otherwise how long, from now, messages published by
    // the previous leader (another relay) may still land; 0 if nothing can be in flight.
    virtual std::optional<std::chrono::milliseconds> TryLock(const std::string& identity) = 0;
    // Records `identity` as the relay that publishes from now on (after any wait).
    virtual void Claim(const std::string& identity) = 0;
    // Up to `limit` unsent rows, in id order.
    virtual OutboxBatch ReadBatch(int limit) = 0;
    // Fencing, just before a publish: checks this session still holds the lock and
    // `identity` is the recorded leader, and records that what it publishes now may land
    // until now + `in_flight`. False: leadership is lost, do not publish.
    virtual bool BeginPublish(const std::string& identity, std::chrono::milliseconds in_flight) = 0;
    // After the publisher acknowledged `ids`: marks them sent and records that nothing of
    // `identity` is in flight any more.
    virtual void MarkSent(const std::string& identity, const std::vector<int64_t>& ids) = 0;
    // After a failed publish returned (every message reported, none still queued):
    // nothing of `identity` is in flight any more.
    virtual void Settle(const std::string& identity) = 0;
    // Deletes sent rows older than `age`; returns how many.
    virtual int64_t PruneSent(std::chrono::seconds age) = 0;
    // Closes the session, which releases the lock.
    virtual void Close() = 0;
};

// The ledger on Postgres (schema intake): the lock is pg_try_advisory_lock(kOutboxLeaderLock)
// on a connection opened from `pg_url` with application_name "storefleet-outbox-relay".
std::unique_ptr<OutboxLedger> NewPostgresOutboxLedger(const std::string& pg_url);

// Publishes intake.outbox rows to Kafka in id order and marks them sent, on its own thread.
//
// One publisher at a time, whatever number of intake replicas run: the relay holding the
// leader lock publishes; the others stand by and try the lock again every `standby_poll`.
// So a store's commands reach Kafka in the order intake accepted them (a store's later
// command is inserted only after its earlier one committed, so it has a larger id and is
// never visible before it). A leader whose session breaks has lost the lock: it stops at
// once, and it publishes nothing after BeginPublish saw the lock gone.
//
// No transaction, row lock or pooled connection is held while waiting for Kafka: the
// leader reads a batch, publishes it with PublishAndWait (bounded by `publish_timeout`, then
// by the producer's message timeout), then marks it sent, each in autocommit. The next
// batch is read only after the previous one was acknowledged and marked, so row N+1 is
// never published before row N is acknowledged. A crash between publish and mark re-sends
// the batch, in order (at least once; consumers dedupe by event id). A relay taking over
// from another waits until the previous leader's last publish can no longer land.
//
// Healthy() (for /readyz) is false while this relay leads and cannot publish: its last
// publish failed, or the oldest unsent row is older than `max_unsent_age` (which also
// catches a relay stuck in a wait). A standby is healthy.
//
// Lifecycle: Start() runs the loop on a thread of its own until Stop(); Wake() and the
// accessors are thread-safe. RelayOnce() is for tests that drive the loop by hand (without
// Start()).
class OutboxRelay {
public:
    struct Options {
        std::chrono::milliseconds idle_poll{200};
        std::chrono::milliseconds standby_poll{1000};
        // PublishAndWait's bound; a publish may land up to this plus the producer's
        // message timeout after it started.
        std::chrono::milliseconds publish_timeout{15'000};
        std::chrono::milliseconds message_timeout{30'000};
        int batch_size = 500;
        std::chrono::milliseconds max_unsent_age{60'000};
        // The leader deletes rows sent more than `prune_after` ago every `prune_interval`.
        std::chrono::milliseconds prune_interval{600'000};
        std::chrono::seconds prune_after{3600};
    };

    OutboxRelay(std::unique_ptr<OutboxLedger> ledger, kafka::EventPublisher& publisher,
                metrics::Registry& registry, Options options);
    OutboxRelay(const std::string& pg_url, kafka::EventPublisher& publisher,
                metrics::Registry& registry, Options options);
    OutboxRelay(const std::string& pg_url, kafka::EventPublisher& publisher,
                metrics::Registry& registry)
        : OutboxRelay(pg_url, publisher, registry, Options{}) {}
    ~OutboxRelay();
    OutboxRelay(const OutboxRelay&) = delete;
    OutboxRelay& operator=(const OutboxRelay&) = delete;

    void Start();
    void Stop();
    void Wake();
    // One step of the loop: takes the leadership if it can, then relays one batch. Returns
    // the rows sent; 0 when idle or standing by. Throws PublishFailed when Kafka did not
    // acknowledge the batch (the leadership is kept; the batch is retried whole), and the
    // ledger's exception when Postgres failed (the leadership is dropped first).
    int RelayOnce();
    [[nodiscard]] bool Healthy() const;
    // True from taking the lock until this relay notices it lost it (at its next statement
    // on the session), so it may lag a killed session for a moment; publishing never does:
    // it is fenced on the session itself.
    [[nodiscard]] bool Leader() const { return leader_.load(); }
    [[nodiscard]] std::string Identity() const { return identity_; }

    class PublishFailed : public std::runtime_error {
    public:
        using std::runtime_error::runtime_error;
    };

private:
    using Clock = std::chrono::steady_clock;
    void Run();
    bool TryLead();
    void LoseLeadership(const std::string& why);
    void NoteBacklog(const OutboxBatch& batch);
    void MaybePrune();

    std::unique_ptr<OutboxLedger> ledger_;  // relay thread only
    kafka::EventPublisher& publisher_;
    Options options_;
    std::string identity_;
    metrics::Counter& sent_;
    metrics::Counter& failures_;
    metrics::Gauge& leader_gauge_;
    metrics::Gauge& oldest_unsent_;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool woken_ = false;
    ShutdownFlag stop_;
    std::atomic<bool> leader_{false};
    std::atomic<bool> publish_ok_{true};
    // When the oldest unsent row was created, on the steady clock (estimated from its age
    // when read); 0 when there was none.
    std::atomic<int64_t> oldest_unsent_since_ns_{0};
    Clock::time_point next_prune_{};
    std::thread thread_;
};

}  // namespace storefleet::intake
