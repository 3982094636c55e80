#include "dispatcher.hpp"

#include <set>

#include "storefleet/common/log.hpp"
#include "storefleet/kafka/events.hpp"

namespace storefleet::provisioner {

CommandDispatcher::CommandDispatcher(kafka::KafkaConsumer::Options consumer_options, Handler handler,
                                     DeadLetter dead_letter, std::size_t max_in_flight,
                                     metrics::Registry& registry, const ShutdownFlag& shutdown)
    : consumer_options_(std::move(consumer_options)),
      handler_(std::move(handler)),
      dead_letter_(std::move(dead_letter)),
      max_in_flight_(std::max<std::size_t>(1, max_in_flight)),
      shutdown_(shutdown),
      in_flight_gauge_(registry.GetGauge("storefleet_provisioner_in_flight", "Commands running now.")),
      backlog_gauge_(registry.GetGauge("storefleet_provisioner_backlog",
                                       "Commands accepted and not finished (running or waiting).")),
      commands_total_(registry.GetCounter("storefleet_provisioner_commands_total", "Commands consumed.")),
      dead_letters_(registry.GetCounter("storefleet_provisioner_dead_letters_total",
                                        "Undecodable commands sent to the dead-letter topic.")) {
    // The hooks run inside Poll(), on the consumer thread.
    consumer_options_.on_assign = [this](std::vector<kafka::PartitionOffset>& partitions) {
        std::set<PartitionKey> keep;
        assignment_.clear();
        for (const auto& p : partitions) {
            keep.insert({p.topic, p.partition});
            assignment_.emplace_back(p.topic, p.partition);
        }
        // Partitions we keep retain their trackers, so redelivered offsets are recognised
        // and in-flight commands still commit; others are forgotten.
        for (auto it = trackers_.begin(); it != trackers_.end();) {
            it = keep.count(it->first) != 0U ? std::next(it) : trackers_.erase(it);
        }
        paused_ = false;
        assigned_ = true;
    };
    consumer_options_.on_revoke = [this](const std::vector<kafka::PartitionOffset>&) {
        assignment_.clear();
        assigned_ = false;
    };
    consumer_ = std::make_unique<kafka::KafkaConsumer>(consumer_options_);
    for (std::size_t i = 0; i < max_in_flight_; ++i) workers_.emplace_back([this] { WorkerLoop(); });
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

void CommandDispatcher::WorkerLoop() {
    for (;;) {
        std::unique_ptr<Task> task;
        {
            std::unique_lock lock(mutex_);
            work_ready_.wait(lock, [this] { return stopping_ || !ready_.empty(); });
            if (stopping_) return;
            task = std::move(ready_.front());
            ready_.pop_front();
            ++running_;
        }
        in_flight_gauge_.Add(1);
        try {
            task->outcome = handler_(task->command, *task->cancel);
        } catch (const std::exception& error) {
            // A bug, not an expected failure: leave the offset uncommitted so the command is
            // retried after a restart, and make it loud.
            log::Error("command handler threw", {{"store_id", task->command.store_id()}, {"error", error.what()}});
            task->outcome = Outcome::kCancelled;
        }
        in_flight_gauge_.Add(-1);
        std::lock_guard lock(mutex_);
        done_.push_back(std::move(task));
        --running_;
    }
}

void CommandDispatcher::Accept(kafka::ConsumedMessage message) {
    auto& tracker = trackers_[{message.topic, message.partition}];
    if (tracker.Seen(message.offset)) return;  // redelivered after a rebalance; already ours
    tracker.Started(message.offset);
    ++outstanding_;
    commands_total_.Inc();
    auto task = std::make_unique<Task>();
    task->topic = message.topic;
    task->partition = message.partition;
    task->offset = message.offset;
    task->cancel = std::make_shared<CancelToken>(shutdown_);
    auto decoded = kafka::Decode(message.payload);
    if (!decoded.ok() || (!decoded->has_store_requested() && !decoded->has_store_deletion_requested())) {
        const std::string reason = decoded.ok() ? "not a store command: " + decoded->type() : decoded.error().message;
        dead_letters_.Inc();
        log::Warn("undecodable command sent to dead letter", {{"topic", message.topic},
                                                              {"partition", message.partition},
                                                              {"offset", message.offset},
                                                              {"reason", reason}});
        dead_letter_(message, reason);
        Complete(std::move(task));
        return;
    }
    task->command = std::move(decoded).value();
    Schedule(std::move(task));
}

void CommandDispatcher::Schedule(std::unique_ptr<Task> task) {
    auto& store = stores_[task->command.store_id()];
    if (store.running) {
        // A deletion supersedes a provisioning still running for the same store.
        if (task->command.has_store_deletion_requested() && store.running_is_provision && store.running_cancel) {
            store.running_cancel->Supersede();
        }
        store.waiting.push_back(std::move(task));
        return;
    }
    store.running = true;
    store.running_cancel = task->cancel;
    store.running_is_provision = task->command.has_store_requested();
    {
        std::lock_guard lock(mutex_);
        ready_.push_back(std::move(task));
    }
    work_ready_.notify_one();
}

void CommandDispatcher::Complete(std::unique_ptr<Task> task) {
    --outstanding_;
    // Cancelled by shutdown: leave the offset uncommitted so the command runs again.
    const bool commit = task->outcome == Outcome::kFinished || task->cancel->Superseded();
    auto it = trackers_.find({task->topic, task->partition});
    if (it != trackers_.end() && commit) {
        if (auto next = it->second.Finished(task->offset)) consumer_->Commit(task->topic, task->partition, *next);
    }
    if (task->command.store_id().empty()) return;  // dead letter
    auto store_it = stores_.find(task->command.store_id());
    if (store_it == stores_.end()) return;
    auto& store = store_it->second;
    store.running = false;
    store.running_cancel.reset();
    if (store.waiting.empty()) {
        stores_.erase(store_it);
        return;
    }
    auto next = std::move(store.waiting.front());
    store.waiting.pop_front();
    Schedule(std::move(next));
}

void CommandDispatcher::DrainCompletions() {
    std::deque<std::unique_ptr<Task>> done;
    {
        std::lock_guard lock(mutex_);
        done.swap(done_);
    }
    for (auto& task : done) Complete(std::move(task));
}

void CommandDispatcher::UpdateFlowControl() {
    backlog_gauge_.Set(static_cast<double>(outstanding_));
    if (!paused_ && outstanding_ >= 2 * max_in_flight_) {
        for (const auto& [topic, partition] : assignment_) consumer_->Pause(topic, partition);
        paused_ = true;
    } else if (paused_ && outstanding_ < max_in_flight_) {
        for (const auto& [topic, partition] : assignment_) consumer_->Resume(topic, partition);
        paused_ = false;
    }
}

void CommandDispatcher::Run() {
    while (!shutdown_.Triggered()) {
        for (auto& message : consumer_->Poll(std::chrono::milliseconds(50), max_in_flight_)) {
            Accept(std::move(message));
        }
        DrainCompletions();
        UpdateFlowControl();
    }
    log::Info("dispatcher stopping", {{"outstanding", outstanding_}});
    // Running tasks see the shutdown through their CancelToken and return soon.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    for (;;) {
        DrainCompletions();
        bool idle = false;
        {
            std::lock_guard lock(mutex_);
            idle = running_ == 0 && done_.empty();  // never-started tasks are simply dropped
        }
        if (idle || std::chrono::steady_clock::now() > deadline) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    consumer_->Close();
}

}  // namespace storefleet::provisioner
