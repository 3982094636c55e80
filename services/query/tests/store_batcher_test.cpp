#include "store_batcher.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>

namespace storefleet::query {
namespace {

// Answers GetStores with a store for every key whose id does not start with "none", after
// the first call has been let go (so that requests pile up behind it).
class GatedReader : public StoreReader {
public:
    std::optional<http::Principal> PrincipalOfToken(const std::string&) override {
        return std::nullopt;
    }
    std::vector<StoreView> ListStores(const std::string&, const ListRequest&) override {
        return {};
    }
    std::optional<StoreView> GetStore(const std::string&, const std::string&) override {
        return std::nullopt;
    }
    std::optional<std::vector<EventView>> GetTimeline(const std::string&,
                                                      const std::string&) override {
        return std::nullopt;
    }
    std::vector<std::optional<StoreView>> GetStores(const std::vector<StoreKey>& keys) override {
        std::unique_lock<std::mutex> lock(mutex);
        batch_sizes.push_back(keys.size());
        entered.notify_all();
        open_gate.wait(lock, [this] { return gate_open; });
        if (fail) throw ReadUnavailable("connection lost");
        std::vector<std::optional<StoreView>> stores;
        for (const auto& key : keys) {
            if (key.store_id.rfind("none", 0) == 0) {
                stores.emplace_back();
                continue;
            }
            StoreView store;
            store.id = key.store_id;
            store.name = key.tenant_id;
            stores.emplace_back(store);
        }
        return stores;
    }
    void Open() {
        std::lock_guard<std::mutex> lock(mutex);
        gate_open = true;
        open_gate.notify_all();
    }
    void WaitForCalls(std::size_t calls) {
        std::unique_lock<std::mutex> lock(mutex);
        ASSERT_TRUE(entered.wait_for(lock, std::chrono::seconds(5),
                                     [&] { return batch_sizes.size() >= calls; }));
    }

    std::mutex mutex;
    std::condition_variable entered;
    std::condition_variable open_gate;
    bool gate_open = false;
    bool fail = false;
    std::vector<std::size_t> batch_sizes;
};

struct Answer {
    std::optional<StoreView> store;
    bool failed = false;
};

// A stalled database must not let waiting reads grow without bound: past max_waiting a GET
// is answered at once with ReadUnavailable (503). Before the fix every request queued.
TEST(StoreBatcherTest, PastMaxWaitingARequestIsRefusedAtOnce) {
    GatedReader reader;
    StoreBatcher batcher(reader, /*threads=*/1, /*max_batch=*/64, /*max_waiting=*/2);
    std::atomic<int> answered{0};
    std::atomic<int> refused{0};
    auto count = [&](const std::optional<StoreView>&, const std::exception_ptr& error) {
        (error ? refused : answered)++;
    };
    batcher.Submit({"t", "s0"}, count);
    reader.WaitForCalls(1);  // the first read is stalled in the database
    batcher.Submit({"t", "s1"}, count);
    batcher.Submit({"t", "s2"}, count);
    batcher.Submit({"t", "s3"}, count);  // the third waiting: refused at once
    EXPECT_EQ(refused.load(), 1);
    EXPECT_EQ(answered.load(), 0);
    reader.Open();
    batcher.Stop();
    EXPECT_EQ(answered.load(), 3);
}

TEST(StoreBatcherTest, RequestsThatArriveDuringARead_ShareTheNextStatement_AndEachGetsItsOwnStore) {
    GatedReader reader;
    StoreBatcher batcher(reader, 1, 64);
    std::vector<std::promise<Answer>> answers(11);
    auto submit = [&](std::size_t i, const std::string& tenant, const std::string& id) {
        batcher.Submit({tenant, id}, [&answers, i](std::optional<StoreView> store,
                                                   const std::exception_ptr& error) {
            answers[i].set_value({std::move(store), error != nullptr});
        });
    };
    submit(0, "acme", "s0");
    reader.WaitForCalls(1);  // the first read is under way; the next ten queue behind it
    for (std::size_t i = 1; i < 11; ++i)
        submit(i, i % 2 ? "acme" : "globex", i == 5 ? "none-5" : "s" + std::to_string(i));
    reader.Open();
    for (std::size_t i = 0; i < 11; ++i) {
        auto future = answers[i].get_future();
        ASSERT_EQ(future.wait_for(std::chrono::seconds(5)), std::future_status::ready) << i;
        Answer answer = future.get();
        EXPECT_FALSE(answer.failed);
        if (i == 5) {
            EXPECT_FALSE(answer.store) << "a store the tenant does not have";
            continue;
        }
        ASSERT_TRUE(answer.store) << i;
        EXPECT_EQ(answer.store->id, "s" + std::to_string(i));
        EXPECT_EQ(answer.store->name, i == 0 || i % 2 ? "acme" : "globex")
            << "each answer is its own tenant's";
    }
    std::lock_guard<std::mutex> lock(reader.mutex);
    EXPECT_EQ(reader.batch_sizes, (std::vector<std::size_t>{1, 10}));
}

TEST(StoreBatcherTest, ABatchNeverExceedsItsLimit) {
    GatedReader reader;
    StoreBatcher batcher(reader, 1, 4);
    std::atomic<int> answered{0};
    auto count = [&](const std::optional<StoreView>&, const std::exception_ptr&) { ++answered; };
    batcher.Submit({"acme", "s0"}, count);
    reader.WaitForCalls(1);
    for (int i = 1; i <= 9; ++i) batcher.Submit({"acme", "s" + std::to_string(i)}, count);
    reader.Open();
    batcher.Stop();
    EXPECT_EQ(answered.load(), 10);
    std::lock_guard<std::mutex> lock(reader.mutex);
    EXPECT_EQ(reader.batch_sizes, (std::vector<std::size_t>{1, 4, 4, 1}));
}

TEST(StoreBatcherTest, AFailedReadAnswersEveryRequestOfItsBatchWithTheError) {
    GatedReader reader;
    reader.fail = true;
    StoreBatcher batcher(reader, 2, 64);
    std::atomic<int> unavailable{0};
    for (int i = 0; i < 5; ++i) {
        batcher.Submit({"acme", "s" + std::to_string(i)},
                       [&](const std::optional<StoreView>& store, const std::exception_ptr& error) {
                           try {
                               std::rethrow_exception(error);
                           } catch (const ReadUnavailable&) {
                               if (!store) ++unavailable;
                           } catch (...) {
                           }
                       });
    }
    reader.Open();
    batcher.Stop();
    EXPECT_EQ(unavailable.load(), 5);
}

TEST(StoreBatcherTest, AfterStopARequestIsAnsweredAtOnceWithAnError) {
    GatedReader reader;
    reader.Open();
    StoreBatcher batcher(reader, 2, 64);
    batcher.Stop();
    bool failed = false;
    batcher.Submit({"acme", "s0"},
                   [&](const std::optional<StoreView>&, const std::exception_ptr& error) {
                       failed = error != nullptr;
                   });
    EXPECT_TRUE(failed);
}

}  // namespace
}  // namespace storefleet::query
