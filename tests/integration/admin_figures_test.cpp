// GET /api/v1/admin/figures on the real Postgres and Kafka: a read model of its own (the
// projector's migrations in a schema of this run) holding stores with known request and
// Ready times, so the percentiles and counts are known to the decimal; a topic and a
// consumer group of this run with known committed offsets, so the lag is known; and Kafka
// unreachable, which must leave the rest answered.
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafkacpp.h>

#include <chrono>
#include <cstdlib>
#include <memory>

#include "figures_api.hpp"
#include "intake_store.hpp"
#include "read_model.hpp"
#include "storefleet/common/ids.hpp"
#include "storefleet/test_support/env.hpp"
#include "storefleet/test_support/http.hpp"

namespace storefleet::intake {
namespace {

using json = nlohmann::json;
using test_support::Env;
using test_support::HttpClient;

bool IsProblem(const test_support::HttpReply& reply) {
    return reply.Header("Content-Type").find("application/problem+json") != std::string::npos;
}

int64_t NowSeconds() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// Creates a topic with the Admin API and waits for the broker's answer.
void CreateTopic(const std::string& brokers, const std::string& topic, int partitions) {
    char error[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    ASSERT_EQ(rd_kafka_conf_set(conf, "bootstrap.servers", brokers.c_str(), error, sizeof(error)),
              RD_KAFKA_CONF_OK);
    rd_kafka_t* admin = rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, sizeof(error));
    ASSERT_NE(admin, nullptr) << error;
    rd_kafka_NewTopic_t* new_topic =
        rd_kafka_NewTopic_new(topic.c_str(), partitions, 1, error, sizeof(error));
    rd_kafka_queue_t* queue = rd_kafka_queue_new(admin);
    rd_kafka_CreateTopics(admin, &new_topic, 1, nullptr, queue);
    rd_kafka_event_t* event = rd_kafka_queue_poll(queue, 20'000);
    ASSERT_NE(event, nullptr) << "no answer to CreateTopics";
    const rd_kafka_CreateTopics_result_t* result = rd_kafka_event_CreateTopics_result(event);
    ASSERT_NE(result, nullptr) << rd_kafka_event_error_string(event);
    std::size_t count = 0;
    const rd_kafka_topic_result_t** topics = rd_kafka_CreateTopics_result_topics(result, &count);
    ASSERT_EQ(count, 1U);
    EXPECT_EQ(rd_kafka_topic_result_error(topics[0]), RD_KAFKA_RESP_ERR_NO_ERROR)
        << rd_kafka_topic_result_error_string(topics[0]);
    rd_kafka_event_destroy(event);
    rd_kafka_queue_destroy(queue);
    rd_kafka_NewTopic_destroy(new_topic);
    rd_kafka_destroy(admin);
}

class AdminFiguresTest : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_FALSE(Env("STOREFLEET_PG_URL").empty())
            << "STOREFLEET_PG_URL is not set: run through tests/with-stack";
        ASSERT_FALSE(Env("STOREFLEET_KAFKA_BROKERS").empty());
        // The projector's own migrations, in a schema of this run (its statements are
        // registered on a pool of its own).
        pg::Pool model_pool(Env("STOREFLEET_PG_URL"), 1);
        projector::PgReadModel model(model_pool, "it-figures", schema_);
        model.Migrate();
        store_.Migrate();
    }
    void TearDown() override {
        pool_.WithTransaction(
            [&](pqxx::work& txn) { txn.exec("drop schema if exists " + schema_ + " cascade"); });
    }

    // A store requested at `requested` (epoch seconds) whose status events came at `events`.
    void AddStore(const std::string& status, int64_t requested,
                  const std::vector<std::pair<std::string, int64_t>>& events) {
        pool_.WithTransaction([&](pqxx::work& txn) {
            const std::string id = NewUuid();
            txn.exec_params(
                "insert into " + schema_ +
                    ".stores (store_id, tenant_id, name, status, created_at, updated_at) "
                    "values ($1::uuid, 'figures', $2, $3, to_timestamp($4), now())",
                id, "s-" + id.substr(0, 8), status, requested);
            for (const auto& [event_status, at] : events) {
                txn.exec_params(
                    "insert into " + schema_ +
                        ".store_events (event_id, store_id, tenant_id, type, status, occurred_at) "
                        "values ($1::uuid, $2::uuid, 'figures', 'StoreStatusChanged', $3, "
                        "to_timestamp($4))",
                    NewUuid(), id, event_status, at);
            }
        });
    }

    const std::string suffix_ = RandomHex(4);
    const std::string schema_ = "it_figures_" + suffix_;
    pg::Pool pool_{Env("STOREFLEET_PG_URL"), 2};
    IntakeStore store_{pool_, "stores.test"};
};

TEST_F(AdminFiguresTest, PercentilesCountsAndLagFromTheRealStack) {
    // Stores that became Ready two minutes ago after 10, 20, 30 and 40 s; one of them
    // Ready again a minute later (counted once); one Ready two hours ago and again now
    // (outside the window: not counted); two that failed a minute ago (one twice).
    const int64_t now = NowSeconds();
    const int64_t ready_bucket = (now - 180) / 60 * 60;
    const int64_t ready_at = ready_bucket + 30;
    AddStore("ready", ready_at - 10, {{"provisioning", ready_at - 9}, {"ready", ready_at}});
    AddStore("ready", ready_at - 20, {{"ready", ready_at}});
    AddStore("ready", ready_at - 30, {{"ready", ready_at}});
    AddStore("ready", ready_at - 40, {{"ready", ready_at}, {"ready", ready_at + 60}});
    AddStore("ready", now - 7300, {{"ready", now - 7200}, {"ready", ready_at + 60}});
    AddStore("failed", ready_at, {{"failed", ready_at + 60}, {"failed", ready_at + 65}});
    AddStore("failed", ready_at, {{"failed", ready_at + 61}});

    // A topic of this run: 5 messages on partition 0, 3 on partition 1. The Kafka group has
    // committed 2 on partition 0 and nothing on 1; the Postgres-stored group 1 on partition 1.
    const std::string brokers = Env("STOREFLEET_KAFKA_BROKERS");
    const std::string topic = "it-figures-" + suffix_;
    const std::string kafka_group = "it-figures-kafka-" + suffix_;
    const std::string stored_group = "it-figures-pg-" + suffix_;
    CreateTopic(brokers, topic, 2);
    {
        std::string error;
        std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
        conf->set("bootstrap.servers", brokers, error);
        std::unique_ptr<RdKafka::Producer> producer(RdKafka::Producer::create(conf.get(), error));
        ASSERT_TRUE(producer) << error;
        for (int i = 0; i < 8; ++i) {
            std::string payload = "m" + std::to_string(i);
            ASSERT_EQ(producer->produce(topic, i < 5 ? 0 : 1, RdKafka::Producer::RK_MSG_COPY,
                                        payload.data(), payload.size(), nullptr, 0, 0, nullptr),
                      RdKafka::ERR_NO_ERROR);
        }
        ASSERT_EQ(producer->flush(20'000), RdKafka::ERR_NO_ERROR);

        std::unique_ptr<RdKafka::Conf> group_conf(
            RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
        group_conf->set("bootstrap.servers", brokers, error);
        group_conf->set("group.id", kafka_group, error);
        group_conf->set("enable.auto.commit", "false", error);
        std::unique_ptr<RdKafka::KafkaConsumer> committer(
            RdKafka::KafkaConsumer::create(group_conf.get(), error));
        ASSERT_TRUE(committer) << error;
        std::vector<RdKafka::TopicPartition*> offsets{RdKafka::TopicPartition::create(topic, 0, 2)};
        const auto committed = committer->commitSync(offsets);
        RdKafka::TopicPartition::destroy(offsets);
        ASSERT_EQ(committed, RdKafka::ERR_NO_ERROR) << RdKafka::err2str(committed);
        committer->close();
    }
    pool_.WithTransaction([&](pqxx::work& txn) {
        txn.exec_params("insert into " + schema_ +
                            ".consumer_offsets (consumer_group, topic, partition, next_offset) "
                            "values ($1, $2, 1, 1)",
                        stored_group, topic);
    });

    const std::string admin_token = RandomHex(16);
    store_.SeedTenant("figures-ops-" + suffix_, admin_token, 0, /*admin=*/true);
    const std::string tenant_token = RandomHex(16);
    store_.SeedTenant("figures-" + suffix_, tenant_token, 1);
    http::Authenticator authenticator(
        [this](const std::string& sha) { return store_.Authenticate(sha); },
        {std::chrono::milliseconds(1000), std::chrono::milliseconds(0), 100});
    http::RateLimiter limiter(1000, 1000);
    KafkaLagReader lag_reader(brokers, std::chrono::milliseconds(5000));
    FiguresService figures(
        pool_, &lag_reader,
        {.read_schema = schema_,
         .lag_targets = {{kafka_group, topic, false}, {stored_group, topic, true}}});
    FiguresApi api(figures, authenticator, limiter);
    metrics::Registry registry;
    http::HttpServer server({}, registry, [] { return true; });
    api.Register(server);
    server.Start();

    const auto admin = HttpClient::Local(server.Port(), admin_token);
    EXPECT_EQ(HttpClient::Local(server.Port()).Get("/api/v1/admin/figures").code, 401);
    auto forbidden = HttpClient::Local(server.Port(), tenant_token).Get("/api/v1/admin/figures");
    EXPECT_EQ(forbidden.code, 403) << "a tenant token is no admin";
    EXPECT_TRUE(IsProblem(forbidden)) << forbidden.headers;
    for (const char* bad : {"25h", "0m", "abc", "1d", "%20"}) {
        auto refused = admin.Get(std::string("/api/v1/admin/figures?window=") + bad);
        ASSERT_EQ(refused.code, 400) << bad;
        EXPECT_TRUE(IsProblem(refused));
        EXPECT_EQ(json::parse(refused.body)["errors"][0]["field"], "window") << refused.body;
    }

    auto answer = admin.Get("/api/v1/admin/figures?window=1h");
    ASSERT_EQ(answer.code, 200) << answer.body;
    const json body = json::parse(answer.body);
    EXPECT_EQ(body["window_seconds"], 3600);
    EXPECT_EQ(body["bucket_seconds"], 60);
    EXPECT_EQ(body["stores_by_status"], (json{{"ready", 5}, {"failed", 2}}));
    ASSERT_GE(body["buckets"].size(), 60U);
    int64_t ready_total = 0;
    int64_t failed_total = 0;
    json ready_row;
    json failed_row;
    for (const auto& bucket : body["buckets"]) {
        ready_total += bucket["ready"].get<int64_t>();
        failed_total += bucket["failed"].get<int64_t>();
        if (bucket["start"] == FormatUtc(ready_bucket)) ready_row = bucket;
        if (bucket["start"] == FormatUtc(ready_bucket + 60)) failed_row = bucket;
    }
    EXPECT_EQ(ready_total, 4) << "each store once, the one Ready before the window not at all";
    EXPECT_EQ(failed_total, 2) << "stores that failed, not failed events";
    ASSERT_FALSE(ready_row.is_null()) << answer.body.substr(0, 2000);
    EXPECT_EQ(ready_row["ready"], 4);
    EXPECT_EQ(ready_row["ready_per_minute"], 4.0);
    // percentile_cont over 10, 20, 30, 40 s: linear between the ranks.
    EXPECT_DOUBLE_EQ(ready_row["post_to_ready_seconds"]["p50"].get<double>(), 25.0);
    EXPECT_DOUBLE_EQ(ready_row["post_to_ready_seconds"]["p90"].get<double>(), 37.0);
    EXPECT_DOUBLE_EQ(ready_row["post_to_ready_seconds"]["p99"].get<double>(), 39.7);
    ASSERT_FALSE(failed_row.is_null());
    EXPECT_EQ(failed_row["failed"], 2);
    EXPECT_EQ(failed_row["ready"], 0);
    EXPECT_TRUE(failed_row["post_to_ready_seconds"].is_null());

    const json& lag = body["consumer_lag"];
    ASSERT_EQ(lag["available"], true) << lag.dump();
    ASSERT_EQ(lag["partitions"].size(), 4U) << lag.dump();
    auto find = [&](const std::string& group, int partition) {
        for (const auto& p : lag["partitions"]) {
            if (p["group"] == group && p["partition"] == partition) return p;
        }
        return json();
    };
    EXPECT_EQ(find(kafka_group, 0), (json{{"group", kafka_group},
                                          {"topic", topic},
                                          {"partition", 0},
                                          {"committed_offset", 2},
                                          {"end_offset", 5},
                                          {"lag", 3}}));
    EXPECT_EQ(find(kafka_group, 1)["committed_offset"], nullptr) << "nothing committed there";
    EXPECT_EQ(find(kafka_group, 1)["lag"], 3);
    EXPECT_EQ(find(stored_group, 0)["lag"], 5);
    EXPECT_EQ(find(stored_group, 1)["committed_offset"], 1);
    EXPECT_EQ(find(stored_group, 1)["lag"], 2);
    server.Stop();
}

TEST_F(AdminFiguresTest, KafkaUnreachableLeavesTheLagUnavailableAndTheRestAnswered) {
    const int64_t ready_at = NowSeconds() - 60;
    AddStore("ready", ready_at - 12, {{"ready", ready_at}});
    // Nothing listens on port 1: every Kafka call times out.
    KafkaLagReader lag_reader("127.0.0.1:1", std::chrono::milliseconds(300));
    FiguresService figures(pool_, &lag_reader,
                           {.read_schema = schema_,
                            .lag_targets = FiguresService::PlatformTargets("lifecycle"),
                            .cache_ttl = std::chrono::seconds(30)});
    const auto started = std::chrono::steady_clock::now();
    const json body = ToJson(figures.Get(std::chrono::seconds(900)));
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(3))
        << "bounded by the timeout";
    EXPECT_EQ(body["consumer_lag"]["available"], false);
    EXPECT_NE(body["consumer_lag"]["reason"].get<std::string>().find("Kafka did not answer"),
              std::string::npos);
    EXPECT_TRUE(body["consumer_lag"]["partitions"].empty());
    EXPECT_EQ(body["stores_by_status"], (json{{"ready", 1}}));
    int64_t ready_total = 0;
    for (const auto& bucket : body["buckets"]) ready_total += bucket["ready"].get<int64_t>();
    EXPECT_EQ(ready_total, 1);

    // Within the cache's time a second call is the same answer, not a second query.
    AddStore("ready", ready_at - 5, {{"ready", ready_at}});
    EXPECT_EQ(ToJson(figures.Get(std::chrono::seconds(900)))["stores_by_status"]["ready"], 1);
}

}  // namespace
}  // namespace storefleet::intake
