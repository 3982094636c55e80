#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

// Commits concurrent store creates together: one statement and one commit for all the
// creates that arrived while the previous batch was being written.
namespace storefleet::intake {

// One create without an Idempotency-Key, ready to write: its store row and its outbox
// command (the encoded envelope).
struct CreateItem {
    std::string store_id;
    std::string tenant_id;
    std::string name;
    std::string engine;
    std::string plan;
    std::string host;
    std::string correlation_id;
    std::string command;        // events::Encode(envelope)
    std::string admin_email;    // as the command carries it
    std::string placement;      // as the command carries it: "" (anywhere) or "real-node"
    std::string chart_version;  // as the command carries it: "" (not pinned)
};

// What became of one item of a committed batch.
enum class CreateOutcome {
    kCreated,    // the store row and its outbox row are committed
    kNameTaken,  // the tenant has a live store of that name (maybe an earlier item of the batch)
    kNoQuota,    // the tenant's quota is used up (or the tenant is gone); nothing written
};

// SubmitAsync() queues an item and returns; `done` runs on the batcher's answering thread
// once the batch holding it has been committed, with the item's outcome; so nothing is
// answered 202 before its rows are durable, and one refused item does not fail the others.
// The batch's failure (Postgres unavailable, ...) is rethrown to every caller of the batch.
// One thread writes the batches and another answers them, so the next batch is written
// while the last one's answers are sent. Both start with the constructor; the destructor
// writes and answers what was queued, then joins them (a submit after that gets an error at
// once). A batch takes everything queued, at most `max_batch`: no timer, so a lone create
// waits for nothing but its own write.
class CreateBatcher {
public:
    // Writes `items` (in one statement, atomically) and returns one outcome per item, in
    // order. May throw; runs on the batcher's thread.
    using WriteBatch =
        std::function<std::vector<CreateOutcome>(const std::vector<CreateItem>& items)>;

    // At most `max_waiting` creates wait at once; one more is answered at once with
    // pg::QueueFull (503), so a stalled database cannot grow the queue without bound.
    explicit CreateBatcher(WriteBatch write, std::size_t max_batch = 256,
                           std::size_t max_waiting = 10'000);
    ~CreateBatcher();
    CreateBatcher(const CreateBatcher&) = delete;
    CreateBatcher& operator=(const CreateBatcher&) = delete;

    // The outcome, or the batch's failure (the exception, else null).
    using Done = std::function<void(CreateOutcome outcome, std::exception_ptr error)>;
    void SubmitAsync(CreateItem item, Done done);
    // Creates submitted and not answered yet (queued or being written). For tests and
    // diagnostics.
    std::size_t Waiting();

private:
    struct Pending {
        CreateItem item;
        Done done;
    };
    // A written batch, waiting for its answers.
    struct Written {
        std::vector<Pending> batch;
        std::vector<CreateOutcome> outcomes;
        std::exception_ptr error;
    };
    void Write();
    void Answer();

    WriteBatch write_;
    std::size_t max_batch_;
    std::size_t max_waiting_;
    std::mutex mutex_;
    std::condition_variable queued_;
    std::deque<Pending> queue_;
    std::size_t waiting_ = 0;
    bool stopping_ = false;
    std::condition_variable written_;
    std::deque<Written> to_answer_;
    bool writer_done_ = false;
    std::thread writer_;
    std::thread answerer_;
};

}  // namespace storefleet::intake
