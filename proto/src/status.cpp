#include "storefleet/events/status.hpp"

#include <algorithm>

namespace storefleet::events {

std::string StatusName(v1::StoreStatus status) {
    switch (status) {
        case v1::STORE_STATUS_REQUESTED:
            return "requested";
        case v1::STORE_STATUS_PROVISIONING:
            return "provisioning";
        case v1::STORE_STATUS_READY:
            return "ready";
        case v1::STORE_STATUS_SUSPENDED:
            return "suspended";
        case v1::STORE_STATUS_DEGRADED:
            return "degraded";
        case v1::STORE_STATUS_FAILED:
            return "failed";
        case v1::STORE_STATUS_DELETING:
            return "deleting";
        case v1::STORE_STATUS_DELETED:
            return "deleted";
        default:
            return "unknown";
    }
}

std::optional<v1::StoreStatus> ParseStatus(std::string_view name) {
    if (!IsStatusName(name)) return std::nullopt;  // "unknown" names no status
    for (int value = v1::StoreStatus_MIN; value <= v1::StoreStatus_MAX; ++value) {
        if (!v1::StoreStatus_IsValid(value)) continue;
        const auto status = static_cast<v1::StoreStatus>(value);
        if (StatusName(status) == name) return status;
    }
    return std::nullopt;
}

bool IsStatusName(std::string_view name) {
    return std::find(kStatusNames.begin(), kStatusNames.end(), name) != kStatusNames.end();
}

std::string StatusNameList() {
    std::string list;
    for (auto name : kStatusNames) list += (list.empty() ? "" : ", ") + std::string(name);
    return list;
}

bool IsEngineName(std::string_view name) {
    return std::find(kEngineNames.begin(), kEngineNames.end(), name) != kEngineNames.end();
}

std::string EngineName(v1::Engine engine) {
    switch (engine) {
        case v1::ENGINE_WOOCOMMERCE:
            return "woocommerce";
        case v1::ENGINE_MEDUSA:
            return "medusa";
        default:
            return "unknown";
    }
}

std::optional<v1::Engine> ParseEngine(std::string_view name) {
    if (!IsEngineName(name)) return std::nullopt;  // "unknown" names no engine
    for (int value = v1::Engine_MIN; value <= v1::Engine_MAX; ++value) {
        if (!v1::Engine_IsValid(value)) continue;
        const auto engine = static_cast<v1::Engine>(value);
        if (EngineName(engine) == name) return engine;
    }
    return std::nullopt;
}

}  // namespace storefleet::events
