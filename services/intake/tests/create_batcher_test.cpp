// CreateBatcher without a database: outcomes reach the right callers, creates that arrive
// while a batch is written go together in the next one, and a failed batch fails all of
// its callers and only them.
#include "create_batcher.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "storefleet/pg/pool.hpp"
#include "storefleet/test_support/wait.hpp"

namespace storefleet::intake {
namespace {

using namespace std::chrono_literals;
// A failed wait is reported and the test goes on, so its threads are still released and joined.
using test_support::WaitUntil;

CreateItem Named(const std::string& name) {
    CreateItem item;
    item.name = name;
    item.tenant_id = "t";
    return item;
}

// A writer that holds its first batch until Release(), then answers by name: "taken-*" is
// taken, "full-*" over quota, "boom" fails the whole batch.
class GatedWriter {
public:
    std::vector<CreateOutcome> Write(const std::vector<CreateItem>& items) {
        {
            std::unique_lock lock(mutex_);
            sizes_.push_back(items.size());
            released_.wait(lock, [this] { return open_; });
        }
        std::vector<CreateOutcome> outcomes;
        for (const auto& item : items) {
            if (item.name == "boom") throw std::runtime_error("database gone");
            outcomes.push_back(item.name.rfind("taken-", 0) == 0  ? CreateOutcome::kNameTaken
                               : item.name.rfind("full-", 0) == 0 ? CreateOutcome::kNoQuota
                                                                  : CreateOutcome::kCreated);
        }
        return outcomes;
    }
    void Release() {
        {
            std::lock_guard lock(mutex_);
            open_ = true;
        }
        released_.notify_all();
    }
    std::vector<std::size_t> Sizes() {
        std::lock_guard lock(mutex_);
        return sizes_;
    }

private:
    std::mutex mutex_;
    std::condition_variable released_;
    bool open_ = false;
    std::vector<std::size_t> sizes_;
};

// As an HTTP handler used to: submits and waits for the outcome (rethrowing the batch's
// failure).
CreateOutcome Submit(CreateBatcher& batcher, CreateItem item) {
    std::promise<CreateOutcome> outcome;
    auto future = outcome.get_future();
    batcher.SubmitAsync(std::move(item),
                        [&outcome](CreateOutcome result, const std::exception_ptr& error) {
                            if (error) {
                                outcome.set_exception(error);
                            } else {
                                outcome.set_value(result);
                            }
                        });
    return future.get();
}

TEST(CreateBatcherTest, EachCallerGetsItsOwnOutcomeAndLaterCreatesShareABatch) {
    GatedWriter writer;
    CreateBatcher batcher(
        [&](const std::vector<CreateItem>& items) { return writer.Write(items); });
    const std::vector<std::string> names = {"a", "taken-b", "c", "full-d", "e", "f"};
    std::vector<CreateOutcome> outcomes(names.size());
    std::vector<std::thread> threads;
    threads.emplace_back([&] { outcomes[0] = Submit(batcher, Named(names[0])); });
    EXPECT_TRUE(WaitUntil([&] { return writer.Sizes().size() == 1; },
                          10s));  // the first batch is being written
    for (std::size_t i = 1; i < names.size(); ++i) {
        threads.emplace_back([&, i] { outcomes[i] = Submit(batcher, Named(names[i])); });
    }
    EXPECT_TRUE(WaitUntil([&] { return batcher.Waiting() == names.size(); }, 10s));
    writer.Release();
    for (auto& thread : threads) thread.join();

    EXPECT_EQ(outcomes[0], CreateOutcome::kCreated);
    EXPECT_EQ(outcomes[1], CreateOutcome::kNameTaken);
    EXPECT_EQ(outcomes[2], CreateOutcome::kCreated);
    EXPECT_EQ(outcomes[3], CreateOutcome::kNoQuota);
    EXPECT_EQ(outcomes[4], CreateOutcome::kCreated);
    EXPECT_EQ(outcomes[5], CreateOutcome::kCreated);
    EXPECT_EQ(writer.Sizes(), (std::vector<std::size_t>{1, 5}))
        << "the five queued creates went as one batch";
    // A batch's count drops once all of its answers have run, which may be just after the
    // last caller has heard its own outcome.
    EXPECT_TRUE(WaitUntil([&] { return batcher.Waiting() == 0; }, 10s));
}

TEST(CreateBatcherTest, AFailedBatchFailsItsCallersOnly) {
    GatedWriter writer;
    CreateBatcher batcher(
        [&](const std::vector<CreateItem>& items) { return writer.Write(items); });
    std::atomic<int> failed{0};
    CreateOutcome first{};
    std::thread lone([&] { first = Submit(batcher, Named("first")); });
    EXPECT_TRUE(WaitUntil([&] { return writer.Sizes().size() == 1; }, 10s));
    std::vector<std::thread> threads;
    for (const std::string name : {"x", "boom", "y"}) {
        threads.emplace_back([&, name] {
            try {
                Submit(batcher, Named(name));
            } catch (const std::runtime_error& error) {
                EXPECT_STREQ(error.what(), "database gone");
                ++failed;
            }
        });
    }
    EXPECT_TRUE(WaitUntil([&] { return batcher.Waiting() == 4; }, 10s));
    writer.Release();
    lone.join();
    for (auto& thread : threads) thread.join();
    EXPECT_EQ(first, CreateOutcome::kCreated) << "the earlier batch is not touched";
    EXPECT_EQ(failed.load(), 3) << "every create of the failed batch hears of it";
    // The batcher keeps working after a failure.
    EXPECT_EQ(Submit(batcher, Named("after")), CreateOutcome::kCreated);
}

TEST(CreateBatcherTest, ABatchHoldsAtMostMaxBatchCreates) {
    GatedWriter writer;
    CreateBatcher batcher([&](const std::vector<CreateItem>& items) { return writer.Write(items); },
                          2);
    std::vector<std::thread> threads;
    threads.emplace_back([&] { Submit(batcher, Named("0")); });
    EXPECT_TRUE(WaitUntil([&] { return writer.Sizes().size() == 1; }, 10s));
    for (int i = 1; i <= 5; ++i)
        threads.emplace_back([&, i] { Submit(batcher, Named(std::to_string(i))); });
    EXPECT_TRUE(WaitUntil([&] { return batcher.Waiting() == 6; }, 10s));
    writer.Release();
    for (auto& thread : threads) thread.join();
    EXPECT_EQ(writer.Sizes(), (std::vector<std::size_t>{1, 2, 2, 1}));
}

// The HTTP path: SubmitAsync returns at once (no thread waits for the commit) and each
// outcome or the batch's failure reaches its own callback, from the batcher's answering thread.
TEST(CreateBatcherTest, SubmitAsyncReturnsAtOnceAndEachCallbackGetsItsOwnOutcome) {
    GatedWriter writer;
    CreateBatcher batcher(
        [&](const std::vector<CreateItem>& items) { return writer.Write(items); });
    std::mutex mutex;
    std::vector<std::pair<std::string, CreateOutcome>> answers;
    int failed = 0;
    std::thread::id answered_on;
    auto remember = [&](const std::string& name) {
        return [&, name](CreateOutcome outcome, const std::exception_ptr& error) {
            std::lock_guard lock(mutex);
            answered_on = std::this_thread::get_id();
            if (error) {
                ++failed;
            } else {
                answers.emplace_back(name, outcome);
            }
        };
    };
    batcher.SubmitAsync(Named("first"), remember("first"));
    EXPECT_TRUE(WaitUntil([&] { return writer.Sizes().size() == 1; },
                          10s));  // the first batch is being written
    for (const char* name : {"taken-a", "b", "full-c"})
        batcher.SubmitAsync(Named(name), remember(name));
    EXPECT_EQ(batcher.Waiting(), 4u) << "all four queued or in flight, none answered";
    {
        std::lock_guard lock(mutex);
        EXPECT_TRUE(answers.empty());
    }
    writer.Release();
    EXPECT_TRUE(WaitUntil([&] { return batcher.Waiting() == 0; }, 10s));
    std::lock_guard lock(mutex);
    EXPECT_EQ(failed, 0);
    EXPECT_EQ(answers, (std::vector<std::pair<std::string, CreateOutcome>>{
                           {"first", CreateOutcome::kCreated},
                           {"taken-a", CreateOutcome::kNameTaken},
                           {"b", CreateOutcome::kCreated},
                           {"full-c", CreateOutcome::kNoQuota}}));
    EXPECT_NE(answered_on, std::this_thread::get_id());
    EXPECT_EQ(writer.Sizes(), (std::vector<std::size_t>{1, 3}));
}

// A stalled database (the writer never returns) must not let the queue grow without bound:
// past max_waiting a create is refused at once with pg::QueueFull (answered 503), and the
// queued ones are written once the database is back. Before the fix every create queued.
TEST(CreateBatcherTest, PastMaxWaitingACreateIsRefusedAtOnce) {
    GatedWriter writer;
    CreateBatcher batcher([&](const std::vector<CreateItem>& items) { return writer.Write(items); },
                          /*max_batch=*/256, /*max_waiting=*/3);
    std::atomic<int> created{0};
    std::atomic<int> refused{0};
    auto count = [&](CreateOutcome outcome, const std::exception_ptr& error) {
        if (!error) {
            if (outcome == CreateOutcome::kCreated) ++created;
            return;
        }
        try {
            std::rethrow_exception(error);
        } catch (const pg::QueueFull&) {
            ++refused;
        } catch (...) {
        }
    };
    batcher.SubmitAsync(Named("a"), count);
    EXPECT_TRUE(
        WaitUntil([&] { return writer.Sizes().size() == 1; }, 10s));  // stalled in the database
    batcher.SubmitAsync(Named("b"), count);
    batcher.SubmitAsync(Named("c"), count);
    batcher.SubmitAsync(Named("d"), count);  // the fourth: refused at once, on this thread
    EXPECT_EQ(refused.load(), 1);
    EXPECT_EQ(batcher.Waiting(), 3u);
    writer.Release();
    EXPECT_TRUE(WaitUntil([&] { return batcher.Waiting() == 0; }, 10s));
    EXPECT_EQ(created.load(), 3);
}

// Answers are sent on their own thread: while one batch's answers are still going out (here
// an answer that blocks), the next batch is written, and its answers wait their turn.
TEST(CreateBatcherTest, TheNextBatchIsWrittenWhileTheLastIsBeingAnswered) {
    std::atomic<int> writes{0};
    CreateBatcher batcher([&](const std::vector<CreateItem>& items) {
        ++writes;
        return std::vector<CreateOutcome>(items.size(), CreateOutcome::kCreated);
    });
    std::promise<void> unblock;
    std::shared_future<void> unblocked = unblock.get_future().share();
    std::atomic<bool> first_answering{false};
    std::atomic<int> second_answered{0};
    batcher.SubmitAsync(Named("slow"), [&](CreateOutcome, const std::exception_ptr&) {
        first_answering = true;
        unblocked.wait();  // e.g. a slow client's socket
    });
    EXPECT_TRUE(WaitUntil([&] { return first_answering.load(); }, 10s));
    batcher.SubmitAsync(Named("next"), [&](CreateOutcome outcome, const std::exception_ptr& error) {
        if (!error && outcome == CreateOutcome::kCreated) ++second_answered;
    });
    EXPECT_TRUE(WaitUntil([&] { return writes.load() == 2; }, 10s));
    EXPECT_EQ(writes.load(), 2) << "the second batch was written while the first was answered";
    EXPECT_EQ(second_answered.load(), 0) << "answers keep their order";
    EXPECT_EQ(batcher.Waiting(), 2u);
    unblock.set_value();
    EXPECT_TRUE(WaitUntil([&] { return batcher.Waiting() == 0; }, 10s));
    EXPECT_EQ(second_answered.load(), 1);
}

// Stopping writes and answers everything already queued.
TEST(CreateBatcherTest, StoppingAnswersEverythingQueued) {
    std::atomic<int> answered{0};
    {
        CreateBatcher batcher([&](const std::vector<CreateItem>& items) {
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
            return std::vector<CreateOutcome>(items.size(), CreateOutcome::kCreated);
        });
        for (int i = 0; i < 50; ++i) {
            batcher.SubmitAsync(Named(std::to_string(i)),
                                [&](CreateOutcome, const std::exception_ptr& error) {
                                    if (!error) ++answered;
                                });
        }
    }
    EXPECT_EQ(answered.load(), 50);
}

}  // namespace
}  // namespace storefleet::intake
