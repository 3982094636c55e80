#include "storefleet/common/tenant_cache.hpp"

namespace storefleet {

std::optional<std::string> TenantCache::Get(const std::string& token_sha256,
                                            Clock::time_point now) {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(token_sha256);
    if (it == entries_.end()) return std::nullopt;
    if (now >= it->second.expires) {
        entries_.erase(it);
        return std::nullopt;
    }
    return it->second.tenant_id;
}

void TenantCache::Put(const std::string& token_sha256, std::string tenant_id,
                      Clock::time_point now) {
    if (ttl_.count() <= 0 || max_entries_ == 0) return;
    std::lock_guard lock(mutex_);
    if (entries_.size() >= max_entries_ && !entries_.contains(token_sha256)) {
        std::erase_if(entries_, [now](const auto& entry) { return now >= entry.second.expires; });
        if (entries_.size() >= max_entries_) entries_.clear();
    }
    entries_.insert_or_assign(token_sha256, Entry{std::move(tenant_id), now + ttl_});
}

}  // namespace storefleet
