#include "dispatcher.hpp"

#include <utility>

#include "storefleet/common/log.hpp"
#include "storefleet/events/envelope.hpp"
#include "storefleet/events/status.hpp"

namespace storefleet::provisioner {
namespace {

using Clock = std::chrono::steady_clock;

std::string Describe(const std::pair<std::string, int32_t>& partition) {
    return partition.first + "/" + std::to_string(partition.second);
}

}  // namespace

bool SupersedesCommand(const v1::Envelope& newer, const v1::Envelope& older) {
    if (older.has_store_deletion_requested()) return false;
    if (newer.has_store_deletion_requested()) return true;
    // A backup or a restore is no generation: a change neither cancels one (the data
    // operation finishes, then the change runs) nor is cancelled by one (decision 14).
    if (events::IsDataCommand(newer) || events::IsDataCommand(older)) return false;
    const uint64_t newer_generation = events::CommandGeneration(newer);
    const uint64_t older_generation = events::CommandGeneration(older);
    const bool retry = newer.has_store_change_requested() && newer.store_change_requested().retry();
    return newer_generation > older_generation || (retry && newer_generation == older_generation);
}

CommandDispatcher::CommandDispatcher(kafka::KafkaConsumer::Options consumer_options,
                                     Handler handler, DeadLetter dead_letter, Options options,
                                     metrics::Registry& registry, const ShutdownFlag& shutdown)
    : consumer_options_(std::move(consumer_options)),
      handler_(std::move(handler)),
      dead_letter_(std::move(dead_letter)),
      options_(std::move(options)),
      shutdown_(shutdown),
      in_flight_gauge_(
          registry.GetGauge("storefleet_provisioner_in_flight", "Commands running now.")),
      backlog_gauge_(
          registry.GetGauge("storefleet_provisioner_backlog",
                            "Commands accepted and not finished (running, waiting or retrying).")),
      commands_total_(
          registry.GetCounter("storefleet_provisioner_commands_total", "Commands consumed.")),
      dead_letters_(
          registry.GetCounter("storefleet_provisioner_dead_letters_total",
                              "Commands sent to the dead-letter topic (undecodable or failing).")),
      failures_(registry.GetCounter("storefleet_provisioner_command_failures_total",
                                    "Commands whose handler threw (retried, then dead-lettered).")),
      revoked_commands_(
          registry.GetCounter("storefleet_provisioner_revoked_commands_total",
                              "Commands dropped or cancelled because their partition moved.")),
      consumers_replaced_(
          registry.GetCounter("storefleet_provisioner_consumer_replacements_total",
                              "Kafka consumers rebuilt after a fatal error (e.g. fenced).")),
      drain_seconds_(registry.GetHistogram(
          "storefleet_provisioner_revoke_drain_seconds",
          "Time a revoke took to stop its partitions' commands and commit.")) {
    options_.max_in_flight = std::max<std::size_t>(1, options_.max_in_flight);
    options_.max_attempts = std::max(1, options_.max_attempts);
    // The hooks run inside Poll() and Close(), on the consumer thread.
    consumer_options_.on_assign = [this](std::vector<kafka::PartitionOffset>& partitions) {
        OnAssign(partitions);
    };
    consumer_options_.on_revoke = [this](const std::vector<kafka::PartitionOffset>& partitions) {
        OnRevoke(partitions);
    };
    consumer_ = std::make_unique<kafka::KafkaConsumer>(consumer_options_);
    for (std::size_t i = 0; i < options_.max_in_flight; ++i)
        workers_.emplace_back([this] { WorkerLoop(); });
}

CommandDispatcher::~CommandDispatcher() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    work_ready_.notify_all();
    for (auto& worker : workers_) {
        if (worker.joinable()) worker.join();
    }
}

void CommandDispatcher::OnAssign(std::vector<kafka::PartitionOffset>& partitions) {
    for (const auto& p : partitions) {
        // A fresh generation: anything left from an earlier ownership is not ours to commit.
        partitions_[{p.topic, p.partition}] = PartitionState{{}, next_generation_++};
    }
    // Not paused or resumed here (the partitions are assigned only after this returns), but
    // on the next UpdateFlowControl: with cooperative assignment the partitions kept from
    // before may be paused, and librdkafka keeps a partition's pause across a loss and a
    // reassignment, so every owned partition is set to the current state again.
    flow_dirty_ = true;
    assigned_ = !partitions_.empty();
}

void CommandDispatcher::OnRevoke(const std::vector<kafka::PartitionOffset>& partitions) {
    std::set<PartitionKey> revoked;
    for (const auto& p : partitions) revoked.insert({p.topic, p.partition});
    const bool lost = consumer_->RevokeIsLoss();
    Relinquish(revoked, CancelToken::Reason::kRevoked, !lost);
    assigned_ = !partitions_.empty();
}

std::chrono::milliseconds CommandDispatcher::RetryDelay(int attempt) const {
    auto delay = options_.retry_backoff;
    for (int i = 1; i < attempt && delay < options_.max_retry_backoff; ++i) delay *= 2;
    return std::min(delay, options_.max_retry_backoff);
}

void CommandDispatcher::Execute(Task& task, AdmissionPermit& permit) {
    if (task.kind == Kind::kCommand) {
        try {
            task.outcome = handler_(task.command, *task.cancel, permit);
            return;
        } catch (const std::exception& error) {
            if (task.cancel->Cancelled()) {
                task.outcome = CommandOutcome::kCancelled;
                return;
            }
            ++task.attempts;
            task.last_error = error.what();
            failures_.Inc();
            log::Error("command handler failed", {{"store_id", task.command.envelope.store_id()},
                                                  {"event_id", task.command.envelope.event_id()},
                                                  {"partition", task.partition.second},
                                                  {"offset", task.command.offset},
                                                  {"attempt", task.attempts},
                                                  {"error", task.last_error}});
            if (task.attempts < options_.max_attempts) {
                task.outcome = CommandOutcome::kRetry;
                return;
            }
            task.kind = Kind::kDeadLetter;
            task.last_error = "failed " + std::to_string(task.attempts) +
                              " times; last error: " + task.last_error;
        }
    }
    // A store command given up: its store is told Failed first, so it is not left
    // provisioning or deleting for good. Undecodable messages name no store we can trust.
    if (task.attempts > 0 && !task.given_up_reported && options_.report_given_up) {
        Status reported = options_.report_given_up(task.command, task.attempts, *task.cancel);
        if (!reported.ok()) {
            log::Warn("cannot report a given-up command's store as failed; will retry",
                      {{"store_id", task.command.envelope.store_id()},
                       {"error", reported.error().message}});
            task.outcome =
                task.cancel->Cancelled() ? CommandOutcome::kCancelled : CommandOutcome::kRetry;
            return;
        }
        task.given_up_reported = true;
    }
    // A dead letter is committed only once Kafka acknowledged it.
    Status published = dead_letter_(task.message, task.last_error, task.attempts);
    if (published.ok()) {
        dead_letters_.Inc();
        log::Warn("command sent to the dead-letter topic", {{"topic", task.message.topic},
                                                            {"partition", task.message.partition},
                                                            {"offset", task.message.offset},
                                                            {"reason", task.last_error}});
        task.outcome = CommandOutcome::kFinished;
    } else {
        log::Warn("dead-letter publish failed; will retry", {{"partition", task.message.partition},
                                                             {"offset", task.message.offset},
                                                             {"error", published.error().message}});
        task.outcome = CommandOutcome::kRetry;
    }
}

void CommandDispatcher::WorkerLoop() {
    for (;;) {
        std::unique_ptr<Task> task;
        AdmissionLimit* admission = nullptr;
        AdmissionLimit::Ticket ticket = 0;
        {
            std::unique_lock lock(mutex_);
            work_ready_.wait(lock, [this] { return stopping_ || !ready_.empty(); });
            if (stopping_) return;
            task = std::move(ready_.front());
            ready_.pop_front();
            // The ticket is taken under the queue's lock, so permits go in queue order.
            if (task->kind == Kind::kCommand && options_.admission != nullptr) {
                admission = options_.admission;
                ticket = admission->Enqueue();
            }
        }
        if (admission == nullptr || admission->Wait(ticket, *task->cancel)) {
            // The command may give its permit back early (before readiness).
            AdmissionPermit permit(admission);
            in_flight_gauge_.Add(1);
            Execute(*task, permit);
            in_flight_gauge_.Add(-1);
        } else {
            task->outcome = CommandOutcome::kCancelled;  // cancelled while waiting for a permit
        }
        {
            std::lock_guard lock(mutex_);
            done_.push_back(std::move(task));
        }
        work_ready_.notify_all();  // a revoke may be waiting for this one
    }
}

void CommandDispatcher::Accept(kafka::ConsumedMessage message) {
    const PartitionKey key{message.topic, message.partition};
    auto state = partitions_.find(key);
    if (state == partitions_.end() || relinquishing_.count(key) != 0U)
        return;  // not ours (any more)
    auto& tracker = state->second.tracker;
    if (tracker.Seen(message.offset)) return;  // redelivered; already ours
    tracker.Started(message.offset);
    ++outstanding_;
    auto task = std::make_unique<Task>();
    task->partition = key;
    task->generation = state->second.generation;
    task->cancel = std::make_shared<CancelToken>(shutdown_);
    task->command.partition = message.partition;
    task->command.offset = message.offset;
    auto decoded = events::Decode(message.payload);
    task->message = std::move(message);
    if (!decoded.ok() || !events::IsStoreCommand(*decoded)) {
        task->kind = Kind::kDeadLetter;
        task->last_error = decoded.ok() ? "not a store command: '" + decoded->type() + "'"
                                        : "undecodable: " + decoded.error().message;
        Dispatch(std::move(task));
        commands_total_.Inc();
        return;
    }
    task->command.envelope = std::move(decoded).value();
    Schedule(std::move(task));
    // Counted once scheduled: a reader that sees the count also sees what the command changed
    // (a deletion has superseded the provisioning it replaces).
    commands_total_.Inc();
}

void CommandDispatcher::Schedule(std::unique_ptr<Task> task) {
    auto& store = stores_[task->command.envelope.store_id()];
    store.partition = task->partition;
    if (store.running != nullptr) {
        // Converge to the newest: what this command makes pointless stops (running) or ends at
        // once when its turn comes (queued); either way it is committed as superseded.
        const auto& incoming = task->command.envelope;
        if (SupersedesCommand(incoming, store.running->command.envelope))
            store.running->cancel->Supersede();
        for (const auto& queued : store.waiting) {
            if (SupersedesCommand(incoming, queued->command.envelope)) queued->cancel->Supersede();
        }
        store.waiting.push_back(std::move(task));
        return;
    }
    store.running = task.get();
    Dispatch(std::move(task));
}

void CommandDispatcher::Dispatch(std::unique_ptr<Task> task) {
    dispatched_.insert(task.get());
    {
        std::lock_guard lock(mutex_);
        ready_.push_back(std::move(task));
    }
    work_ready_.notify_all();
}

void CommandDispatcher::Complete(std::unique_ptr<Task> task) {
    Task* raw = task.get();
    dispatched_.erase(raw);
    auto state = partitions_.find(task->partition);
    const bool current = state != partitions_.end() && state->second.generation == task->generation;
    const bool leaving = relinquishing_.count(task->partition) != 0U;
    const std::string store_id = task->command.envelope.store_id();

    auto free_store_slot = [&](bool start_next) {
        if (store_id.empty()) return;
        auto it = stores_.find(store_id);
        if (it == stores_.end() || it->second.running != raw)
            return;  // not this task's slot (stale)
        auto& store = it->second;
        store.running = nullptr;
        if (store.waiting.empty() || !start_next) {
            if (store.waiting.empty()) stores_.erase(it);
            return;
        }
        auto next = std::move(store.waiting.front());
        store.waiting.pop_front();
        Schedule(std::move(next));
    };

    if (!current) {
        // From an ownership that ended: its offset is someone else's business now.
        --outstanding_;
        free_store_slot(false);
        return;
    }
    CommandOutcome outcome = task->outcome;
    if (outcome == CommandOutcome::kCancelled &&
        task->cancel->Why() == CancelToken::Reason::kLeaseLost) {
        outcome = CommandOutcome::kRetry;
    }
    // A superseded command is not run again, whatever it returned.
    if (outcome == CommandOutcome::kRetry && !task->cancel->Superseded() && !leaving &&
        !shutdown_.Triggered()) {
        // Keeps its store's slot and its offset in flight until it runs again.
        task->cancel = std::make_shared<CancelToken>(shutdown_);
        task->not_before = Clock::now() + RetryDelay(std::max(1, task->attempts));
        delayed_.push_back(std::move(task));
        return;
    }
    --outstanding_;
    const bool finished = outcome == CommandOutcome::kFinished || task->cancel->Superseded();
    if (finished) {
        if (auto next = state->second.tracker.Finished(task->command.offset); next && !leaving) {
            consumer_->Commit(task->partition.first, task->partition.second, *next);
        }
    }
    // Cancelled by shutdown or a revoke: the offset stays uncommitted, so the partition's
    // next owner runs the command again.
    free_store_slot(!leaving);
}

void CommandDispatcher::DrainCompletions() {
    std::deque<std::unique_ptr<Task>> done;
    {
        std::lock_guard lock(mutex_);
        done.swap(done_);
    }
    for (auto& task : done) Complete(std::move(task));
}

void CommandDispatcher::StartDueRetries() {
    if (delayed_.empty()) return;
    const auto now = Clock::now();
    std::vector<std::unique_ptr<Task>> later;
    std::vector<std::unique_ptr<Task>> due;
    for (auto& task : delayed_) (task->not_before <= now ? due : later).push_back(std::move(task));
    delayed_ = std::move(later);
    for (auto& task : due) Dispatch(std::move(task));
}

void CommandDispatcher::Relinquish(const std::set<PartitionKey>& partitions,
                                   CancelToken::Reason reason, bool commit) {
    std::set<PartitionKey> ours;
    for (const auto& key : partitions) {
        if (partitions_.count(key) != 0U) ours.insert(key);
    }
    if (ours.empty()) return;
    const auto started = Clock::now();
    relinquishing_.insert(ours.begin(), ours.end());
    std::size_t dropped = 0;
    std::size_t cancelled = 0;

    // Not started yet: dropped (their offsets stay uncommitted for the next owner).
    for (auto it = delayed_.begin(); it != delayed_.end();) {
        if (ours.count((*it)->partition) != 0U) {
            --outstanding_;
            ++dropped;
            it = delayed_.erase(it);
        } else {
            ++it;
        }
    }
    {
        std::lock_guard lock(mutex_);
        for (auto it = ready_.begin(); it != ready_.end();) {
            if (ours.count((*it)->partition) != 0U) {
                dispatched_.erase(it->get());
                --outstanding_;
                ++dropped;
                it = ready_.erase(it);
            } else {
                ++it;
            }
        }
    }
    for (auto& [store_id, store] : stores_) {
        if (ours.count(store.partition) == 0U) continue;
        dropped += store.waiting.size();
        outstanding_ -= store.waiting.size();
        store.waiting.clear();
        // Its running task was among the dropped ones above (not with a worker): no slot.
        if (store.running != nullptr && dispatched_.count(store.running) == 0U)
            store.running = nullptr;
    }
    // Running: cancelled (Helm's process group is killed) and waited for.
    for (Task* task : dispatched_) {
        if (ours.count(task->partition) != 0U) {
            task->cancel->Cancel(reason);
            ++cancelled;
        }
    }
    revoked_commands_.Inc(static_cast<double>(dropped + cancelled));
    const auto deadline = started + options_.drain_timeout;
    auto still_running = [&] {
        for (Task* task : dispatched_) {
            if (ours.count(task->partition) != 0U) return true;
        }
        return false;
    };
    while (still_running() && Clock::now() < deadline) {
        {
            std::unique_lock lock(mutex_);
            work_ready_.wait_for(lock, std::chrono::milliseconds(50),
                                 [this] { return !done_.empty(); });
        }
        DrainCompletions();
    }
    const bool drained = !still_running();
    if (!drained) {
        log::Error("commands did not stop in time; leaving them uncommitted",
                   {{"timeout_s", options_.drain_timeout.count()}});
    }
    for (const auto& key : ours) {
        auto& state = partitions_.at(key);
        if (commit) {
            if (auto next = state.tracker.Committable())
                consumer_->CommitNow(key.first, key.second, *next);
        }
        partitions_.erase(key);
        relinquishing_.erase(key);
    }
    // The stores of these partitions are the next owner's; a command that never stopped
    // is recognised as stale when it completes.
    std::erase_if(stores_,
                  [&](const auto& entry) { return ours.count(entry.second.partition) != 0U; });
    const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
    drain_seconds_.Observe(seconds);
    std::string names;
    for (const auto& key : ours) names += (names.empty() ? "" : ",") + Describe(key);
    log::Info("partitions handed over", {{"partitions", names},
                                         {"dropped", dropped},
                                         {"cancelled", cancelled},
                                         {"committed", commit},
                                         {"drain_ms", static_cast<int64_t>(seconds * 1000)}});
}

void CommandDispatcher::UpdateFlowControl() {
    backlog_gauge_.Set(static_cast<double>(outstanding_));
    // Hysteresis: pause at twice the in-flight limit, resume below it.
    const bool pause = paused_ ? outstanding_ >= options_.max_in_flight
                               : outstanding_ >= 2 * options_.max_in_flight;
    if (pause == paused_ && !flow_dirty_) return;
    for (const auto& [key, state] : partitions_) {
        if (pause) {
            consumer_->Pause(key.first, key.second);
        } else {
            consumer_->Resume(key.first, key.second);
        }
    }
    paused_ = pause;
    flow_dirty_ = false;
}

void CommandDispatcher::RecommitAll() {
    // An asynchronous commit can fail (Kafka restarting); the next one on that partition
    // fixes it, but a partition that goes quiet would keep its old offset and replay
    // finished commands after a restart. So every few seconds, commit where each stands.
    for (const auto& [key, state] : partitions_) {
        if (relinquishing_.count(key) != 0U) continue;
        if (auto next = state.tracker.Committable())
            consumer_->Commit(key.first, key.second, *next);
    }
}

void CommandDispatcher::ReplaceConsumer() {
    // Its partitions may already belong to someone else: stop their commands, commit
    // nothing, and join the group afresh.
    std::set<PartitionKey> all;
    for (const auto& [key, state] : partitions_) all.insert(key);
    Relinquish(all, CancelToken::Reason::kRevoked, false);
    consumer_.reset();
    paused_ = false;
    flow_dirty_ = true;
    assigned_ = false;
    consumer_ = std::make_unique<kafka::KafkaConsumer>(consumer_options_);
    consumers_replaced_.Inc();
    log::Warn("kafka consumer replaced after a fatal error",
              {{"group", consumer_options_.group_id}});
}

void CommandDispatcher::Run() {
    auto next_recommit = Clock::now() + std::chrono::seconds(5);
    while (!shutdown_.Triggered()) {
        for (auto& message :
             consumer_->Poll(std::chrono::milliseconds(50), options_.max_in_flight)) {
            Accept(std::move(message));
        }
        DrainCompletions();
        StartDueRetries();
        UpdateFlowControl();
        if (Clock::now() >= next_recommit) {
            RecommitAll();
            next_recommit = Clock::now() + std::chrono::seconds(5);
        }
        if (consumer_->Fatal()) ReplaceConsumer();
    }
    log::Info("dispatcher stopping", {{"outstanding", outstanding_}});
    // Running commands see the shutdown through their CancelToken and stop; what finished
    // is committed before the consumer leaves, and nothing runs once it has.
    std::set<PartitionKey> all;
    for (const auto& [key, state] : partitions_) all.insert(key);
    Relinquish(all, CancelToken::Reason::kShutdown, true);
    consumer_->Close();
}

}  // namespace storefleet::provisioner
