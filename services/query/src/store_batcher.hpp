#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "store_reader.hpp"

namespace storefleet::query {

// Reads the single stores that concurrent GETs ask for together: one statement (one round
// trip, one executor start in Postgres) for every request that arrived while the previous
// batch was being read. HTTP threads only queue their request and return (see
// http::Defer), so no reactor thread waits on Postgres. Every read is still fresh: a request
// is never answered from an earlier read, so read-your-writes holds as for a lone GET.
//
// `threads` threads each take everything queued, up to `max_batch`; no timer, so a lone GET
// waits for nothing but its own read. Each request's `done` runs on a batcher thread, with
// the store (nullopt: the tenant has none of that id) or the batch's error (ReadUnavailable
// when Postgres cannot answer). The destructor calls Stop().
class StoreBatcher {
public:
    using Done = std::function<void(std::optional<StoreView> store, std::exception_ptr error)>;

    // At most `max_waiting` requests wait at once; one more is answered at once with
    // ReadUnavailable (503), so a stalled database cannot grow the queue without bound.
    explicit StoreBatcher(StoreReader& reader, std::size_t threads = 2, std::size_t max_batch = 64,
                          std::size_t max_waiting = 10'000);
    ~StoreBatcher();
    StoreBatcher(const StoreBatcher&) = delete;
    StoreBatcher& operator=(const StoreBatcher&) = delete;

    void Submit(StoreKey key, Done done);
    // Reads what is queued, answers it, and stops the threads; a later Submit is answered
    // with an error at once. Call while the HTTP server can still send (before its Stop()).
    void Stop();

private:
    struct Pending {
        StoreKey key;
        Done done;
    };
    void Run();

    StoreReader& reader_;
    std::size_t max_batch_;
    std::size_t max_waiting_;
    std::mutex mutex_;
    std::condition_variable queued_;
    std::deque<Pending> queue_;
    bool stopping_ = false;
    std::vector<std::thread> threads_;
};

}  // namespace storefleet::query
