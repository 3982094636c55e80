// In-memory stand-ins for the relay's process edges (Postgres session, Kafka publisher),
// with the semantics that matter: one session-level lock that dies with its session, the
// leader record with its in-flight deadline, and a journal of every publish.
#pragma once

#include <pqxx/pqxx>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "outbox_relay.hpp"

namespace storefleet::intake::testing {

using Clock = std::chrono::steady_clock;

// The outbox table, the leader record and the lock, shared by every FakeLedger.
class FakeOutboxDatabase {
public:
    // A row whose payload is its id, as text; returns that.
    std::string Add(const std::string& key,
                    std::chrono::milliseconds age = std::chrono::milliseconds(0),
                    const std::string& topic = "store-commands") {
        std::lock_guard lock(mutex_);
        const int64_t id = next_id_++;
        rows_.push_back({{id, topic, key, std::to_string(id)}, Clock::now() - age});
        return std::to_string(id);
    }
    // The session is terminated (pg_terminate_backend): its lock is released at once.
    void Kill(int session) {
        std::lock_guard lock(mutex_);
        dead_.insert(session);
        if (lock_session_ == session) lock_session_ = 0;
    }
    // Someone else (an operator, a bug) took the lock and the leader record.
    void StealLeadership() {
        std::lock_guard lock(mutex_);
        lock_session_ = -1;
        holder_ = "thief";
    }
    int Unsent() {
        std::lock_guard lock(mutex_);
        int unsent = 0;
        for (const auto& row : rows_) unsent += sent_.count(row.row.id) == 0 ? 1 : 0;
        return unsent;
    }
    // Every row with an id below `id` is marked sent.
    bool AllSentBefore(int64_t id) {
        std::lock_guard lock(mutex_);
        for (const auto& row : rows_) {
            if (row.row.id < id && sent_.count(row.row.id) == 0) return false;
        }
        return true;
    }
    std::chrono::milliseconds InFlightLeft() {
        std::lock_guard lock(mutex_);
        return std::max(
            std::chrono::milliseconds(0),
            std::chrono::duration_cast<std::chrono::milliseconds>(publish_until_ - Clock::now()));
    }
    int Prunes() {
        std::lock_guard lock(mutex_);
        return prunes_;
    }

private:
    friend class FakeLedger;
    struct Row {
        OutboxRow row;
        Clock::time_point created;
    };
    std::mutex mutex_;
    std::vector<Row> rows_;
    std::set<int64_t> sent_;
    int64_t next_id_ = 1;
    int next_session_ = 1;
    int lock_session_ = 0;  // 0: free
    std::string holder_;
    Clock::time_point publish_until_{};
    std::set<int> dead_;
    int prunes_ = 0;
};

class FakeLedger final : public OutboxLedger {
public:
    explicit FakeLedger(FakeOutboxDatabase& db) : db_(db) {}

    std::optional<std::chrono::milliseconds> TryLock(const std::string& identity) override {
        std::lock_guard lock(db_.mutex_);
        if (session_ == 0) session_ = db_.next_session_++;
        CheckLocked();
        if (db_.lock_session_ != 0 && db_.lock_session_ != session_) return std::nullopt;
        db_.lock_session_ = session_;
        if (db_.holder_.empty() || db_.holder_ == identity) return std::chrono::milliseconds(0);
        return std::max(std::chrono::milliseconds(0),
                        std::chrono::duration_cast<std::chrono::milliseconds>(db_.publish_until_ -
                                                                              Clock::now()));
    }
    void Claim(const std::string& identity) override {
        std::lock_guard lock(db_.mutex_);
        CheckLocked();
        db_.holder_ = identity;
        db_.publish_until_ = Clock::now();
    }
    OutboxBatch ReadBatch(int limit) override {
        std::lock_guard lock(db_.mutex_);
        CheckLocked();
        OutboxBatch batch;
        for (const auto& row : db_.rows_) {
            if (static_cast<int>(batch.rows.size()) >= limit) break;
            if (db_.sent_.count(row.row.id) != 0) continue;
            if (batch.rows.empty()) {
                batch.oldest_age = std::chrono::duration_cast<std::chrono::milliseconds>(
                    Clock::now() - row.created);
            }
            batch.rows.push_back(row.row);
        }
        return batch;
    }
    bool BeginPublish(const std::string& identity, std::chrono::milliseconds in_flight) override {
        std::lock_guard lock(db_.mutex_);
        CheckLocked();
        if (db_.lock_session_ != session_ || db_.holder_ != identity) return false;
        db_.publish_until_ = Clock::now() + in_flight;
        return true;
    }
    void MarkSent(const std::string& identity, const std::vector<int64_t>& ids) override {
        std::lock_guard lock(db_.mutex_);
        CheckLocked();
        db_.sent_.insert(ids.begin(), ids.end());
        if (db_.holder_ == identity) db_.publish_until_ = Clock::now();
    }
    void Settle(const std::string& identity) override {
        std::lock_guard lock(db_.mutex_);
        CheckLocked();
        if (db_.holder_ == identity) db_.publish_until_ = Clock::now();
    }
    int64_t PruneSent(std::chrono::seconds /*age*/) override {
        std::lock_guard lock(db_.mutex_);
        CheckLocked();
        ++db_.prunes_;
        ++prunes_;
        return 0;
    }
    void Close() override {
        std::lock_guard lock(db_.mutex_);
        if (db_.lock_session_ == session_ && session_ != 0) db_.lock_session_ = 0;
        session_ = 0;
    }
    [[nodiscard]] int Prunes() const { return prunes_.load(); }
    // The current session (0: none); for FakeOutboxDatabase::Kill.
    int Session() {
        std::lock_guard lock(db_.mutex_);
        return session_;
    }

private:
    void CheckLocked() const {
        if (session_ == 0 || db_.dead_.count(session_) != 0) {
            throw pqxx::broken_connection("server closed the connection unexpectedly");
        }
    }
    FakeOutboxDatabase& db_;
    int session_ = 0;
    std::atomic<int> prunes_{0};
};

// Every publish attempt of every relay, in the order they started.
struct PublishJournal {
    struct Attempt {
        std::string relay;
        std::vector<std::string> payloads;
        Clock::time_point started;
        Clock::time_point finished;
        bool ok = false;
    };
    std::mutex mutex;
    std::vector<Attempt> attempts;

    std::vector<Attempt> Snapshot() {
        std::lock_guard lock(mutex);
        return attempts;
    }
    // The payloads Kafka acknowledged, in order.
    std::vector<std::string> Acknowledged() {
        std::vector<std::string> payloads;
        for (const auto& attempt : Snapshot()) {
            if (attempt.ok)
                payloads.insert(payloads.end(), attempt.payloads.begin(), attempt.payloads.end());
        }
        return payloads;
    }
};

// A publisher that records into a journal and answers what `behaviour` says (OK by
// default). Payloads are outbox ids as text, so it can check that nothing is published
// before every earlier row was acknowledged and marked sent.
class FakePublisher final : public kafka::EventPublisher {
public:
    FakePublisher(std::string relay, PublishJournal& journal, FakeOutboxDatabase& db)
        : relay_(std::move(relay)), journal_(journal), db_(db) {}

    Status PublishAndWait(const std::vector<kafka::OutgoingMessage>& messages,
                          std::chrono::milliseconds /*timeout*/) override {
        PublishJournal::Attempt attempt;
        attempt.relay = relay_;
        attempt.started = Clock::now();
        for (const auto& message : messages) attempt.payloads.push_back(message.payload);
        int64_t first = std::stoll(messages.front().payload);
        if (!db_.AllSentBefore(first)) out_of_order_ = true;
        Status status = behaviour ? behaviour(messages) : Status::Ok();
        attempt.finished = Clock::now();
        attempt.ok = status.ok();
        std::lock_guard lock(journal_.mutex);
        journal_.attempts.push_back(std::move(attempt));
        return status;
    }
    [[nodiscard]] bool OutOfOrder() const { return out_of_order_; }

    std::function<Status(const std::vector<kafka::OutgoingMessage>&)> behaviour;

private:
    std::string relay_;
    PublishJournal& journal_;
    FakeOutboxDatabase& db_;
    std::atomic<bool> out_of_order_{false};
};

}  // namespace storefleet::intake::testing
