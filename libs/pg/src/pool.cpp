#include "storefleet/pg/pool.hpp"

namespace storefleet::pg {

namespace {

bool IsUri(const std::string& url) {
    return url.rfind("postgres://", 0) == 0 || url.rfind("postgresql://", 0) == 0;
}

bool Sets(const std::string& url, const std::string& key) {
    if (IsUri(url)) {
        const auto query = url.find('?');
        if (query == std::string::npos) return false;
        const std::string params = "&" + url.substr(query + 1);
        return params.find("&" + key + "=") != std::string::npos;
    }
    for (std::size_t at = url.find(key); at != std::string::npos; at = url.find(key, at + 1)) {
        const bool starts = at == 0 || url[at - 1] == ' ' || url[at - 1] == '\t';
        std::size_t after = at + key.size();
        while (after < url.size() && url[after] == ' ') ++after;
        if (starts && after < url.size() && url[after] == '=') return true;
    }
    return false;
}

}  // namespace

std::string WithConnectionDefaults(const std::string& url, const ConnectionDefaults& defaults) {
    const bool uri = IsUri(url);
    std::string out = url;
    bool first_param = uri && url.find('?') == std::string::npos;
    auto add = [&](const std::string& key, const std::string& uri_value,
                   const std::string& plain_value) {
        if (Sets(url, key)) return;
        if (uri) {
            out += (first_param ? "?" : "&") + key + "=" + uri_value;
            first_param = false;
        } else {
            out += (out.empty() ? "" : " ") + key + "=" + plain_value;
        }
    };
    auto number = [](int value) { return std::to_string(value); };
    add("connect_timeout", number(defaults.connect_timeout_s), number(defaults.connect_timeout_s));
    add("keepalives", "1", "1");
    add("keepalives_idle", number(defaults.keepalives_idle_s), number(defaults.keepalives_idle_s));
    add("keepalives_interval", number(defaults.keepalives_interval_s),
        number(defaults.keepalives_interval_s));
    add("keepalives_count", number(defaults.keepalives_count), number(defaults.keepalives_count));
    add("tcp_user_timeout", number(defaults.tcp_user_timeout_ms),
        number(defaults.tcp_user_timeout_ms));
    // -c statement_timeout=N, as a server option of the session (RESET returns to it).
    add("options", "-c%20statement_timeout%3D" + number(defaults.statement_timeout_ms),
        "'-c statement_timeout=" + number(defaults.statement_timeout_ms) + "'");
    return out;
}

Pool::Pool(const std::string& url, std::size_t size, const ConnectionDefaults& defaults)
    : url_(WithConnectionDefaults(url, defaults)), size_(size) {}

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
        if (available_.wait_until(lock, deadline) == std::cv_status::timeout && idle_.empty() &&
            open_ >= size_) {
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
