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

void CreateBatcher::SubmitAsync(CreateItem item, Done done) {
    {
        std::lock_guard lock(mutex_);
        if (!stopping_) {
            queue_.push_back({std::move(item), std::move(done)});
            ++waiting_;
            queued_.notify_one();
            return;
        }
    }
    done(CreateOutcome::kNoQuota,
         std::make_exception_ptr(std::runtime_error("intake is stopping: the create was not written")));
}

std::size_t CreateBatcher::Waiting() {
    std::lock_guard lock(mutex_);
    return waiting_;
}

void CreateBatcher::Run() {
    std::vector<Pending> batch;
    std::vector<CreateItem> items;
    for (;;) {
        {
            std::unique_lock lock(mutex_);
            queued_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
            if (queue_.empty()) return;  // stopping, and nobody waits
            while (!queue_.empty() && batch.size() < max_batch_) {
                batch.push_back(std::move(queue_.front()));
                queue_.pop_front();
            }
        }
        items.clear();
        items.reserve(batch.size());
        for (const auto& pending : batch) items.push_back(pending.item);
        std::vector<CreateOutcome> outcomes;
        std::exception_ptr error;
        try {
            outcomes = write_(items);
            if (outcomes.size() != batch.size()) {
                throw std::logic_error("create batch: " + std::to_string(outcomes.size()) + " outcomes for " +
                                       std::to_string(batch.size()) + " creates");
            }
        } catch (...) {
            error = std::current_exception();
        }
        for (std::size_t i = 0; i < batch.size(); ++i) {
            try {
                batch[i].done(error ? CreateOutcome::kNoQuota : outcomes[i], error);
            } catch (...) {
                // An answer that could not be sent must not stop the batches of everyone else.
            }
            batch[i].done = nullptr;  // what it held (an HTTP response) goes now
        }
        {
            std::lock_guard lock(mutex_);
            waiting_ -= batch.size();
        }
        batch.clear();
    }
}

}  // namespace storefleet::intake
