#include "outbox_relay.hpp"

#include <random>

#include "storefleet/common/log.hpp"

namespace storefleet::intake {
namespace {

constexpr const char* kClaimBatch =
    "select id, topic, key, payload from intake.outbox where sent_at is null "
    "order by id limit 500 for update skip locked";
constexpr const char* kMarkSent =
    "update intake.outbox set sent_at = now() where id = any($1::bigint[])";
constexpr const char* kPruneSent =
    "delete from intake.outbox where sent_at < now() - interval '1 hour'";

}  // namespace

OutboxRelay::OutboxRelay(pg::Pool& pool, kafka::EventPublisher& publisher,
                         metrics::Registry& registry, std::chrono::milliseconds idle_poll)
    : pool_(pool),
      publisher_(publisher),
      sent_(registry.GetCounter("storefleet_outbox_sent_total", "Outbox rows published to Kafka.")),
      failures_(registry.GetCounter("storefleet_outbox_failures_total",
                                    "Outbox batches that could not be published (retried).")),
      idle_poll_(idle_poll) {}

OutboxRelay::~OutboxRelay() { Stop(); }

void OutboxRelay::Start() { thread_ = std::thread([this] { Run(); }); }

void OutboxRelay::Stop() {
    stop_.Trigger();
    Wake();
    if (thread_.joinable()) thread_.join();
}

void OutboxRelay::Wake() {
    {
        std::lock_guard lock(mutex_);
        woken_ = true;
    }
    wake_.notify_one();
}

int OutboxRelay::RelayOnce() {
    return pool_.WithTransaction([&](pqxx::work& txn) -> int {
        auto rows = txn.exec(kClaimBatch);
        if (rows.empty()) return 0;
        std::vector<kafka::OutgoingMessage> messages;
        messages.reserve(rows.size());
        std::string ids = "{";
        for (const auto& row : rows) {
            pqxx::binarystring payload(row[3]);
            messages.push_back({row[1].as<std::string>(), row[2].as<std::string>(), payload.str()});
            if (ids.size() > 1) ids += ",";
            ids += row[0].as<std::string>();
        }
        ids += "}";
        auto status = publisher_.PublishAndWait(messages, std::chrono::seconds(10));
        if (!status.ok()) throw std::runtime_error(status.error().message);
        txn.exec_params(kMarkSent, ids);
        return static_cast<int>(rows.size());
    });
}

void OutboxRelay::Run() {
    std::mt19937 jitter(std::random_device{}());
    auto backoff = std::chrono::milliseconds(100);
    int batches = 0;
    while (!stop_.Triggered()) {
        int sent = 0;
        try {
            sent = RelayOnce();
            sent_.Inc(sent);
            healthy_ = true;
            backoff = std::chrono::milliseconds(100);
            if (++batches % 1000 == 0) {
                pool_.WithTransaction([](pqxx::work& txn) { txn.exec(kPruneSent); });
            }
        } catch (const std::exception& error) {
            failures_.Inc();
            healthy_ = false;
            log::Warn("outbox relay failed; will retry", {{"error", error.what()},
                                                           {"backoff_ms", backoff.count()}});
            auto wait = backoff + std::chrono::milliseconds(jitter() % (backoff.count() / 2 + 1));
            stop_.WaitFor(wait);
            backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
            continue;
        }
        if (sent > 0) continue;  // there may be more
        std::unique_lock lock(mutex_);
        wake_.wait_for(lock, idle_poll_, [this] { return woken_; });
        woken_ = false;
    }
}

}  // namespace storefleet::intake
