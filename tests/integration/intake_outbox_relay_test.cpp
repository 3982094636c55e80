// The outbox relay on the real Postgres and Kafka of the local stack, with real store
// commands written by IntakeStore:
//  - two relays over one outbox: each store's create and delete reach store-commands in
//    outbox order, only one relay publishes at a time, and when the leader's session is
//    killed (pg_terminate_backend) the other takes over with nothing lost;
//  - with Kafka unreachable the relay holds no transaction, row lock or pooled connection
//    while it waits, and turns unhealthy.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "intake_store.hpp"
#include "outbox_relay.hpp"
#include "storefleet/common/ids.hpp"
#include "storefleet/events/envelope.hpp"
#include "storefleet/events/status.hpp"
#include "storefleet/kafka/consumer.hpp"
#include "storefleet/pg/pool.hpp"

namespace storefleet::intake {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::string Env(const char* name) {
    const char* value = std::getenv(name);  // NOLINT(concurrency-mt-unsafe)
    return value != nullptr ? value : "";
}

template <typename Predicate>
bool WaitUntil(Predicate predicate, std::chrono::milliseconds limit = 60s) {
    const auto deadline = Clock::now() + limit;
    while (!predicate()) {
        if (Clock::now() > deadline) return false;
        std::this_thread::sleep_for(20ms);
    }
    return true;
}

// Every publish, by which relay and when, around the real publisher.
struct Journal {
    struct Publish {
        std::string relay;
        Clock::time_point started;
        Clock::time_point finished;
        std::size_t messages = 0;
        bool ok = false;
    };
    std::mutex mutex;
    std::vector<Publish> publishes;
};

class RecordingPublisher final : public kafka::EventPublisher {
public:
    RecordingPublisher(std::string relay, kafka::EventPublisher& inner, Journal& journal)
        : relay_(std::move(relay)), inner_(inner), journal_(journal) {}
    Status PublishAndWait(const std::vector<kafka::OutgoingMessage>& messages,
                          std::chrono::milliseconds timeout) override {
        Journal::Publish publish{relay_, Clock::now(), {}, messages.size(), false};
        auto status = inner_.PublishAndWait(messages, timeout);
        publish.finished = Clock::now();
        publish.ok = status.ok();
        std::lock_guard lock(journal_.mutex);
        journal_.publishes.push_back(publish);
        return status;
    }

private:
    std::string relay_;
    kafka::EventPublisher& inner_;
    Journal& journal_;
};

class IntakeOutboxRelayTest : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_FALSE(Env("STOREFLEET_PG_URL").empty()) << "run through tests/with-stack";
        store_.Migrate();
        // Nothing of anyone else's in the way: the relays under test publish every unsent row.
        Exec("update intake.outbox set sent_at = now() where sent_at is null");
        Exec("delete from intake.outbox_relay");
        tenant_ = "relay-" + RandomHex(4);
        store_.SeedTenant(tenant_, token_, 1000);
    }
    void TearDown() override {
        Exec("update intake.outbox set sent_at = now() where sent_at is null");  // not for a real
                                                                                 // relay
    }
    void Exec(const std::string& sql) {
        pool_.WithTransaction([&](pqxx::work& txn) { txn.exec(sql); });
    }
    int64_t Scalar(const std::string& sql) {
        return pool_.WithTransaction(
            [&](pqxx::work& txn) { return txn.exec(sql)[0][0].as<int64_t>(); });
    }
    int64_t Unsent() { return Scalar("select count(*) from intake.outbox where sent_at is null"); }
    // `stores` new stores, each created and then deleted through IntakeStore, the stores
    // interleaved as requests would arrive. Returns each store's event ids in outbox order.
    std::map<std::string, std::vector<std::string>> CreateThenDelete(int stores) {
        Tenant tenant{tenant_};
        std::vector<std::string> ids;
        for (int s = 0; s < stores; ++s) {
            auto created = store_.CreateStore(
                tenant, {"shop-" + RandomHex(4), "woocommerce", "small", ""}, "", "c");
            EXPECT_TRUE(created.ok());
            ids.push_back(created->body["id"]);
        }
        for (const auto& id : ids) EXPECT_TRUE(store_.RequestDeletion(tenant, id, "c").ok());
        std::map<std::string, std::vector<std::string>> events;
        pool_.WithTransaction([&](pqxx::work& txn) {
            for (const auto& id : ids) {
                for (const auto& row : txn.exec_params(
                         "select payload from intake.outbox where key = $1 order by id", id)) {
                    auto envelope = events::Decode(pqxx::binarystring(row[0]).str());
                    EXPECT_TRUE(envelope.ok());
                    events[id].push_back(envelope->event_id());
                }
            }
        });
        return events;
    }
    // Each of `stores`' events found on store-commands, in the topic's order.
    std::map<std::string, std::vector<std::string>> ReadBack(
        const std::map<std::string, std::vector<std::string>>& stores) {
        std::size_t expected = 0;
        for (const auto& [id, events] : stores) expected += events.size();
        kafka::KafkaConsumer consumer({.brokers = Env("STOREFLEET_KAFKA_BROKERS"),
                                       .group_id = "relay-check-" + NewUuid(),
                                       .client_id = "relay-check",
                                       .topics = {events::kCommandsTopic}});
        std::map<std::string, std::vector<std::string>> seen;
        std::set<std::string> distinct;
        WaitUntil(
            [&] {
                for (auto& message : consumer.Poll(200ms)) {
                    if (stores.count(message.key) == 0) continue;
                    auto envelope = events::Decode(message.payload);
                    if (!envelope.ok()) continue;
                    seen[message.key].push_back(envelope->event_id());
                    distinct.insert(envelope->event_id());
                }
                return distinct.size() >= expected;
            },
            60s);
        consumer.Close();
        return seen;
    }
    int64_t LeaderPid() {
        return Scalar(
            "select coalesce(max(pid), 0) from pg_locks where locktype = 'advisory' and granted "
            "and objsubid = 1 and ((classid::bigint << 32) | objid::bigint) = " +
            std::to_string(kOutboxLeaderLock));
    }

    pg::Pool pool_{Env("STOREFLEET_PG_URL"), 2};
    IntakeStore store_{pool_, "stores.test"};
    std::string token_ = RandomHex(16);
    std::string tenant_;
};

TEST_F(IntakeOutboxRelayTest,
       TwoRelaysPublishEachStoresCommandsInOrderAndHandOverWhenTheLeaderIsKilled) {
    kafka::KafkaPublisher kafka_a(Env("STOREFLEET_KAFKA_BROKERS"), "relay-a");
    kafka::KafkaPublisher kafka_b(Env("STOREFLEET_KAFKA_BROKERS"), "relay-b");
    Journal journal;
    RecordingPublisher publisher_a("a", kafka_a, journal);
    RecordingPublisher publisher_b("b", kafka_b, journal);
    metrics::Registry registry_a;
    metrics::Registry registry_b;
    OutboxRelay::Options options;
    options.batch_size = 16;  // many batches, so a hand-over lands between some of them
    OutboxRelay a(Env("STOREFLEET_PG_URL"), publisher_a, registry_a, options);
    OutboxRelay b(Env("STOREFLEET_PG_URL"), publisher_b, registry_b, options);

    auto stores = CreateThenDelete(30);
    a.Start();
    b.Start();
    ASSERT_TRUE(WaitUntil([&] { return Unsent() == 0; }));
    ASSERT_NE(a.Leader(), b.Leader()) << "exactly one leader";
    const std::string leader_name = a.Leader() ? "a" : "b";
    EXPECT_EQ(Scalar("select count(*) from pg_stat_activity where application_name = "
                     "'storefleet-outbox-relay'"),
              2)
        << "each relay has one session of its own";

    // The leader's session is killed while its process lives on: it notices at its next
    // statement, loses the leadership, and whichever relay takes the lock first leads.
    const int64_t first_pid = LeaderPid();
    ASSERT_GT(first_pid, 0);
    Exec("select pg_terminate_backend(" + std::to_string(first_pid) + ")");
    auto second = CreateThenDelete(30);
    stores.insert(second.begin(), second.end());
    ASSERT_TRUE(WaitUntil([&] { return Unsent() == 0; }));
    // The other relay may have sent everything before the killed one reaches its next statement.
    auto& killed_failures = (leader_name == "a" ? registry_a : registry_b)
                                .GetCounter("storefleet_outbox_failures_total", "");
    EXPECT_TRUE(WaitUntil([&] { return killed_failures.Value() >= 1; }, 10s))
        << "the killed session went unnoticed";
    EXPECT_TRUE(WaitUntil([&] { return a.Leader() != b.Leader(); }, 10s))
        << "exactly one leader again";
    EXPECT_NE(LeaderPid(), first_pid);

    // Now the leader dies with its session, as a killed process does: the other takes over.
    OutboxRelay& leader = a.Leader() ? a : b;
    OutboxRelay& standby = a.Leader() ? b : a;
    const std::string standby_name = a.Leader() ? "b" : "a";
    const int64_t pid = LeaderPid();
    ASSERT_GT(pid, 0);
    const auto killed_at = Clock::now();
    Exec("select pg_terminate_backend(" + std::to_string(pid) + ")");
    leader.Stop();
    std::size_t published_before;
    {
        std::lock_guard lock(journal.mutex);
        published_before = journal.publishes.size();
    }
    auto later = CreateThenDelete(30);
    stores.insert(later.begin(), later.end());
    ASSERT_TRUE(WaitUntil([&] { return Unsent() == 0; }));
    const double takeover_s = std::chrono::duration<double>(Clock::now() - killed_at).count();
    EXPECT_TRUE(standby.Leader()) << "the standby took over";
    EXPECT_NE(LeaderPid(), pid);
    a.Stop();
    b.Stop();
    {
        std::lock_guard lock(journal.mutex);
        for (std::size_t i = published_before; i < journal.publishes.size(); ++i) {
            EXPECT_EQ(journal.publishes[i].relay, standby_name) << "only the new leader publishes";
        }
    }

    // One publisher at a time: no two publishes of different relays overlap.
    std::vector<Journal::Publish> publishes;
    {
        std::lock_guard lock(journal.mutex);
        publishes = journal.publishes;
    }
    std::sort(publishes.begin(), publishes.end(),
              [](auto& x, auto& y) { return x.started < y.started; });
    std::map<std::string, int> batches;
    for (std::size_t i = 0; i < publishes.size(); ++i) {
        ++batches[publishes[i].relay];
        if (i > 0 && publishes[i].relay != publishes[i - 1].relay) {
            EXPECT_LE(publishes[i - 1].finished, publishes[i].started)
                << "two relays published at once";
        }
    }
    EXPECT_GT(batches[standby_name], 0) << "the standby published after the take-over";

    // Each store's commands in outbox order, nothing lost (at least once: first sightings).
    const auto seen = ReadBack(stores);
    std::size_t total = 0;
    std::size_t doubled = 0;
    for (const auto& [id, events] : stores) {
        total += events.size();
        std::vector<std::string> first;
        std::set<std::string> once;
        for (const auto& event : seen.count(id) ? seen.at(id) : std::vector<std::string>{}) {
            if (once.insert(event).second) {
                first.push_back(event);
            } else {
                ++doubled;
            }
        }
        EXPECT_EQ(first, events) << "store " << id << ": commands lost or out of order";
    }
    std::cout << "[figures] " << stores.size() << " stores, " << total
              << " commands through two relays in " << publishes.size()
              << " batches; leader killed with its session, all later commands published "
              << takeover_s << " s after; doubled: " << doubled << "\n";
}

TEST_F(IntakeOutboxRelayTest,
       WaitingForAnUnreachableKafkaHoldsNoTransactionNoRowLockAndTurnsUnhealthy) {
    // Nothing listens on port 1: every publish waits until its timeout.
    kafka::KafkaPublisher publisher("127.0.0.1:1", "relay-test", {{"message.timeout.ms", "3000"}});
    metrics::Registry registry;
    OutboxRelay::Options options;
    options.idle_poll = 50ms;
    options.standby_poll = 200ms;
    options.publish_timeout = 2000ms;
    options.message_timeout = 3000ms;
    OutboxRelay relay(Env("STOREFLEET_PG_URL"), publisher, registry, options);
    auto stores = CreateThenDelete(2);
    relay.Start();
    ASSERT_TRUE(WaitUntil([&] { return relay.Leader(); }, 10s));
    int64_t in_transaction = 0;
    int64_t relay_sessions_max = 0;
    int64_t row_lock_refusals = 0;
    const bool unhealthy = WaitUntil(
        [&] {
            // No session of this database sits inside a transaction, and the relay's rows
            // can be locked by anyone: none is held across the Kafka wait.
            in_transaction = std::max(
                in_transaction,
                Scalar("select count(*) from pg_stat_activity where datname = current_database() "
                       "and state like 'idle in transaction%'"));
            relay_sessions_max = std::max(relay_sessions_max,
                                          Scalar("select count(*) from pg_stat_activity where "
                                                 "application_name = 'storefleet-outbox-relay'"));
            try {
                pool_.WithTransaction([&](pqxx::work& txn) {
                    txn.exec(
                        "select id from intake.outbox where sent_at is null for update nowait");
                });
            } catch (const pqxx::sql_error&) {
                ++row_lock_refusals;
            }
            return !relay.Healthy();
        },
        20s);
    EXPECT_TRUE(unhealthy) << "/readyz must turn red while the leader cannot publish";
    EXPECT_TRUE(relay.Leader()) << "Kafka trouble is no reason to hand over";
    // Unhealthy comes first (the publish has waited past publish_timeout); the failure is
    // counted when the batch gives up, at message_timeout.
    EXPECT_TRUE(WaitUntil(
        [&] { return registry.GetCounter("storefleet_outbox_failures_total", "").Value() >= 1; },
        10s))
        << "a publish Kafka never acknowledged is counted as a failure";
    EXPECT_EQ(registry.GetGauge("storefleet_outbox_leader", "").Value(), 1);
    relay.Stop();
    EXPECT_EQ(in_transaction, 0) << "a transaction was held across the Kafka wait";
    EXPECT_EQ(row_lock_refusals, 0) << "a row lock was held across the Kafka wait";
    EXPECT_EQ(relay_sessions_max, 1)
        << "the relay uses one session of its own, nothing from a pool";
    EXPECT_EQ(Unsent(), 4) << "nothing marked sent";
    EXPECT_EQ(Scalar("select count(*) from intake.outbox_relay where publish_until > now()"), 0)
        << "a failed publish leaves nothing in flight to wait for";
}

}  // namespace
}  // namespace storefleet::intake
