// CommandDispatcher with an AdmissionLimit, against librdkafka's mock cluster: the limit
// bounds how many commands run at once (below max_in_flight), per-store order and commits
// are unchanged, and a command waiting for a permit still answers a deletion that supersedes
// it and a shutdown.
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>

#include <atomic>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "admission.hpp"
#include "dispatcher.hpp"
#include "dispatcher_test_support.hpp"
#include "storefleet/common/ids.hpp"
#include "storefleet/events/envelope.hpp"
#include "storefleet/events/status.hpp"
#include "storefleet/kafka/publisher.hpp"
#include "storefleet/kafka/testing/mock_cluster.hpp"

namespace storefleet::provisioner {
namespace {

using kafka::testing::MockCluster;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using namespace dispatcher_testing;  // Create, Delete, ConsumerOptions, WaitUntil, kTopic

CommandDispatcher::Options WithAdmission(AdmissionLimit& admission, std::size_t in_flight) {
    return {.max_in_flight = in_flight,
            .max_attempts = 3,
            .retry_backoff = std::chrono::milliseconds(10),
            .max_retry_backoff = std::chrono::milliseconds(50),
            .drain_timeout = std::chrono::seconds(20),
            .admission = &admission};
}

Status NoDeadLetter(const kafka::ConsumedMessage&, const std::string& reason, int) {
    ADD_FAILURE() << "unexpected dead letter: " << reason;
    return Status::Ok();
}

AdmissionLimit::Options Limit(std::size_t max_limit) {
    // A window far longer than the test: the limit stays where it starts.
    return {.enabled = true,
            .min_limit = 1,
            .max_limit = max_limit,
            .latency_target = 100ms,
            .window = 1h};
}

TEST(DispatcherAdmissionTest, TheLimitBoundsRunningCommandsAndKeepsEachStoresOrder) {
    MockCluster cluster(kTopic, 3);
    kafka::KafkaPublisher publisher(cluster.Brokers(), "test");
    std::vector<std::string> stores;
    std::vector<kafka::OutgoingMessage> batch;
    for (int i = 0; i < 6; ++i) stores.push_back(NewUuid());
    for (int round = 0; round < 3; ++round) {
        for (const auto& store : stores)
            batch.push_back({kTopic, store, Create(store, "r" + std::to_string(round))});
    }
    ASSERT_TRUE(publisher.PublishAndWait(batch, 10s).ok());

    metrics::Registry registry;
    ShutdownFlag shutdown;
    AdmissionLimit admission(Limit(2), registry);
    std::mutex mutex;
    int running = 0;
    int peak = 0;
    std::map<std::string, std::vector<std::string>> seen;  // store -> the rounds, in run order
    CommandDispatcher dispatcher(
        ConsumerOptions(cluster, "ga1", "admission-test"),
        [&](const Command& command, const CancelToken&, AdmissionPermit&) {
            {
                std::lock_guard lock(mutex);
                peak = std::max(peak, ++running);
                seen[command.envelope.store_id()].push_back(
                    command.envelope.store_requested().name());
            }
            std::this_thread::sleep_for(20ms);
            std::lock_guard lock(mutex);
            --running;
            return CommandOutcome::kFinished;
        },
        NoDeadLetter, WithAdmission(admission, 8), registry, shutdown);
    std::thread thread([&] { dispatcher.Run(); });
    auto total = [&] {
        std::lock_guard lock(mutex);
        std::size_t n = 0;
        for (const auto& [store, rounds] : seen) n += rounds.size();
        return n;
    };
    ASSERT_TRUE(WaitUntil([&] { return total() == 18 && admission.InUse() == 0; }));
    auto committed = [&] {
        int64_t sum = 0;
        for (int32_t p = 0; p < 3; ++p) sum += std::max<int64_t>(0, cluster.Committed("ga1", p));
        return sum;
    };
    EXPECT_TRUE(WaitUntil([&] { return committed() == 18; })) << "committed " << committed();
    shutdown.Trigger();
    thread.join();
    std::lock_guard lock(mutex);
    EXPECT_LE(peak, 2) << "more commands ran at once than the admission limit";
    EXPECT_GE(peak, 1);
    for (const auto& store : stores) {
        EXPECT_EQ(seen[store], (std::vector<std::string>{"r0", "r1", "r2"}))
            << store << " out of order";
    }
}

// The handler gets the command's permit: given back early (as the provisioner does before
// readiness), the next command runs while the first still does, with a limit of one.
TEST(DispatcherAdmissionTest, APermitTheHandlerGivesBackLetsTheNextCommandRun) {
    MockCluster cluster(kTopic, 1);
    kafka::KafkaPublisher publisher(cluster.Brokers(), "test");
    const std::string first = NewUuid();
    const std::string second = NewUuid();
    ASSERT_TRUE(
        publisher
            .PublishAndWait({{kTopic, first, Create(first)}, {kTopic, second, Create(second)}}, 10s)
            .ok());

    metrics::Registry registry;
    ShutdownFlag shutdown;
    AdmissionLimit admission(Limit(1), registry);
    std::atomic<bool> second_ran{false};
    std::atomic<bool> first_saw_second{false};
    CommandDispatcher dispatcher(
        ConsumerOptions(cluster, "ga4", "admission-test"),
        [&](const Command& command, const CancelToken& cancel, AdmissionPermit& permit) {
            if (command.envelope.store_id() == second) {
                second_ran = true;
                return CommandOutcome::kFinished;
            }
            permit.Release();
            permit.Release();  // idempotent: gives back one permit only
            const auto deadline = Clock::now() + 20s;
            while (!second_ran.load() && !cancel.Cancelled() && Clock::now() < deadline)
                std::this_thread::sleep_for(5ms);
            first_saw_second = second_ran.load();
            return CommandOutcome::kFinished;
        },
        NoDeadLetter, WithAdmission(admission, 4), registry, shutdown);
    std::thread thread([&] { dispatcher.Run(); });
    EXPECT_TRUE(WaitUntil([&] { return first_saw_second.load(); }))
        << "the second command never ran while the first, its permit given back, still did";
    EXPECT_TRUE(WaitUntil([&] { return admission.InUse() == 0; }))
        << "a permit was kept or given back twice";
    shutdown.Trigger();
    thread.join();
    EXPECT_EQ(admission.InUse(), 0U);
}

TEST(DispatcherAdmissionTest, ADeletionSupersedesAProvisioningStillWaitingForAPermit) {
    MockCluster cluster(kTopic, 1);
    kafka::KafkaPublisher publisher(cluster.Brokers(), "test");
    const std::string busy = NewUuid();
    const std::string doomed = NewUuid();
    ASSERT_TRUE(
        publisher
            .PublishAndWait({{kTopic, busy, Create(busy)}, {kTopic, doomed, Create(doomed)}}, 10s)
            .ok());

    metrics::Registry registry;
    ShutdownFlag shutdown;
    AdmissionLimit admission(Limit(1), registry);
    std::atomic<bool> release{false};
    std::mutex mutex;
    std::vector<std::string> ran;  // "create:<store>" / "delete:<store>", in order
    CommandDispatcher dispatcher(
        ConsumerOptions(cluster, "ga2", "admission-test"),
        [&](const Command& command, const CancelToken& cancel, AdmissionPermit&) {
            const bool deletion = command.envelope.has_store_deletion_requested();
            {
                std::lock_guard lock(mutex);
                ran.push_back((deletion ? "delete:" : "create:") + command.envelope.store_id());
            }
            if (command.envelope.store_id() == busy) {
                while (!release.load() && !cancel.Cancelled()) std::this_thread::sleep_for(5ms);
            }
            return CommandOutcome::kFinished;
        },
        NoDeadLetter, WithAdmission(admission, 4), registry, shutdown);
    std::thread thread([&] { dispatcher.Run(); });
    // busy holds the only permit; doomed's provisioning waits for it.
    ASSERT_TRUE(WaitUntil([&] { return admission.InUse() == 1 && admission.Waiting() == 1; }));
    ASSERT_TRUE(publisher.PublishAndWait({{kTopic, doomed, Delete(doomed)}}, 10s).ok());
    // Once the deletion is consumed it has superseded the waiting provisioning (Accept does
    // that at once), which then ends without running; the deletion waits for a permit.
    auto& consumed = registry.GetCounter("storefleet_provisioner_commands_total", "");
    ASSERT_TRUE(WaitUntil([&] { return consumed.Value() == 3.0; }));
    release = true;
    ASSERT_TRUE(WaitUntil([&] { return cluster.Committed("ga2", 0) == 3; }));
    shutdown.Trigger();
    thread.join();
    std::lock_guard lock(mutex);
    EXPECT_EQ(ran, (std::vector<std::string>{"create:" + busy, "delete:" + doomed}))
        << "the superseded provisioning never ran; the deletion did, after it";
}

TEST(DispatcherAdmissionTest, ShutdownReleasesCommandsWaitingForAPermitWithoutCommittingThem) {
    MockCluster cluster(kTopic, 1);
    kafka::KafkaPublisher publisher(cluster.Brokers(), "test");
    std::vector<kafka::OutgoingMessage> batch;
    for (int i = 0; i < 3; ++i) {
        const std::string store = NewUuid();
        batch.push_back({kTopic, store, Create(store)});
    }
    ASSERT_TRUE(publisher.PublishAndWait(batch, 10s).ok());
    metrics::Registry registry;
    ShutdownFlag shutdown;
    AdmissionLimit admission(Limit(1), registry);
    std::atomic<int> started{0};
    CommandDispatcher dispatcher(
        ConsumerOptions(cluster, "ga3", "admission-test"),
        [&](const Command&, const CancelToken& cancel, AdmissionPermit&) {
            ++started;
            while (!cancel.Cancelled()) std::this_thread::sleep_for(5ms);
            return CommandOutcome::kCancelled;
        },
        NoDeadLetter, WithAdmission(admission, 4), registry, shutdown);
    std::thread thread([&] { dispatcher.Run(); });
    ASSERT_TRUE(WaitUntil([&] { return started.load() == 1 && admission.Waiting() == 2; }));
    const auto stopping = Clock::now();
    shutdown.Trigger();
    thread.join();
    EXPECT_LT(Clock::now() - stopping, 10s);
    EXPECT_EQ(started.load(), 1) << "a waiting command ran after the shutdown";
    EXPECT_EQ(admission.InUse(), 0U);
    EXPECT_EQ(admission.Waiting(), 0U);
    EXPECT_LT(cluster.Committed("ga3", 0), 1) << "nothing finished, so nothing is committed";
}

}  // namespace
}  // namespace storefleet::provisioner
