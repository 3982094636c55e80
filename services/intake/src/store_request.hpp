#pragma once

#include <string>

#include "storefleet/common/result.hpp"

namespace storefleet::intake {

// A validated POST /api/v1/stores body.
struct StoreRequest {
    std::string name;    // DNS label: the store's host is <name>.<tenant>.<domain>
    std::string engine;  // "woocommerce" | "medusa"
    std::string plan;    // "small" | "medium" | "large"
    std::string admin_email;
};

// Parses and validates the JSON body; the Error's message says exactly what is wrong.
Result<StoreRequest> ParseStoreRequest(const std::string& body);

[[nodiscard]] bool IsDnsLabel(const std::string& text, std::size_t max_length = 63);

}  // namespace storefleet::intake
