#include "create_batcher.hpp"

#include <stdexcept>

namespace storefleet::intake {

CreateBatcher::CreateBatcher(WriteBatch write, std::size_t max_batch)
    : write_(std::move(write)), max_batch_(max_batch == 0 ? 1 : max_batch), thread_([this] { Run(); }) {}

CreateBatcher::~CreateBatcher() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    queued_.notify_all();
    thread_.join();
}

CreateOutcome CreateBatcher::Submit(CreateItem item) {
    Pending pending{std::move(item), {}};
    auto outcome = pending.outcome.get_future();
    {
        std::lock_guard lock(mutex_);
        if (stopping_) throw std::runtime_error("intake is stopping: the create was not written");
        queue_.push_back(&pending);
        ++waiting_;
    }
    queued_.notify_one();
    // `pending` lives on this stack until its promise is fulfilled: get() returns only then.
    return outcome.get();
}

std::size_t CreateBatcher::Waiting() {
    std::lock_guard lock(mutex_);
    return waiting_;
}

void CreateBatcher::Run() {
    std::vector<Pending*> batch;
    std::vector<CreateItem> items;
    for (;;) {
        {
            std::unique_lock lock(mutex_);
            queued_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
            if (queue_.empty()) return;  // stopping, and nobody waits
            while (!queue_.empty() && batch.size() < max_batch_) {
                batch.push_back(queue_.front());
                queue_.pop_front();
            }
        }
        items.clear();
        items.reserve(batch.size());
        for (auto* pending : batch) items.push_back(pending->item);
        try {
            auto outcomes = write_(items);
            if (outcomes.size() != batch.size()) {
                throw std::logic_error("create batch: " + std::to_string(outcomes.size()) + " outcomes for " +
                                       std::to_string(batch.size()) + " creates");
            }
            for (std::size_t i = 0; i < batch.size(); ++i) batch[i]->outcome.set_value(outcomes[i]);
        } catch (...) {
            for (auto* pending : batch) pending->outcome.set_exception(std::current_exception());
        }
        {
            std::lock_guard lock(mutex_);
            waiting_ -= batch.size();
        }
        batch.clear();
    }
}

}  // namespace storefleet::intake
