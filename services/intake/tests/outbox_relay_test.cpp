// The outbox relay's leadership and ordering logic, against in-memory fakes of its
// Postgres session and of Kafka (no servers).
#include "outbox_relay.hpp"

#include <gtest/gtest.h>

#include <future>

#include "fake_outbox.hpp"
#include "storefleet/test_support/wait.hpp"

namespace storefleet::intake {
namespace {

using namespace std::chrono_literals;
using test_support::WaitUntil;
using testing::Clock;
using testing::FakeLedger;
using testing::FakeOutboxDatabase;
using testing::FakePublisher;
using testing::PublishJournal;

OutboxRelay::Options Fast() {
    OutboxRelay::Options options;
    options.idle_poll = 5ms;
    options.standby_poll = 20ms;
    options.publish_timeout = 100ms;
    options.message_timeout = 150ms;
    options.batch_size = 3;
    return options;
}

// `stores` stores, each with a create then a delete, the stores interleaved as requests
// would arrive. Returns the rows' payloads (their ids) in outbox order.
std::vector<std::string> CreatesThenDeletes(FakeOutboxDatabase& db, int stores,
                                            const std::string& prefix = "s") {
    std::vector<std::string> order;
    for (int s = 0; s < stores; ++s) order.push_back(db.Add(prefix + std::to_string(s)));
    for (int s = 0; s < stores; ++s) order.push_back(db.Add(prefix + std::to_string(s)));
    return order;
}

struct Replica {
    Replica(const std::string& name, FakeOutboxDatabase& db, PublishJournal& journal,
            OutboxRelay::Options options)
        : publisher(name, journal, db) {
        auto owned = std::make_unique<FakeLedger>(db);
        ledger = owned.get();
        relay = std::make_unique<OutboxRelay>(std::move(owned), publisher, registry, options);
    }
    metrics::Registry registry;
    FakePublisher publisher;
    FakeLedger* ledger = nullptr;
    std::unique_ptr<OutboxRelay> relay;
};

// Relays until a step sends nothing, swallowing the failures the test provokes.
void Drain(OutboxRelay& relay, int max_steps = 200) {
    for (int i = 0; i < max_steps; ++i) {
        try {
            if (relay.RelayOnce() == 0) return;
        } catch (const std::exception&) {
        }
    }
}

TEST(OutboxRelayTest, PublishesEveryRowInOutboxOrderOneAcknowledgedBatchAfterAnother) {
    FakeOutboxDatabase db;
    PublishJournal journal;
    Replica a("a", db, journal, Fast());
    const auto expected = CreatesThenDeletes(db, 10);
    Drain(*a.relay);
    EXPECT_EQ(journal.Acknowledged(), expected);
    EXPECT_FALSE(a.publisher.OutOfOrder())
        << "a row was published before an earlier one was acknowledged and marked";
    for (const auto& attempt : journal.Snapshot()) EXPECT_LE(attempt.payloads.size(), 3U);
    EXPECT_EQ(db.Unsent(), 0);
    EXPECT_TRUE(a.relay->Leader());
    EXPECT_TRUE(a.relay->Healthy());
    EXPECT_EQ(a.registry.GetGauge("storefleet_outbox_leader", "").Value(), 1);
    EXPECT_EQ(db.InFlightLeft(), 0ms) << "after an acknowledged batch nothing is in flight";
}

TEST(OutboxRelayTest, AFailedPublishKeepsTheLeadershipTurnsUnhealthyAndRetriesTheSameBatchFirst) {
    FakeOutboxDatabase db;
    PublishJournal journal;
    Replica a("a", db, journal, Fast());
    const auto expected = CreatesThenDeletes(db, 4);
    int failures_left = 2;
    a.publisher.behaviour = [&](const auto&) -> Status {
        if (failures_left-- > 0)
            return Error::Retryable("kafka_timeout", "Kafka did not acknowledge in time");
        return Status::Ok();
    };
    EXPECT_THROW(a.relay->RelayOnce(), OutboxRelay::PublishFailed);
    EXPECT_TRUE(a.relay->Leader()) << "Kafka trouble is not a reason to hand over";
    EXPECT_FALSE(a.relay->Healthy()) << "the leader cannot publish: /readyz must be red";
    EXPECT_EQ(db.Unsent(), static_cast<int>(expected.size())) << "nothing marked sent";
    EXPECT_EQ(db.InFlightLeft(), 0ms)
        << "a failed publish has reported every message: nothing in flight";
    EXPECT_THROW(a.relay->RelayOnce(), OutboxRelay::PublishFailed);
    Drain(*a.relay);
    EXPECT_TRUE(a.relay->Healthy());
    const auto attempts = journal.Snapshot();
    ASSERT_GE(attempts.size(), 3U);
    EXPECT_EQ(attempts[0].payloads, attempts[1].payloads);
    EXPECT_EQ(attempts[1].payloads, attempts[2].payloads)
        << "the failed batch is retried whole, before anything later";
    EXPECT_EQ(journal.Acknowledged(), expected);
    EXPECT_FALSE(a.publisher.OutOfOrder());
}

TEST(OutboxRelayTest, OnlyTheLockHolderPublishes) {
    FakeOutboxDatabase db;
    PublishJournal journal;
    Replica a("a", db, journal, Fast());
    Replica b("b", db, journal, Fast());
    CreatesThenDeletes(db, 3);
    EXPECT_GT(a.relay->RelayOnce(), 0);
    EXPECT_EQ(b.relay->RelayOnce(), 0);
    Drain(*b.relay);
    EXPECT_TRUE(a.relay->Leader());
    EXPECT_FALSE(b.relay->Leader());
    for (const auto& attempt : journal.Snapshot()) EXPECT_EQ(attempt.relay, "a");
    EXPECT_TRUE(b.relay->Healthy()) << "a standby is not a reason to be unready";
}

TEST(OutboxRelayTest, ALeaderWhoseSessionDiesStopsAndTheStandbyTakesOverWithNothingLost) {
    FakeOutboxDatabase db;
    PublishJournal journal;
    Replica a("a", db, journal, Fast());
    Replica b("b", db, journal, Fast());
    auto expected = CreatesThenDeletes(db, 4, "first-");
    ASSERT_EQ(a.relay->RelayOnce(), 3);
    ASSERT_EQ(b.relay->RelayOnce(), 0);
    db.Kill(a.ledger->Session());  // pg_terminate_backend: the lock goes with the session
    const auto later = CreatesThenDeletes(db, 4, "later-");
    expected.insert(expected.end(), later.begin(), later.end());
    EXPECT_ANY_THROW(a.relay->RelayOnce());
    EXPECT_FALSE(a.relay->Leader()) << "a leader whose session broke must stop at once";
    const auto published_by_a = journal.Snapshot().size();
    Drain(*b.relay);
    EXPECT_TRUE(b.relay->Leader());
    EXPECT_EQ(journal.Acknowledged(), expected) << "nothing lost, nothing doubled, in order";
    const auto attempts = journal.Snapshot();
    for (std::size_t i = published_by_a; i < attempts.size(); ++i)
        EXPECT_EQ(attempts[i].relay, "b");
    // a comes back as a standby: it cannot take the lock b holds.
    EXPECT_EQ(a.relay->RelayOnce(), 0);
    EXPECT_FALSE(a.relay->Leader());
}

TEST(OutboxRelayTest, ATakeOverWaitsUntilThePreviousLeadersPublishCanNoLongerLand) {
    FakeOutboxDatabase db;
    PublishJournal journal;
    Replica a("a", db, journal, Fast());
    Replica b("b", db, journal, Fast());
    const auto expected = CreatesThenDeletes(db, 2);
    // a's session dies while its batch is with Kafka (a crash between publish and mark).
    a.publisher.behaviour = [&](const auto&) {
        db.Kill(a.ledger->Session());
        return Status::Ok();
    };
    // Taken before a's publish begins (its fence is counted from there), so a stall between the
    // two cannot shorten the measured wait.
    const Clock::time_point began = Clock::now();
    EXPECT_ANY_THROW(a.relay->RelayOnce());
    EXPECT_FALSE(a.relay->Leader());
    EXPECT_EQ(db.Unsent(), 4) << "the batch was published but not marked";
    Drain(*b.relay);
    const auto attempts = journal.Snapshot();
    ASSERT_GE(attempts.size(), 2U);
    EXPECT_EQ(attempts[1].relay, "b");
    // a's messages could land up to publish_timeout + message_timeout (250 ms) after it
    // began; b publishes only after that.
    EXPECT_GE(attempts[1].started - began, 200ms);
    EXPECT_EQ(attempts[1].payloads, attempts[0].payloads)
        << "at least once: the unmarked batch is sent again, in order";
    std::vector<std::string> by_b;
    for (const auto& attempt : attempts) {
        if (attempt.relay == "b")
            by_b.insert(by_b.end(), attempt.payloads.begin(), attempt.payloads.end());
    }
    EXPECT_EQ(by_b, expected);
}

TEST(OutboxRelayTest, ALeaderThatNoLongerHoldsTheLockPublishesNothing) {
    FakeOutboxDatabase db;
    PublishJournal journal;
    Replica a("a", db, journal, Fast());
    db.Add("s1");
    ASSERT_EQ(a.relay->RelayOnce(), 1);
    db.Add("s1");
    db.StealLeadership();
    EXPECT_EQ(a.relay->RelayOnce(), 0);
    EXPECT_FALSE(a.relay->Leader());
    EXPECT_EQ(journal.Snapshot().size(), 1U) << "fenced before publishing";
}

TEST(OutboxRelayTest, ALeaderStuckInAKafkaWaitTurnsUnhealthyOnceTheOldestRowIsTooOld) {
    FakeOutboxDatabase db;
    PublishJournal journal;
    auto options = Fast();
    options.max_unsent_age = 150ms;
    Replica a("a", db, journal, options);
    std::promise<void> release;
    auto released = release.get_future().share();
    std::atomic<bool> waiting{false};
    a.publisher.behaviour = [&](const auto&) {
        waiting = true;
        released.wait();
        return Status::Ok();
    };
    db.Add("s1");
    a.relay->Start();
    ASSERT_TRUE(WaitUntil([&] { return waiting.load(); }, 10s));
    EXPECT_TRUE(WaitUntil([&] { return !a.relay->Healthy(); }, 5s))
        << "stuck publishing past max_unsent_age";
    EXPECT_GT(a.registry.GetGauge("storefleet_outbox_oldest_unsent_seconds", "").Value(), -1);
    release.set_value();
    EXPECT_TRUE(WaitUntil([&] { return db.Unsent() == 0 && a.relay->Healthy(); }, 10s));
    a.relay->Stop();
}

TEST(OutboxRelayTest, RowsOlderThanTheBoundMakeTheLeaderUnhealthyUntilPublished) {
    FakeOutboxDatabase db;
    PublishJournal journal;
    auto options = Fast();
    options.max_unsent_age = 1000ms;
    Replica a("a", db, journal, options);
    a.publisher.behaviour = [&](const auto&) {
        return Error::Retryable("kafka_timeout", "no broker");
    };
    db.Add("s1", 5s);
    EXPECT_THROW(a.relay->RelayOnce(), OutboxRelay::PublishFailed);
    EXPECT_FALSE(a.relay->Healthy());
    EXPECT_GE(a.registry.GetGauge("storefleet_outbox_oldest_unsent_seconds", "").Value(), 5.0);
    a.publisher.behaviour = nullptr;
    Drain(*a.relay);
    EXPECT_TRUE(a.relay->Healthy());
    EXPECT_EQ(a.registry.GetGauge("storefleet_outbox_oldest_unsent_seconds", "").Value(), 0);
}

TEST(OutboxRelayTest, TwoRunningRelaysNeverLeadTogetherAndHandOverWhenTheLeaderStops) {
    FakeOutboxDatabase db;
    PublishJournal journal;
    Replica a("a", db, journal, Fast());
    Replica b("b", db, journal, Fast());
    std::atomic<bool> both{false};
    std::atomic<bool> watching{true};
    std::thread watcher([&] {
        while (watching) {
            if (a.relay->Leader() && b.relay->Leader()) both = true;
            std::this_thread::yield();
        }
    });
    auto expected = CreatesThenDeletes(db, 10, "first-");
    a.relay->Start();
    b.relay->Start();
    ASSERT_TRUE(WaitUntil([&] { return db.Unsent() == 0; }, 10s));
    Replica& leader = a.relay->Leader() ? a : b;
    Replica& standby = a.relay->Leader() ? b : a;
    leader.relay->Stop();  // closes its session: the lock is free at once
    const auto later = CreatesThenDeletes(db, 10, "later-");
    expected.insert(expected.end(), later.begin(), later.end());
    ASSERT_TRUE(WaitUntil([&] { return db.Unsent() == 0; }, 10s));
    EXPECT_TRUE(standby.relay->Leader());
    standby.relay->Stop();
    watching = false;
    watcher.join();
    EXPECT_FALSE(both.load()) << "two leaders at once";
    EXPECT_EQ(journal.Acknowledged(), expected);
    // Publishes of different relays never overlap in time.
    const auto attempts = journal.Snapshot();
    for (std::size_t i = 1; i < attempts.size(); ++i) {
        EXPECT_LE(attempts[i - 1].finished, attempts[i].started);
    }
}

TEST(OutboxRelayTest, OnlyTheLeaderPrunesSentRowsAndPeriodically) {
    FakeOutboxDatabase db;
    PublishJournal journal;
    auto options = Fast();
    options.prune_interval = 20ms;
    Replica a("a", db, journal, options);
    a.relay->Start();
    ASSERT_TRUE(WaitUntil([&] { return a.relay->Leader(); }, 10s));
    Replica b("b", db, journal, options);
    b.relay->Start();
    EXPECT_TRUE(WaitUntil([&] { return a.ledger->Prunes() >= 3; }, 10s));
    b.relay->Stop();
    a.relay->Stop();
    EXPECT_FALSE(b.relay->Leader());
    EXPECT_EQ(b.ledger->Prunes(), 0);
}

}  // namespace
}  // namespace storefleet::intake
