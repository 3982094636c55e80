#pragma once

#include <nlohmann/json.hpp>

namespace storefleet::query {

// docs/openapi.yaml as JSON, embedded at build time (cmake/embed_openapi.py); the text
// GET /api/v1/openapi.json serves, parsed once.
const char* OpenApiJson();
const nlohmann::json& OpenApiDocument();

}  // namespace storefleet::query
