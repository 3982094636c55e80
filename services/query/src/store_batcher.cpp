#include "store_batcher.hpp"

#include <stdexcept>

#include "storefleet/common/log.hpp"

namespace storefleet::query {

StoreBatcher::StoreBatcher(StoreReader& reader, std::size_t threads, std::size_t max_batch,
                           std::size_t max_waiting)
    : reader_(reader),
      max_batch_(max_batch == 0 ? 1 : max_batch),
      max_waiting_(max_waiting == 0 ? 1 : max_waiting) {
    for (std::size_t i = 0; i < (threads == 0 ? 1 : threads); ++i)
        threads_.emplace_back([this] { Run(); });
}

StoreBatcher::~StoreBatcher() { Stop(); }

void StoreBatcher::Stop() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stopping_ = true;
    }
    queued_.notify_all();
    for (auto& thread : threads_) {
        if (thread.joinable()) thread.join();
    }
    // Anything still queued (submitted after the threads left) gets an answer too.
    std::deque<Pending> left;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        left.swap(queue_);
    }
    for (auto& pending : left) {
        pending.done(std::nullopt,
                     std::make_exception_ptr(ReadUnavailable("the service is stopping")));
    }
}

void StoreBatcher::Submit(StoreKey key, Done done) {
    bool full = false;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        full = queue_.size() >= max_waiting_;
        if (!stopping_ && !full) {
            queue_.push_back({std::move(key), std::move(done)});
            queued_.notify_one();
            return;
        }
    }
    done(std::nullopt,
         std::make_exception_ptr(ReadUnavailable(full ? "too many reads wait for the database"
                                                      : "the service is stopping")));
}

void StoreBatcher::Run() {
    std::vector<Pending> batch;
    std::vector<StoreKey> keys;
    for (;;) {
        batch.clear();
        {
            std::unique_lock<std::mutex> lock(mutex_);
            queued_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
            if (queue_.empty()) return;  // stopping, and everything queued is read
            while (!queue_.empty() && batch.size() < max_batch_) {
                batch.push_back(std::move(queue_.front()));
                queue_.pop_front();
            }
        }
        keys.clear();
        for (const auto& pending : batch) keys.push_back(pending.key);
        std::vector<std::optional<StoreView>> stores;
        std::exception_ptr error;
        try {
            stores = reader_.GetStores(keys);
            if (stores.size() != keys.size())
                throw std::logic_error("GetStores answered the wrong number of stores");
        } catch (...) {
            error = std::current_exception();
        }
        for (std::size_t i = 0; i < batch.size(); ++i) {
            try {
                batch[i].done(error ? std::nullopt : std::move(stores[i]), error);
            } catch (const std::exception& e) {
                log::Error("answering a store read failed", {{"error", e.what()}});
            }
            batch[i].done = nullptr;  // what it held (the response) goes now, not at the next batch
        }
    }
}

}  // namespace storefleet::query
