// The outbox relay against the real Postgres and Kafka of the local stack: one leader at a
// time publishes rows in outbox order, a leader that loses its session hands over with
// nothing lost, and no transaction or pooled connection waits on Kafka.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <map>
#include <thread>

#include "outbox_relay.hpp"
#include "storefleet/common/ids.hpp"
#include "storefleet/kafka/consumer.hpp"
#include "storefleet/pg/pool.hpp"
#include "intake_store.hpp"

namespace storefleet::intake {
namespace {

using Clock = std::chrono::steady_clock;
// A topic no service consumes as commands; the test reads back only its own rows.
constexpr const char* kTopic = "store-dead-letter";

std::string Env(const char* name) {
    const char* value = std::getenv(name);  // NOLINT(concurrency-mt-unsafe)
    return value != nullptr ? value : "";
}

template <typename Predicate>
bool WaitUntil(Predicate predicate, std::chrono::seconds limit = std::chrono::seconds(60)) {
    const auto deadline = Clock::now() + limit;
    while (!predicate()) {
        if (Clock::now() > deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return true;
}

class OutboxRelayTest : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_FALSE(Env("STOREFLEET_PG_URL").empty()) << "run through tests/with-stack";
        IntakeStore(pool_, "stores.test").Migrate();
        // Nothing of anyone else's in the way: the relays under test publish every unsent row.
        Exec("update intake.outbox set sent_at = now() where sent_at is null");
        Exec("delete from intake.outbox_relay");
    }
    void Exec(const std::string& sql) {
        pool_.WithTransaction([&](pqxx::work& txn) { txn.exec(sql); });
    }
    int64_t Scalar(const std::string& sql) {
        return pool_.WithTransaction([&](pqxx::work& txn) { return txn.exec(sql)[0][0].as<int64_t>(); });
    }
    // Rows "<run>/<store>/<n>" for `stores` stores, `per_store` commands each, interleaved.
    std::vector<std::string> Enqueue(int stores, int per_store) {
        std::vector<std::string> payloads;
        for (int n = next_; n < next_ + per_store; ++n) {
            for (int s = 0; s < stores; ++s) {
                const std::string payload = run_ + "/" + std::to_string(s) + "/" + std::to_string(n);
                pool_.WithTransaction([&](pqxx::work& txn) {
                    txn.exec_params("insert into intake.outbox (topic, key, payload) values ($1, $2, $3)", kTopic,
                                    run_ + "-" + std::to_string(s), pqxx::binarystring(payload));
                });
                payloads.push_back(payload);
            }
        }
        next_ += per_store;
        return payloads;
    }
    // Everything of this run that reached the topic, in the topic's order.
    std::vector<std::string> ReadBack(std::size_t expected) {
        kafka::KafkaConsumer consumer({.brokers = Env("STOREFLEET_KAFKA_BROKERS"),
                                       .group_id = "relay-test-" + NewUuid(),
                                       .client_id = "relay-test",
                                       .topics = {kTopic}});
        std::vector<std::string> seen;
        WaitUntil(
            [&] {
                for (auto& message : consumer.Poll(std::chrono::milliseconds(200))) {
                    if (message.payload.rfind(run_ + "/", 0) == 0) seen.push_back(message.payload);
                }
                return seen.size() >= expected;
            },
            std::chrono::seconds(30));
        // A moment more for anything doubled to show up.
        for (int i = 0; i < 5; ++i) {
            for (auto& message : consumer.Poll(std::chrono::milliseconds(200))) {
                if (message.payload.rfind(run_ + "/", 0) == 0) seen.push_back(message.payload);
            }
        }
        consumer.Close();
        return seen;
    }

    pg::Pool pool_{Env("STOREFLEET_PG_URL"), 2};
    std::string run_ = "relay-" + NewUuid().substr(0, 8);
    int next_ = 0;  // the next command number of each store
};

TEST_F(OutboxRelayTest, OneLeaderPublishesInOutboxOrderAndAKilledLeaderHandsOverWithNothingLost) {
    kafka::KafkaPublisher publisher(Env("STOREFLEET_KAFKA_BROKERS"), "relay-test");
    metrics::Registry registry_a;
    metrics::Registry registry_b;
    OutboxRelay a(Env("STOREFLEET_PG_URL"), publisher, registry_a);
    OutboxRelay b(Env("STOREFLEET_PG_URL"), publisher, registry_b);
    auto first = Enqueue(20, 3);
    a.Start();
    b.Start();
    ASSERT_TRUE(WaitUntil([&] { return Scalar("select count(*) from intake.outbox where sent_at is null") == 0; }));
    EXPECT_NE(a.Leader(), b.Leader()) << "exactly one leader";
    OutboxRelay& leader = a.Leader() ? a : b;
    OutboxRelay& standby = a.Leader() ? b : a;

    // The leader's session dies (as when its process is killed): the standby takes over.
    const auto killed_at = Clock::now();
    Exec("select pg_terminate_backend(pid) from pg_locks where locktype = 'advisory' and granted and objsubid = 1 "
         "and classid = " + std::to_string(kOutboxLeaderLock >> 32) + " and objid = " +
         std::to_string(kOutboxLeaderLock & 0xffffffff));
    auto second = Enqueue(20, 2);
    ASSERT_TRUE(WaitUntil([&] { return Scalar("select count(*) from intake.outbox where sent_at is null") == 0; }));
    const double takeover_s = std::chrono::duration<double>(Clock::now() - killed_at).count();
    EXPECT_TRUE(standby.Leader() || leader.Leader());
    a.Stop();
    b.Stop();

    std::vector<std::string> expected = first;
    expected.insert(expected.end(), second.begin(), second.end());
    const auto seen = ReadBack(expected.size());
    // At least once, and each store's commands in outbox order; with one leader and a
    // hand-over between batches, nothing is even doubled.
    std::map<std::string, std::vector<int>> per_store;
    std::set<std::string> distinct(seen.begin(), seen.end());
    for (const auto& payload : seen) {
        const auto slash = payload.find('/', run_.size() + 1);
        per_store[payload.substr(0, slash)].push_back(std::stoi(payload.substr(slash + 1)));
    }
    EXPECT_EQ(distinct.size(), expected.size()) << "nothing lost";
    EXPECT_EQ(seen.size(), expected.size()) << "nothing doubled";
    for (const auto& [store, order] : per_store) {
        for (std::size_t i = 1; i < order.size(); ++i) {
            EXPECT_LT(order[i - 1], order[i]) << store << ": commands out of order";
        }
    }
    std::cout << "[figures] " << expected.size() << " rows through two relays; leader session killed, all "
              << second.size() << " later rows published " << takeover_s << " s after\n";
}

TEST_F(OutboxRelayTest, WaitingForKafkaHoldsNoTransactionAndTurnsUnhealthy) {
    // A broker that is not there: every publish waits until its timeout.
    kafka::KafkaPublisher publisher("127.0.0.1:1", "relay-test", {{"message.timeout.ms", "3000"}});
    metrics::Registry registry;
    OutboxRelay relay(Env("STOREFLEET_PG_URL"), publisher, registry,
                      {.idle_poll = std::chrono::milliseconds(50),
                       .standby_poll = std::chrono::milliseconds(200),
                       .publish_timeout = std::chrono::milliseconds(2000),
                       .message_timeout = std::chrono::milliseconds(3000),
                       .batch_size = 500});
    Enqueue(2, 1);
    relay.Start();
    // While the relay waits on Kafka, none of its sessions is inside a transaction.
    int64_t worst = 0;
    const bool unhealthy = WaitUntil(
        [&] {
            worst = std::max(worst, Scalar("select count(*) from pg_stat_activity where datname = current_database() "
                                           "and state like 'idle in transaction%'"));
            return !relay.Healthy();
        },
        std::chrono::seconds(20));
    EXPECT_TRUE(unhealthy) << "/readyz must turn red while the outbox cannot be published";
    EXPECT_TRUE(relay.Leader());
    relay.Stop();
    EXPECT_EQ(worst, 0) << "a transaction was held across the Kafka wait";
    EXPECT_EQ(Scalar("select count(*) from intake.outbox where sent_at is null"), 2) << "nothing marked sent";
    Exec("update intake.outbox set sent_at = now() where sent_at is null");  // not for the real relay
    Exec("delete from intake.outbox_relay");
}

}  // namespace
}  // namespace storefleet::intake
