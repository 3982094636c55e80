#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>

#include "storefleet/v1/events.pb.h"

// The names a store's status and engine have everywhere outside protobuf: in the read model,
// the REST APIs, the SSE stream and the dashboard. One list, so a new status is added once.
namespace storefleet::events {

// Every status a store can show, in lifecycle order.
inline constexpr std::array<std::string_view, 8> kStatusNames = {
    "requested", "provisioning", "ready", "suspended", "degraded", "failed", "deleting", "deleted"};

// "requested", "provisioning", ...; "unknown" for a value this build does not know.
std::string StatusName(v1::StoreStatus status);
// The status a name stands for; nullopt for a name that is not in kStatusNames.
std::optional<v1::StoreStatus> ParseStatus(std::string_view name);
bool IsStatusName(std::string_view name);
// "requested, provisioning, ready, failed, deleting, deleted", for error messages.
std::string StatusNameList();

// Every engine a store can run.
inline constexpr std::array<std::string_view, 2> kEngineNames = {"woocommerce", "medusa"};

// "woocommerce", "medusa"; "unknown" otherwise.
std::string EngineName(v1::Engine engine);
// The engine a name stands for; nullopt for a name that is not in kEngineNames.
std::optional<v1::Engine> ParseEngine(std::string_view name);
bool IsEngineName(std::string_view name);

}  // namespace storefleet::events
