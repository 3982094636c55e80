#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "provisioner.hpp"
#include "storefleet/kafka/consumer.hpp"
#include "storefleet/kafka/offset_tracker.hpp"
#include "storefleet/metrics/registry.hpp"

namespace storefleet::provisioner {

// Runs many store commands at once while keeping each store's commands in order.
//
// Threads: Run() is the consumer thread (the only one touching the Kafka consumer, the
// offset trackers and the per-store queues); `max_in_flight` worker threads execute
// commands. A finished command goes back to the consumer thread through a queue; its
// partition's offset is committed only up to the oldest command not yet finished, so a
// crash replays unfinished commands and never skips one.
//
// A deletion queued behind a running provisioning of the same store cancels it (the
// deletion supersedes it). When `max_in_flight` commands are queued beyond the running
// ones, consumption pauses until the backlog drains.
class CommandDispatcher {
public:
    // Runs one command; returns whether it finished (commit) or was cancelled by shutdown.
    using Handler = std::function<Outcome(const v1::Envelope&, const CancelToken&)>;
    // Receives bytes that are not a valid command (for the dead-letter topic).
    using DeadLetter = std::function<void(const kafka::ConsumedMessage&, const std::string& reason)>;

    CommandDispatcher(kafka::KafkaConsumer::Options consumer_options, Handler handler,
                      DeadLetter dead_letter, std::size_t max_in_flight, metrics::Registry& registry,
                      const ShutdownFlag& shutdown);
    ~CommandDispatcher();
    CommandDispatcher(const CommandDispatcher&) = delete;
    CommandDispatcher& operator=(const CommandDispatcher&) = delete;

    // Consumes until shutdown, then waits for running commands to stop and leaves the group.
    void Run();
    [[nodiscard]] bool Assigned() const { return assigned_.load(); }

private:
    struct Task {
        v1::Envelope command;
        std::string topic;
        int32_t partition = 0;
        int64_t offset = 0;
        std::shared_ptr<CancelToken> cancel;
        Outcome outcome = Outcome::kFinished;
    };
    struct StoreQueue {
        bool running = false;
        std::shared_ptr<CancelToken> running_cancel;
        bool running_is_provision = false;
        std::deque<std::unique_ptr<Task>> waiting;
    };
    using PartitionKey = std::pair<std::string, int32_t>;

    void Accept(kafka::ConsumedMessage message);
    void Schedule(std::unique_ptr<Task> task);
    void Complete(std::unique_ptr<Task> task);
    void WorkerLoop();
    void DrainCompletions();
    void UpdateFlowControl();

    kafka::KafkaConsumer::Options consumer_options_;
    std::unique_ptr<kafka::KafkaConsumer> consumer_;
    Handler handler_;
    DeadLetter dead_letter_;
    std::size_t max_in_flight_;
    const ShutdownFlag& shutdown_;

    // Consumer thread only.
    std::map<PartitionKey, kafka::OffsetTracker> trackers_;
    std::unordered_map<std::string, StoreQueue> stores_;
    std::vector<PartitionKey> assignment_;
    std::size_t outstanding_ = 0;  // accepted, not yet completed
    bool paused_ = false;
    std::atomic<bool> assigned_{false};

    // Shared with workers.
    std::mutex mutex_;
    std::condition_variable work_ready_;
    std::deque<std::unique_ptr<Task>> ready_;
    std::deque<std::unique_ptr<Task>> done_;
    bool stopping_ = false;
    std::size_t running_ = 0;  // taken by a worker, not yet in done_
    std::vector<std::thread> workers_;

    metrics::Gauge& in_flight_gauge_;
    metrics::Gauge& backlog_gauge_;
    metrics::Counter& commands_total_;
    metrics::Counter& dead_letters_;
};

}  // namespace storefleet::provisioner
