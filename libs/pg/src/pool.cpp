#include "storefleet/pg/pool.hpp"

namespace storefleet::pg {

Pool::Pool(std::string url, std::size_t size) : url_(std::move(url)), size_(size) {}

Pool::~Pool() = default;

Pool::Lease::Lease(Pool& pool, std::unique_ptr<pqxx::connection> connection)
    : pool_(&pool), connection_(std::move(connection)) {}

Pool::Lease::~Lease() {
    if (connection_) pool_->Release(std::move(connection_), broken_);
}

Pool::Lease Pool::Acquire(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (idle_.empty() && open_ >= size_) {
        if (available_.wait_until(lock, deadline) == std::cv_status::timeout &&
            idle_.empty() && open_ >= size_) {
            throw PoolTimeout("no Postgres connection free within " +
                              std::to_string(timeout.count()) + " ms");
        }
    }
    if (!idle_.empty()) {
        auto connection = std::move(idle_.back());
        idle_.pop_back();
        return {*this, std::move(connection)};
    }
    ++open_;
    lock.unlock();
    try {
        auto connection = std::make_unique<pqxx::connection>(url_);
        if (prepare_) prepare_(*connection);
        return {*this, std::move(connection)};
    } catch (...) {
        std::lock_guard relock(mutex_);
        --open_;
        available_.notify_one();
        throw;
    }
}

void Pool::Release(std::unique_ptr<pqxx::connection> connection, bool broken) {
    std::lock_guard lock(mutex_);
    if (broken || !connection->is_open()) {
        --open_;
        // One broken connection usually means the server restarted: the idle ones are as
        // dead, and keeping them would fail the next requests one by one.
        open_ -= idle_.size();
        idle_.clear();
    } else {
        idle_.push_back(std::move(connection));
    }
    available_.notify_one();
}

bool Pool::Ping() {
    try {
        Lease lease = Acquire(std::chrono::seconds(1));
        try {
            pqxx::nontransaction txn(*lease);
            txn.exec("select 1");
            return true;
        } catch (const pqxx::broken_connection&) {
            lease.MarkBroken();
            return false;
        }
    } catch (const std::exception&) {
        return false;
    }
}

}  // namespace storefleet::pg
