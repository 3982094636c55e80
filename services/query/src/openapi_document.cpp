#include "openapi_document.hpp"

#include "openapi_json.hpp"

namespace storefleet::query {

const char* OpenApiJson() { return kOpenApiJson; }

const nlohmann::json& OpenApiDocument() {
    static const nlohmann::json document = nlohmann::json::parse(kOpenApiJson);
    return document;
}

}  // namespace storefleet::query
