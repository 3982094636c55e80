#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

// Ready list pages (GET /api/v1/stores bodies), kept until the tenant's stores change.
namespace storefleet::query {

// The bodies of recent list requests, per tenant and parameters. An entry serves only
// while nothing of its tenant changed since the read that made it began: the change feed
// (the live stream's thread, which reads every committed change of the read model in
// order) calls Changed(tenant) for each change, and a page whose read may have missed one
// is never served again. While the feed is down (SetLive(false)) nothing is served or
// kept. Entries also expire after `ttl`, so a row written to the read model by anything
// other than the projector (which logs every change) shows within that time.
// Thread-safe: HTTP threads read and fill it, the stream thread invalidates it.
class ListCache {
public:
    using Clock = std::chrono::steady_clock;
    struct Options {
        std::chrono::milliseconds ttl{1000};
        std::size_t max_bytes = 32 << 20;  // past this, everything goes
        std::size_t max_tenants = 100'000;
    };

    explicit ListCache(Options options) : options_(options) {}
    ListCache() : ListCache(Options{}) {}

    // Take before reading the page; pass to Put.
    uint64_t Generation();
    // The body for `key` of `tenant`, or null.
    std::shared_ptr<const std::string> Get(const std::string& key, const std::string& tenant,
                                           Clock::time_point now);
    // Keeps `body`, read after Generation() returned `generation`, unless the tenant changed since.
    void Put(const std::string& key, const std::string& tenant, uint64_t generation,
             std::shared_ptr<const std::string> body, Clock::time_point now);
    // A committed change of one of `tenant`'s stores.
    void Changed(const std::string& tenant);
    // Whether the change feed is followed; on any transition everything cached goes.
    void SetLive(bool live);
    std::size_t Entries();

private:
    struct Entry {
        std::string tenant;
        uint64_t generation = 0;
        Clock::time_point stored;
        std::shared_ptr<const std::string> body;
    };
    bool Valid(const Entry& entry, Clock::time_point now) const;
    void ForgetAll();

    Options options_;
    std::mutex mutex_;
    bool live_ = false;
    uint64_t epoch_ = 0;      // counts changes; a generation is its value at a read's start
    uint64_t all_since_ = 0;  // every entry of a generation below this is void
    std::unordered_map<std::string, uint64_t> changed_at_;  // tenant -> epoch of its last change
    std::unordered_map<std::string, Entry> entries_;
    std::size_t bytes_ = 0;
};

}  // namespace storefleet::query
