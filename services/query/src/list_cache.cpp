#include "list_cache.hpp"

namespace storefleet::query {

uint64_t ListCache::Generation() {
    std::lock_guard lock(mutex_);
    return epoch_;
}

bool ListCache::Valid(const Entry& entry, Clock::time_point now) const {
    if (!live_ || entry.generation < all_since_ || now - entry.stored >= options_.ttl) return false;
    auto changed = changed_at_.find(entry.tenant);
    return changed == changed_at_.end() || entry.generation >= changed->second;
}

std::shared_ptr<const std::string> ListCache::Get(const std::string& key, const std::string& tenant,
                                                  Clock::time_point now) {
    std::lock_guard lock(mutex_);
    auto found = entries_.find(key);
    if (found == entries_.end()) return nullptr;
    if (found->second.tenant != tenant || !Valid(found->second, now)) {
        bytes_ -= found->second.body->size() + key.size();
        entries_.erase(found);
        return nullptr;
    }
    return found->second.body;
}

void ListCache::Put(const std::string& key, const std::string& tenant, uint64_t generation,
                    std::shared_ptr<const std::string> body, Clock::time_point now) {
    std::lock_guard lock(mutex_);
    Entry entry{tenant, generation, now, std::move(body)};
    if (!Valid(entry, now)) return;
    const std::size_t size = entry.body->size() + key.size();
    if (auto found = entries_.find(key); found != entries_.end()) {
        bytes_ -= found->second.body->size() + key.size();
        entries_.erase(found);
    }
    if (bytes_ + size > options_.max_bytes) {
        entries_.clear();
        bytes_ = 0;
    }
    bytes_ += size;
    entries_.emplace(key, std::move(entry));
}

void ListCache::Changed(const std::string& tenant) {
    std::lock_guard lock(mutex_);
    ++epoch_;
    if (changed_at_.size() >= options_.max_tenants && !changed_at_.contains(tenant)) {
        changed_at_.clear();
        ForgetAll();
    }
    changed_at_[tenant] = epoch_;
}

void ListCache::SetLive(bool live) {
    std::lock_guard lock(mutex_);
    if (live == live_) return;
    live_ = live;
    ++epoch_;
    ForgetAll();
}

void ListCache::ForgetAll() {
    all_since_ = epoch_;
    entries_.clear();
    bytes_ = 0;
}

std::size_t ListCache::Entries() {
    std::lock_guard lock(mutex_);
    return entries_.size();
}

}  // namespace storefleet::query
