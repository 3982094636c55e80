// CommandDispatcher against librdkafka's built-in mock cluster: rebalances hand work over
// without two runners on one store, failing commands go to the dead-letter topic only
// once that publish is acknowledged, and shutdown waits for running commands.
#include "dispatcher.hpp"

#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <atomic>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "dispatcher_test_support.hpp"
#include "storefleet/common/ids.hpp"
#include "storefleet/events/envelope.hpp"
#include "storefleet/events/status.hpp"
#include "storefleet/kafka/publisher.hpp"
#include "storefleet/kafka/testing/mock_cluster.hpp"

namespace storefleet::provisioner {
namespace {

using kafka::testing::MockCluster;

using Clock = std::chrono::steady_clock;
using namespace dispatcher_testing;  // Create, ConsumerOptions, WaitUntil, kTopic

// Who runs which store now, shared by every dispatcher of a test, so two runners of one
// store at the same moment are caught.
struct Runners {
    std::mutex mutex;
    std::map<std::string, int> running;
    std::map<std::string, int> finished;
    std::map<std::string, int> cancelled;
    int overlaps = 0;

    void Enter(const std::string& store) {
        std::lock_guard lock(mutex);
        if (++running[store] > 1) ++overlaps;
    }
    void Leave(const std::string& store, bool done) {
        std::lock_guard lock(mutex);
        --running[store];
        ++(done ? finished : cancelled)[store];
    }
    int Finished() {
        std::lock_guard lock(mutex);
        int total = 0;
        for (const auto& [store, count] : finished) total += count;
        return total;
    }
    int Running() {
        std::lock_guard lock(mutex);
        int total = 0;
        for (const auto& [store, count] : running) total += count;
        return total;
    }
};

CommandDispatcher::Options Fast(std::size_t in_flight = 16, int max_attempts = 3) {
    return {.max_in_flight = in_flight,
            .max_attempts = max_attempts,
            .retry_backoff = std::chrono::milliseconds(10),
            .max_retry_backoff = std::chrono::milliseconds(50),
            .drain_timeout = std::chrono::seconds(20)};
}

Status NoDeadLetter(const kafka::ConsumedMessage&, const std::string& reason, int) {
    ADD_FAILURE() << "unexpected dead letter: " << reason;
    return Status::Ok();
}

TEST(DispatcherTest, ARevokeCancelsAndDrainsItsCommandsBeforeTheNextOwnerRunsThem) {
    MockCluster cluster(kTopic, 4);
    kafka::KafkaPublisher publisher(cluster.Brokers(), "test");
    std::vector<std::string> stores;
    std::vector<kafka::OutgoingMessage> batch;
    for (int i = 0; i < 12; ++i) {
        stores.push_back(NewUuid());
        batch.push_back({kTopic, stores.back(), Create(stores.back())});
    }
    ASSERT_TRUE(publisher.PublishAndWait(batch, std::chrono::seconds(10)).ok());

    Runners runners;
    metrics::Registry registry_a;
    metrics::Registry registry_b;
    ShutdownFlag shutdown_a;
    ShutdownFlag shutdown_b;
    std::atomic<bool> release_a{false};
    // A holds every command until it is cancelled (or released at the end).
    CommandDispatcher a(
        ConsumerOptions(cluster, "g1", "a"),
        [&](const Command& command, const CancelToken& cancel, AdmissionPermit&) {
            const std::string& store = command.envelope.store_id();
            runners.Enter(store);
            while (!cancel.Cancelled() && !release_a.load())
                std::this_thread::sleep_for(std::chrono::milliseconds(5));
            const bool cancelled = cancel.Cancelled();
            EXPECT_TRUE(!cancelled || cancel.Why() == CancelToken::Reason::kRevoked ||
                        cancel.Why() == CancelToken::Reason::kShutdown);
            runners.Leave(store, !cancelled);
            return cancelled ? CommandOutcome::kCancelled : CommandOutcome::kFinished;
        },
        NoDeadLetter, Fast(), registry_a, shutdown_a);
    std::thread thread_a([&] { a.Run(); });
    ASSERT_TRUE(WaitUntil([&] { return runners.Running() == 12; })) << "A runs all twelve";

    // B joins: cooperative rebalancing moves some partitions from A to B.
    CommandDispatcher b(
        ConsumerOptions(cluster, "g1", "b"),
        [&](const Command& command, const CancelToken&, AdmissionPermit&) {
            runners.Enter(command.envelope.store_id());
            runners.Leave(command.envelope.store_id(), true);
            return CommandOutcome::kFinished;
        },
        NoDeadLetter, Fast(), registry_b, shutdown_b);
    std::thread thread_b([&] { b.Run(); });
    ASSERT_TRUE(WaitUntil([&] { return runners.Finished() > 0; }))
        << "B got partitions and ran their commands";
    int cancelled_at_revoke = 0;
    {
        std::lock_guard lock(runners.mutex);
        for (const auto& [store, count] : runners.cancelled) cancelled_at_revoke += count;
    }
    release_a = true;
    ASSERT_TRUE(WaitUntil([&] { return runners.Finished() == 12; }));
    // Every partition committed past its commands while both run (stopping both at once
    // starts a rebalance, which may refuse a last commit: a replay, not a loss).
    auto committed_total = [&] {
        int64_t total = 0;
        for (int32_t partition = 0; partition < 4; ++partition) {
            total += std::max<int64_t>(0, cluster.Committed("g1", partition));
        }
        return total;
    };
    EXPECT_TRUE(WaitUntil([&] { return committed_total() == 12; }))
        << "every partition committed exactly past its commands, got " << committed_total();
    shutdown_a.Trigger();
    shutdown_b.Trigger();
    thread_a.join();
    thread_b.join();
    std::lock_guard lock(runners.mutex);
    EXPECT_EQ(runners.overlaps, 0) << "never two runners on one store";
    for (const auto& store : stores)
        EXPECT_EQ(runners.finished[store], 1) << store << " finished exactly once";
    EXPECT_GT(cancelled_at_revoke, 0) << "the revoke cancelled A's running commands";
    std::cout << "revoke cancelled " << cancelled_at_revoke
              << " running commands at A; all 12 ran to the end once\n";
}

TEST(DispatcherTest,
     AFailingCommandGoesToTheDeadLetterTopicOnlyOnceAcknowledgedAndItsPartitionMoves) {
    MockCluster cluster(kTopic, 1);
    kafka::KafkaPublisher publisher(cluster.Brokers(), "test");
    const std::string poison = NewUuid();
    const std::string healthy = NewUuid();
    ASSERT_TRUE(publisher
                    .PublishAndWait({{kTopic, poison, Create(poison)},
                                     {kTopic, "garbage", "not a protobuf \xff\xfe"},
                                     {kTopic, healthy, Create(healthy)}},
                                    std::chrono::seconds(10))
                    .ok());
    metrics::Registry registry;
    ShutdownFlag shutdown;
    std::atomic<int> poison_attempts{0};
    std::atomic<bool> healthy_done{false};
    std::mutex mutex;
    std::vector<std::pair<std::string, int>> dead;  // reason, attempts
    int refused_publishes = 0;
    CommandDispatcher dispatcher(
        ConsumerOptions(cluster, "g2", "c"),
        [&](const Command& command, const CancelToken&, AdmissionPermit&) {
            if (command.envelope.store_id() == poison) {
                ++poison_attempts;
                throw std::runtime_error("chart exploded");
            }
            healthy_done = true;
            return CommandOutcome::kFinished;
        },
        [&](const kafka::ConsumedMessage& message, const std::string& reason,
            int attempts) -> Status {
            std::lock_guard lock(mutex);
            if (message.key == poison && refused_publishes == 0) {
                ++refused_publishes;  // Kafka did not acknowledge the first try
                return Error::Retryable("kafka_timeout", "no ack");
            }
            dead.emplace_back(reason, attempts);
            return Status::Ok();
        },
        Fast(16, 3), registry, shutdown);
    std::thread thread([&] { dispatcher.Run(); });
    ASSERT_TRUE(WaitUntil([&] {
        std::lock_guard lock(mutex);
        return dead.size() == 2 && healthy_done.load();
    }));
    // The commits are asynchronous: wait for the one past all three.
    ASSERT_TRUE(
        WaitUntil([&] { return cluster.Committed("g2", 0) == 3; }, std::chrono::seconds(15)));
    shutdown.Trigger();
    thread.join();
    EXPECT_EQ(poison_attempts.load(), 3) << "retried up to max_attempts, then given up";
    std::lock_guard lock(mutex);
    EXPECT_EQ(refused_publishes, 1);
    bool saw_poison = false;
    bool saw_garbage = false;
    for (const auto& [reason, attempts] : dead) {
        if (reason.find("chart exploded") != std::string::npos) {
            saw_poison = true;
            EXPECT_EQ(attempts, 3);
            EXPECT_NE(reason.find("failed 3 times"), std::string::npos) << reason;
        }
        if (reason.find("undecodable") != std::string::npos) saw_garbage = true;
    }
    EXPECT_TRUE(saw_poison);
    EXPECT_TRUE(saw_garbage);
}

TEST(DispatcherTest, WhichCommandSupersedesWhich) {
    const std::string store = NewUuid();
    auto decode = [](const std::string& bytes) { return *events::Decode(bytes); };
    const auto create = decode(Create(store));
    const auto change2 = decode(Change(store, 2));
    const auto change3 = decode(Change(store, 3));
    const auto retry3 = decode(Change(store, 3, /*retry=*/true));
    const auto deletion = decode(Delete(store));
    EXPECT_TRUE(SupersedesCommand(change2, create));
    EXPECT_TRUE(SupersedesCommand(change3, change2));
    EXPECT_TRUE(SupersedesCommand(retry3, change3)) << "a retry runs its generation again";
    EXPECT_TRUE(SupersedesCommand(deletion, change3));
    EXPECT_TRUE(SupersedesCommand(deletion, create));
    EXPECT_FALSE(SupersedesCommand(create, change2)) << "a stale replay stops nothing";
    EXPECT_FALSE(SupersedesCommand(change2, change3));
    EXPECT_FALSE(SupersedesCommand(change3, change3)) << "a copy of the same command";
    EXPECT_FALSE(SupersedesCommand(create, create));
    EXPECT_FALSE(SupersedesCommand(change3, deletion)) << "a deletion is never cancelled";
    EXPECT_FALSE(SupersedesCommand(deletion, deletion));
}

// Changes queued behind a running create of the same store: the create is cancelled, the
// change in between ends without running, and only the newest runs to its end; all committed.
// A stale copy of the create consumed after that stops nothing.
TEST(DispatcherTest, ANewerChangeSupersedesTheRunningAndQueuedOnesOfItsStore) {
    MockCluster cluster(kTopic, 1);
    kafka::KafkaPublisher publisher(cluster.Brokers(), "test");
    const std::string store = NewUuid();
    ASSERT_TRUE(
        publisher.PublishAndWait({{kTopic, store, Create(store)}}, std::chrono::seconds(10)).ok());
    metrics::Registry registry;
    ShutdownFlag shutdown;
    std::mutex mutex;
    std::vector<std::string> outcomes;  // "<generation>:finished" / "<generation>:superseded"
    std::atomic<bool> create_running{false};
    std::atomic<bool> release_newest{false};
    CommandDispatcher dispatcher(
        ConsumerOptions(cluster, "g-supersede", "c"),
        [&](const Command& command, const CancelToken& cancel, AdmissionPermit&) {
            const uint64_t generation = events::CommandGeneration(command.envelope);
            if (generation == 1) create_running = true;
            // The create (offset 0) runs until cancelled, the newest change until released; the
            // others would finish at once if they ran uncancelled.
            while (!cancel.Cancelled() &&
                   (command.offset == 0 || (generation == 3 && !release_newest.load())))
                std::this_thread::sleep_for(std::chrono::milliseconds(5));
            std::lock_guard lock(mutex);
            const bool finished = !cancel.Cancelled();
            outcomes.push_back(
                std::to_string(generation) +
                (finished ? ":finished" : (cancel.Superseded() ? ":superseded" : ":cancelled")));
            return finished ? CommandOutcome::kFinished : CommandOutcome::kCancelled;
        },
        NoDeadLetter, Fast(), registry, shutdown);
    std::thread thread([&] { dispatcher.Run(); });
    ASSERT_TRUE(WaitUntil([&] { return create_running.load(); }));
    ASSERT_TRUE(publisher
                    .PublishAndWait({{kTopic, store, Change(store, 2)},
                                     {kTopic, store, Change(store, 3)},
                                     {kTopic, store, Create(store)}},
                                    std::chrono::seconds(10))
                    .ok());
    auto& consumed = registry.GetCounter("storefleet_provisioner_commands_total", "");
    ASSERT_TRUE(WaitUntil([&] { return consumed.Value() == 4.0; }));
    // Generation 3 runs now and is not stopped by the stale copy of the create behind it.
    ASSERT_TRUE(WaitUntil([&] {
        std::lock_guard lock(mutex);
        return outcomes.size() == 2;
    }));
    release_newest = true;
    ASSERT_TRUE(WaitUntil([&] { return cluster.Committed("g-supersede", 0) == 4; }));
    shutdown.Trigger();
    thread.join();
    std::lock_guard lock(mutex);
    EXPECT_EQ(outcomes, (std::vector<std::string>{"1:superseded", "2:superseded", "3:finished",
                                                  "1:finished"}))
        << "the stale create runs last (the provisioner finds it stale) and stops nothing";
}

// A given-up store command must not leave its store "provisioning" or "deleting" for good:
// the store is reported failed (retried until that is acknowledged) before its dead letter,
// and an undecodable message, which names no store, reports nothing.
TEST(DispatcherTest, AGivenUpCommandReportsItsStoreFailedBeforeItsDeadLetter) {
    MockCluster cluster(kTopic, 1);
    kafka::KafkaPublisher publisher(cluster.Brokers(), "test");
    const std::string create = NewUuid();
    const std::string deletion = NewUuid();
    ASSERT_TRUE(publisher
                    .PublishAndWait({{kTopic, create, Create(create)},
                                     {kTopic, deletion, Delete(deletion)},
                                     {kTopic, "garbage", "\x01\x02"}},
                                    std::chrono::seconds(10))
                    .ok());
    metrics::Registry registry;
    ShutdownFlag shutdown;
    std::mutex mutex;
    std::vector<std::string> order;  // "reported <store>" / "dead <key>", as they happened
    std::map<std::string, int> reported_attempts;
    int refused_reports = 0;
    auto options = Fast(16, 2);
    options.report_given_up = [&](const Command& command, int attempts,
                                  const CancelToken&) -> Status {
        std::lock_guard lock(mutex);
        if (refused_reports == 0) {
            ++refused_reports;  // the status topic did not acknowledge the first try
            return Error::Retryable("kafka_timeout", "no ack");
        }
        order.push_back("reported " + command.envelope.store_id());
        reported_attempts[command.envelope.store_id()] = attempts;
        return Status::Ok();
    };
    CommandDispatcher dispatcher(
        ConsumerOptions(cluster, "g-given-up", "c"),
        [&](const Command&, const CancelToken&, AdmissionPermit&) -> CommandOutcome {
            throw std::runtime_error("helm exploded");
        },
        [&](const kafka::ConsumedMessage& message, const std::string&, int) -> Status {
            std::lock_guard lock(mutex);
            order.push_back("dead " + message.key);
            return Status::Ok();
        },
        options, registry, shutdown);
    std::thread thread([&] { dispatcher.Run(); });
    ASSERT_TRUE(WaitUntil([&] { return cluster.Committed("g-given-up", 0) == 3; },
                          std::chrono::seconds(20)));
    shutdown.Trigger();
    thread.join();
    std::lock_guard lock(mutex);
    EXPECT_EQ(refused_reports, 1);
    EXPECT_EQ(reported_attempts.size(), 2U)
        << "both store commands reported, the undecodable one not";
    EXPECT_EQ(reported_attempts[create], 2);
    EXPECT_EQ(reported_attempts[deletion], 2);
    for (const std::string& store : {create, deletion}) {
        auto reported = std::find(order.begin(), order.end(), "reported " + store);
        auto dead = std::find(order.begin(), order.end(), "dead " + store);
        ASSERT_NE(reported, order.end()) << store;
        ASSERT_NE(dead, order.end()) << store;
        EXPECT_LT(reported, dead) << "the dead letter went before the store was reported failed";
        EXPECT_EQ(std::count(order.begin(), order.end(), "dead " + store), 1);
    }
    EXPECT_EQ(std::count(order.begin(), order.end(), "dead garbage"), 1);
}

TEST(DispatcherTest, NothingIsCommittedPastACommandWhoseDeadLetterWasNeverAcknowledged) {
    MockCluster cluster(kTopic, 1);
    kafka::KafkaPublisher publisher(cluster.Brokers(), "test");
    const std::string healthy = NewUuid();
    ASSERT_TRUE(
        publisher
            .PublishAndWait({{kTopic, "garbage", "\x01\x02"}, {kTopic, healthy, Create(healthy)}},
                            std::chrono::seconds(10))
            .ok());
    metrics::Registry registry;
    ShutdownFlag shutdown;
    std::atomic<int> publish_tries{0};
    std::atomic<bool> healthy_done{false};
    CommandDispatcher dispatcher(
        ConsumerOptions(cluster, "g3", "d"),
        [&](const Command&, const CancelToken&, AdmissionPermit&) {
            healthy_done = true;
            return CommandOutcome::kFinished;
        },
        [&](const kafka::ConsumedMessage&, const std::string&, int) -> Status {
            ++publish_tries;
            return Error::Retryable("kafka_timeout", "no ack");
        },
        Fast(), registry, shutdown);
    std::thread thread([&] { dispatcher.Run(); });
    ASSERT_TRUE(WaitUntil([&] { return healthy_done.load() && publish_tries.load() >= 3; }));
    shutdown.Trigger();
    thread.join();
    EXPECT_LT(cluster.Committed("g3", 0), 1)
        << "offset 0 was never dead-lettered, so nothing is committed";
}

TEST(DispatcherTest, ShutdownReturnsOnlyAfterRunningCommandsStopped) {
    MockCluster cluster(kTopic, 2);
    kafka::KafkaPublisher publisher(cluster.Brokers(), "test");
    std::vector<kafka::OutgoingMessage> batch;
    for (int i = 0; i < 4; ++i) {
        const std::string store = NewUuid();
        batch.push_back({kTopic, store, Create(store)});
    }
    ASSERT_TRUE(publisher.PublishAndWait(batch, std::chrono::seconds(10)).ok());
    Runners runners;
    metrics::Registry registry;
    ShutdownFlag shutdown;
    CommandDispatcher dispatcher(
        ConsumerOptions(cluster, "g4", "e"),
        [&](const Command& command, const CancelToken& cancel, AdmissionPermit&) {
            runners.Enter(command.envelope.store_id());
            while (!cancel.Cancelled()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
            std::this_thread::sleep_for(
                std::chrono::milliseconds(200));  // Helm takes a moment to die
            runners.Leave(command.envelope.store_id(), false);
            return CommandOutcome::kCancelled;
        },
        NoDeadLetter, Fast(), registry, shutdown);
    std::thread thread([&] { dispatcher.Run(); });
    ASSERT_TRUE(WaitUntil([&] { return runners.Running() == 4; }));
    shutdown.Trigger();
    thread.join();
    EXPECT_EQ(runners.Running(), 0) << "Run() returned while a command still ran";
    EXPECT_LT(cluster.Committed("g4", 0), 1) << "cancelled commands are not committed";
    EXPECT_LT(cluster.Committed("g4", 1), 1);
}

}  // namespace
}  // namespace storefleet::provisioner
