#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>
#include <vector>

#include "admission.hpp"
#include "admission_permit.hpp"
#include "cancel.hpp"
#include "command.hpp"
#include "storefleet/common/result.hpp"
#include "storefleet/common/shutdown.hpp"
#include "storefleet/kafka/consumer.hpp"
#include "storefleet/kafka/offset_tracker.hpp"
#include "storefleet/metrics/registry.hpp"

namespace storefleet::provisioner {

// Runs many store commands at once while keeping each store's commands in order, and
// hands partitions over cleanly when the consumer group rebalances.
//
// Threads: Run() is the consumer thread (the only one touching the Kafka consumer, the
// offset trackers and the per-store queues; the rebalance hooks run on it inside Poll);
// `max_in_flight` worker threads execute commands. A finished command goes back to the
// consumer thread through a queue; its partition's offset is committed only up to the
// oldest command not yet finished, so a crash replays unfinished commands and never
// skips one.
//
// Rebalances: when partitions are revoked, their queued commands are dropped, their
// running ones cancelled (Helm's process group is killed) and waited for, what finished
// is committed synchronously, and only then does the revoke return, so the next owner
// starts exactly after what this one finished and never runs a store beside it. Each
// assignment of a partition is a new generation; a command of an older generation that
// completes late changes nothing.
//
// Failures: a handler that throws is retried with backoff; after `max_attempts` the
// store is reported Failed (Options::report_given_up), then the command goes to the
// dead-letter topic with the reason, and its offset is committed only once both were
// acknowledged. Undecodable messages go there at once, likewise.
// A command whose store lease was lost (CommandOutcome::kRetry) is retried without counting.
//
// A command queued behind commands of the same store supersedes those it makes pointless
// (SupersedesCommand): the running one is cancelled and committed, queued ones end at once
// when their turn comes, so a store converges to its newest generation, never to one in
// between. When `max_in_flight` commands are queued beyond the running ones, consumption
// pauses until the backlog drains.
//
// Admission (optional): a worker that takes a command waits for a permit of `admission`
// (in the order the commands were taken) before running it and gives it back after, so
// fewer than `max_in_flight` run while the API server is slow. The handler gets the permit
// and may give it back earlier (AdmissionPermit::Release). A command cancelled while it
// waits ends as if its handler had returned kCancelled (same offset and retry rules).
// Dead letters need no permit (they do not touch the API server).
// Whether `newer`, consumed after `older` for the same store, makes `older` pointless: a
// deletion supersedes every create or change; a create or change supersedes a create or change
// of an older generation (a retry also one of its own generation). Never a deletion, and never
// a newer generation by an older one (a stale replay must not stop the change it follows).
bool SupersedesCommand(const v1::Envelope& newer, const v1::Envelope& older);

class CommandDispatcher {
public:
    // Runs one command; `permit` is its admission permit (none held when admission is off).
    using Handler =
        std::function<CommandOutcome(const Command&, const CancelToken&, AdmissionPermit& permit)>;
    // Publishes a message to the dead-letter topic with why; OK once Kafka acknowledged.
    using DeadLetter = std::function<Status(const kafka::ConsumedMessage&,
                                            const std::string& reason, int attempts)>;

    struct Options {
        std::size_t max_in_flight = 16;
        int max_attempts = 5;
        std::chrono::milliseconds retry_backoff{1000};
        std::chrono::milliseconds max_retry_backoff{30'000};
        // How long a revoke or shutdown waits for cancelled commands to stop.
        std::chrono::seconds drain_timeout{60};
        // Not owned; outlives the dispatcher. Null: every worker runs at once.
        AdmissionLimit* admission = nullptr;
        // Told when a store command is given up (before it goes to the dead-letter topic), so
        // its store is marked Failed; the dead letter waits until this returns OK. Null: no one.
        std::function<Status(const Command&, int attempts, const CancelToken&)> report_given_up;
    };

    CommandDispatcher(kafka::KafkaConsumer::Options consumer_options, Handler handler,
                      DeadLetter dead_letter, Options options, metrics::Registry& registry,
                      const ShutdownFlag& shutdown);
    ~CommandDispatcher();
    CommandDispatcher(const CommandDispatcher&) = delete;
    CommandDispatcher& operator=(const CommandDispatcher&) = delete;

    // Consumes until shutdown, then cancels and waits for running commands, commits what
    // finished and leaves the group.
    void Run();
    [[nodiscard]] bool Assigned() const { return assigned_.load(); }

private:
    using PartitionKey = std::pair<std::string, int32_t>;
    enum class Kind { kCommand, kDeadLetter };
    struct Task {
        Kind kind = Kind::kCommand;
        Command command;
        kafka::ConsumedMessage message;  // the raw record, for the dead-letter topic
        PartitionKey partition;
        uint64_t generation = 0;
        std::shared_ptr<CancelToken> cancel;
        CommandOutcome outcome = CommandOutcome::kFinished;
        int attempts = 0;                // handler failures so far
        std::string last_error;          // the last failure, or the dead-letter reason
        bool given_up_reported = false;  // the store was told Failed before its dead letter
        std::chrono::steady_clock::time_point not_before{};
    };
    struct StoreQueue {
        PartitionKey partition;   // a store's commands all come from one partition (its key)
        Task* running = nullptr;  // dispatched to a worker or waiting for a retry
        std::deque<std::unique_ptr<Task>> waiting;
    };
    struct PartitionState {
        kafka::OffsetTracker tracker;
        uint64_t generation = 0;
    };

    void OnAssign(std::vector<kafka::PartitionOffset>& partitions);
    void OnRevoke(const std::vector<kafka::PartitionOffset>& partitions);
    void Accept(kafka::ConsumedMessage message);
    void Schedule(std::unique_ptr<Task> task);
    void Dispatch(std::unique_ptr<Task> task);
    void Complete(std::unique_ptr<Task> task);
    void Execute(Task& task, AdmissionPermit& permit);
    void WorkerLoop();
    void DrainCompletions();
    void StartDueRetries();
    void UpdateFlowControl();
    void RecommitAll();
    void ReplaceConsumer();
    // Cancels and drops everything of `partitions`, waits for their running commands and
    // commits what finished (unless `commit` is false: the partitions were lost).
    void Relinquish(const std::set<PartitionKey>& partitions, CancelToken::Reason reason,
                    bool commit);
    std::chrono::milliseconds RetryDelay(int attempt) const;

    kafka::KafkaConsumer::Options consumer_options_;
    std::unique_ptr<kafka::KafkaConsumer> consumer_;
    Handler handler_;
    DeadLetter dead_letter_;
    Options options_;
    const ShutdownFlag& shutdown_;

    // Consumer thread only.
    std::map<PartitionKey, PartitionState> partitions_;
    std::set<PartitionKey> relinquishing_;
    uint64_t next_generation_ = 1;
    std::unordered_map<std::string, StoreQueue> stores_;
    std::set<Task*> dispatched_;                  // handed to workers, not yet completed
    std::vector<std::unique_ptr<Task>> delayed_;  // retries waiting for their time
    std::size_t outstanding_ = 0;                 // accepted, not yet completed for good
    bool paused_ = false;
    bool flow_dirty_ = false;  // the assignment changed: apply paused_ to every partition again
    std::atomic<bool> assigned_{false};

    // Shared with workers.
    std::mutex mutex_;
    std::condition_variable work_ready_;
    std::deque<std::unique_ptr<Task>> ready_;
    std::deque<std::unique_ptr<Task>> done_;
    bool stopping_ = false;
    std::vector<std::thread> workers_;

    metrics::Gauge& in_flight_gauge_;
    metrics::Gauge& backlog_gauge_;
    metrics::Counter& commands_total_;
    metrics::Counter& dead_letters_;
    metrics::Counter& failures_;
    metrics::Counter& revoked_commands_;
    metrics::Counter& consumers_replaced_;
    metrics::Histogram& drain_seconds_;
};

}  // namespace storefleet::provisioner
