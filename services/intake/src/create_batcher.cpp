#include "create_batcher.hpp"

#include <stdexcept>

#include "storefleet/pg/pool.hpp"

namespace storefleet::intake {

CreateBatcher::CreateBatcher(WriteBatch write, std::size_t max_batch, std::size_t max_waiting)
    : write_(std::move(write)),
      max_batch_(max_batch == 0 ? 1 : max_batch),
      max_waiting_(max_waiting == 0 ? 1 : max_waiting),
      writer_([this] { Write(); }),
      answerer_([this] { Answer(); }) {}

CreateBatcher::~CreateBatcher() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    queued_.notify_all();
    writer_.join();
    {
        std::lock_guard lock(mutex_);
        writer_done_ = true;
    }
    written_.notify_all();
    answerer_.join();
}

void CreateBatcher::SubmitAsync(CreateItem item, Done done) {
    bool full = false;
    {
        std::lock_guard lock(mutex_);
        full = waiting_ >= max_waiting_;
        if (!stopping_ && !full) {
            queue_.push_back({std::move(item), std::move(done)});
            ++waiting_;
            queued_.notify_one();
            return;
        }
    }
    if (full) {
        done(CreateOutcome::kNoQuota,
             std::make_exception_ptr(pg::QueueFull("too many creates wait for the database (" +
                                                   std::to_string(max_waiting_) +
                                                   "): the create was not written")));
        return;
    }
    done(CreateOutcome::kNoQuota, std::make_exception_ptr(std::runtime_error(
                                      "intake is stopping: the create was not written")));
}

std::size_t CreateBatcher::Waiting() {
    std::lock_guard lock(mutex_);
    return waiting_;
}

void CreateBatcher::Write() {
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
        for (auto& pending : batch)
            items.push_back(std::move(pending.item));  // only the write needs it
        std::vector<CreateOutcome> outcomes;
        std::exception_ptr error;
        try {
            outcomes = write_(items);
            if (outcomes.size() != batch.size()) {
                throw std::logic_error("create batch: " + std::to_string(outcomes.size()) +
                                       " outcomes for " + std::to_string(batch.size()) +
                                       " creates");
            }
        } catch (...) {
            error = std::current_exception();
        }
        {
            std::lock_guard lock(mutex_);
            to_answer_.push_back({std::move(batch), std::move(outcomes), error});
        }
        written_.notify_one();
        batch.clear();
    }
}

void CreateBatcher::Answer() {
    for (;;) {
        Written written;
        {
            std::unique_lock lock(mutex_);
            written_.wait(lock, [this] { return writer_done_ || !to_answer_.empty(); });
            if (to_answer_.empty()) return;  // the writer stopped and everything is answered
            written = std::move(to_answer_.front());
            to_answer_.pop_front();
        }
        auto& batch = written.batch;
        for (std::size_t i = 0; i < batch.size(); ++i) {
            try {
                batch[i].done(written.error ? CreateOutcome::kNoQuota : written.outcomes[i],
                              written.error);
            } catch (...) {
                // An answer that could not be sent must not stop the batches of everyone else.
            }
            batch[i].done = nullptr;  // what it held (an HTTP response) goes now
        }
        std::lock_guard lock(mutex_);
        waiting_ -= batch.size();
    }
}

}  // namespace storefleet::intake
