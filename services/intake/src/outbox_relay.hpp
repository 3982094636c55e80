#pragma once

#include <condition_variable>
#include <mutex>
#include <thread>

#include "storefleet/common/shutdown.hpp"
#include "storefleet/kafka/publisher.hpp"
#include "storefleet/metrics/registry.hpp"
#include "storefleet/pg/pool.hpp"

namespace storefleet::intake {

// Publishes intake.outbox rows to Kafka in id order and marks them sent, on its own
// thread. Rows are claimed with FOR UPDATE SKIP LOCKED, so several intake replicas can
// relay side by side; a row is marked sent only after Kafka acknowledged it, so a crash
// re-sends (at least once; consumers are idempotent by event id). Wake() after a commit
// makes the relay look at once; otherwise it polls every `idle_poll`.
class OutboxRelay {
public:
    OutboxRelay(pg::Pool& pool, kafka::EventPublisher& publisher, metrics::Registry& registry,
                std::chrono::milliseconds idle_poll = std::chrono::milliseconds(200));
    ~OutboxRelay();
    OutboxRelay(const OutboxRelay&) = delete;
    OutboxRelay& operator=(const OutboxRelay&) = delete;

    void Start();
    void Stop();
    void Wake();
    // Relays one batch now; returns how many rows were sent. Public for tests.
    int RelayOnce();
    [[nodiscard]] bool Healthy() const { return healthy_.load(); }

private:
    void Run();

    pg::Pool& pool_;
    kafka::EventPublisher& publisher_;
    metrics::Counter& sent_;
    metrics::Counter& failures_;
    std::chrono::milliseconds idle_poll_;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool woken_ = false;
    ShutdownFlag stop_;
    std::atomic<bool> healthy_{true};
    std::thread thread_;
};

}  // namespace storefleet::intake
