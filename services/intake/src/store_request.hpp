#pragma once

#include <string>
#include <vector>

#include "storefleet/common/result.hpp"

namespace storefleet::intake {

// A validated POST /api/v1/stores body.
struct StoreRequest {
    std::string name;    // DNS label: the store's host is <name>.<tenant>.<domain>
    std::string engine;  // "woocommerce" | "medusa"
    std::string plan;    // "small" | "medium" | "large"
    std::string admin_email;
    std::string placement = "any";  // "any" | "real-node"
};

// Parses and validates the JSON body; the Error's message says exactly what is wrong.
// `placement: real-node` is accepted only for the engines in `real_node_engines` (the
// platform's real node, when it has one: STOREFLEET_REAL_NODE_ENGINES).
Result<StoreRequest> ParseStoreRequest(const std::string& body,
                                       const std::vector<std::string>& real_node_engines = {});

[[nodiscard]] bool IsDnsLabel(const std::string& text, std::size_t max_length = 63);

// A store's admin e-mail as POST and PATCH accept it: at most 100 characters (WordPress
// keeps user_email in a varchar(100)), something@domain.tld, no blanks, quotes or brackets.
[[nodiscard]] bool IsAdminEmail(const std::string& text);

}  // namespace storefleet::intake
