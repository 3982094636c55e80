#pragma once

#include <pqxx/pqxx>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace storefleet::pg {

// A fixed-size pool of libpqxx connections. Thread-safe. Acquire() blocks up to the
// timeout when every connection is in use and throws pqxx::broken_connection-derived
// PoolTimeout then, which callers map to a retryable 503.
class PoolTimeout : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// A bounded queue of work waiting for Postgres is full: the database is slower than the
// arrivals. As retryable as a pool timeout (callers answer 503 with Retry-After).
class QueueFull : public PoolTimeout {
public:
    using PoolTimeout::PoolTimeout;
};

// What every connection gets unless its URL sets it: a dead or black-holed server is noticed
// in bounded time, and no statement runs forever.
struct ConnectionDefaults {
    int connect_timeout_s = 5;
    // TCP keepalive probes on an idle connection (a server gone while we wait for its answer).
    int keepalives_idle_s = 10;
    int keepalives_interval_s = 5;
    int keepalives_count = 3;
    // Sent data unacknowledged this long breaks the connection (a server gone while we send).
    int tcp_user_timeout_ms = 15'000;
    // Server side; migrations lift it for their own session (see ApplyMigrations).
    int statement_timeout_ms = 30'000;
};

// `url` (a postgres:// URI or key=value connection string) with each default it does not
// set itself appended.
std::string WithConnectionDefaults(const std::string& url, const ConnectionDefaults& defaults = {});

class Pool {
public:
    // Every connection is opened with WithConnectionDefaults(url, defaults).
    Pool(const std::string& url, std::size_t size, const ConnectionDefaults& defaults = {});
    ~Pool();
    Pool(const Pool&) = delete;
    Pool& operator=(const Pool&) = delete;

    class Lease {
    public:
        Lease(Pool& pool, std::unique_ptr<pqxx::connection> connection);
        ~Lease();
        Lease(Lease&&) noexcept = default;
        Lease& operator=(Lease&&) = delete;
        Lease(const Lease&) = delete;
        Lease& operator=(const Lease&) = delete;
        pqxx::connection& operator*() { return *connection_; }
        pqxx::connection* operator->() { return connection_.get(); }
        // Call after a pqxx::broken_connection so the pool opens a new one next time.
        void MarkBroken() { broken_ = true; }

    private:
        Pool* pool_;
        std::unique_ptr<pqxx::connection> connection_;
        bool broken_ = false;
    };

    Lease Acquire(std::chrono::milliseconds timeout = std::chrono::seconds(5));

    // Runs `work` in a transaction on a pooled connection, retrying once on a broken
    // connection (the transaction is not committed then, so a retry is safe).
    template <typename Fn>
    auto WithTransaction(Fn&& work) {
        for (int attempt = 0;; ++attempt) {
            Lease lease = Acquire();
            try {
                pqxx::work txn(*lease);
                if constexpr (std::is_void_v<decltype(work(txn))>) {
                    work(txn);
                    txn.commit();
                    return;
                } else {
                    auto result = work(txn);
                    txn.commit();
                    return result;
                }
            } catch (const pqxx::broken_connection&) {
                lease.MarkBroken();
                if (attempt >= 1) throw;
            }
        }
    }

    // Runs `work` on a pooled connection without a transaction: each statement commits on
    // its own, and no BEGIN/COMMIT round trips are paid. For reads of one statement.
    // Retried once on a broken connection (reads only: a write might have applied).
    template <typename Fn>
    auto WithoutTransaction(Fn&& work) {
        for (int attempt = 0;; ++attempt) {
            Lease lease = Acquire();
            try {
                pqxx::nontransaction session(*lease);
                return work(session);
            } catch (const pqxx::broken_connection&) {
                lease.MarkBroken();
                if (attempt >= 1) throw;
            }
        }
    }

    // True if a connection can be opened and answers `select 1` (for /readyz).
    bool Ping();

    // Called when a connection is opened; services prepare their statements here.
    void OnConnect(std::function<void(pqxx::connection&)> prepare) {
        prepare_ = std::move(prepare);
    }

private:
    void Release(std::unique_ptr<pqxx::connection> connection, bool broken);

    std::string url_;
    std::size_t size_;
    std::function<void(pqxx::connection&)> prepare_;
    std::mutex mutex_;
    std::condition_variable available_;
    std::vector<std::unique_ptr<pqxx::connection>> idle_;
    std::size_t open_ = 0;  // idle + leased
};

}  // namespace storefleet::pg
