#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <pqxx/pqxx>
#include <string>
#include <thread>

#include "storefleet/common/shutdown.hpp"
#include "storefleet/kafka/publisher.hpp"
#include "storefleet/metrics/registry.hpp"

namespace storefleet::intake {

// Publishes intake.outbox rows to Kafka in id order and marks them sent, on its own thread.
//
// One publisher at a time, whatever number of intake replicas run: the relay that holds
// the Postgres advisory lock kOutboxLeaderLock (session level, on a connection of its own,
// not from the pool) publishes; the others stand by and try again every `standby_poll`.
// So a store's commands reach Kafka in the order intake accepted them. A leader whose
// connection breaks has lost the lock and stops at once.
//
// No transaction, row lock or pooled connection is held while waiting for Kafka: the
// leader reads a batch (autocommit), publishes it, then marks it sent (autocommit). A crash
// in between re-sends the batch, in order (at least once; consumers dedupe by event id).
// Before each publish the leader records in intake.outbox_relay until when that publish
// may still land (Postgres' clock); a relay that takes over from another waits until then,
// so an old leader's late messages can never land after the new leader's.
//
// Healthy() is false while the leader cannot publish or cannot reach Postgres (for
// /readyz); a standby is healthy.
class OutboxRelay {
public:
    struct Options {
        std::chrono::milliseconds idle_poll{200};
        std::chrono::milliseconds standby_poll{1000};
        // PublishAndWait's bound; a publish may land up to this plus the producer's
        // message timeout (30 s) after it started.
        std::chrono::milliseconds publish_timeout{15'000};
        std::chrono::milliseconds message_timeout{30'000};
        int batch_size = 500;
    };

    OutboxRelay(std::string pg_url, kafka::EventPublisher& publisher, metrics::Registry& registry,
                Options options);
    OutboxRelay(std::string pg_url, kafka::EventPublisher& publisher, metrics::Registry& registry)
        : OutboxRelay(std::move(pg_url), publisher, registry, Options{}) {}
    ~OutboxRelay();
    OutboxRelay(const OutboxRelay&) = delete;
    OutboxRelay& operator=(const OutboxRelay&) = delete;

    void Start();
    void Stop();
    void Wake();
    // One step of the loop, public for tests: takes leadership if it can, then relays one
    // batch. Returns rows sent; 0 when idle or standing by. Throws on Postgres or Kafka
    // failures (leadership is kept only while its connection lives).
    int RelayOnce();
    [[nodiscard]] bool Healthy() const { return healthy_.load(); }
    [[nodiscard]] bool Leader() const { return leader_.load(); }
    [[nodiscard]] std::string Identity() const { return identity_; }

private:
    void Run();
    bool TryLead();
    void DropConnection();

    std::string pg_url_;
    kafka::EventPublisher& publisher_;
    Options options_;
    std::string identity_;
    std::unique_ptr<pqxx::connection> connection_;  // relay thread only
    metrics::Counter& sent_;
    metrics::Counter& failures_;
    metrics::Gauge& leader_gauge_;
    metrics::Gauge& oldest_unsent_;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool woken_ = false;
    ShutdownFlag stop_;
    std::atomic<bool> healthy_{true};
    std::atomic<bool> leader_{false};
    std::thread thread_;
};

// The advisory lock key of the outbox leader (any constant agreed by every replica).
inline constexpr int64_t kOutboxLeaderLock = 0x53544f5245464c54;  // "STOREFLT"

}  // namespace storefleet::intake
