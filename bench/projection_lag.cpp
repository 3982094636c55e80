// Projection lag: publishes StoreStatusChanged events to store-status at a fixed rate
// (as provisioners would), then reads from Postgres how long each took from occurred_at
// to its row being committed in read.store_events (what the query API reads). Prints JSON.
//   projection_lag --rate 500 --seconds 10
#include <pqxx/pqxx>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "storefleet/common/ids.hpp"
#include "storefleet/events/envelope.hpp"
#include "storefleet/events/status.hpp"
#include "storefleet/kafka/publisher.hpp"

using namespace storefleet;

int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape): a tool; an uncaught
                                   // exception ending it is its error report
    int rate = 500;
    int seconds = 10;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string flag = argv[i];
        if (flag == "--rate") rate = std::atoi(argv[i + 1]);
        if (flag == "--seconds") seconds = std::atoi(argv[i + 1]);
    }
    const char* brokers = std::getenv("STOREFLEET_KAFKA_BROKERS");  // NOLINT
    const char* pg_url = std::getenv("STOREFLEET_PG_URL");          // NOLINT
    if (brokers == nullptr || pg_url == nullptr || rate <= 0 || seconds <= 0) {
        std::cerr << "usage: projection_lag --rate N --seconds S (with STOREFLEET_KAFKA_BROKERS, "
                     "STOREFLEET_PG_URL)\n";
        return 2;
    }
    kafka::KafkaPublisher publisher(brokers, "storefleet-bench", {{"linger.ms", "0"}});
    const std::string tenant = "lag-" + RandomHex(4);
    std::vector<std::string> stores;
    for (int i = 0; i < 100; ++i) stores.push_back(NewUuid());
    // One message per call, acknowledged before the next, like a provisioner's Emit.
    auto publish = [&publisher](const std::string& tenant_id, const std::string& store_id) {
        auto event = events::NewEnvelope(tenant_id, store_id, "bench");
        auto* changed = event.mutable_store_status_changed();
        changed->set_status(v1::STORE_STATUS_PROVISIONING);
        changed->set_step("bench");
        changed->set_sequence(static_cast<uint64_t>(NowMicros()));
        changed->set_name("lag");
        changed->set_engine_name("woocommerce");
        events::SetTypeFromPayload(event);
        return publisher
            .PublishAndWait({{events::kStatusTopic, event.store_id(), events::Encode(event)}},
                            std::chrono::seconds(10))
            .ok();
    };
    // Not measured: the producer's first message waits for its connection and the topic's
    // metadata (about 1 s, seen as the one slow event of a run), which a provisioner pays once
    // when it starts, not per event.
    publish("lag-warmup-" + RandomHex(4), NewUuid());

    const auto start = std::chrono::steady_clock::now();
    const auto interval = std::chrono::microseconds(1'000'000 / rate);
    int sent = 0;
    for (int i = 0; i < rate * seconds; ++i) {
        std::this_thread::sleep_until(start + interval * i);
        if (publish(tenant, stores[static_cast<std::size_t>(i) % stores.size()])) ++sent;
    }
    const double took =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

    pqxx::connection db(pg_url);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    int projected = 0;
    while (std::chrono::steady_clock::now() < deadline) {
        pqxx::work txn(db);
        projected = txn.exec_params("select count(*) from read.store_events where tenant_id = $1",
                                    tenant)[0][0]
                        .as<int>();
        txn.commit();
        if (projected >= sent) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    pqxx::work txn(db);
    auto row = txn.exec_params(
        "select percentile_cont(0.5) within group (order by ms), percentile_cont(0.99) within "
        "group (order by ms), "
        "max(ms) from (select extract(epoch from recorded_at - occurred_at) * 1000 as ms "
        "from read.store_events where tenant_id = $1) t",
        tenant)[0];
    std::cout << "{\"rate\":" << rate << ",\"sent\":" << sent << ",\"send_seconds\":" << took
              << ",\"projected\":" << projected << ",\"lag_p50_ms\":" << row[0].as<double>(-1)
              << ",\"lag_p99_ms\":" << row[1].as<double>(-1)
              << ",\"lag_max_ms\":" << row[2].as<double>(-1) << "}\n";
    return projected >= sent ? 0 : 1;
}
