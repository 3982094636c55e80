#include "storefleet/test_support/env.hpp"

#include <cstdlib>

namespace storefleet::test_support {

std::string Env(const char* name, const std::string& fallback) {
    const char* value =
        std::getenv(name);  // NOLINT(concurrency-mt-unsafe): read, never set, by the tests
    return value != nullptr && *value != '\0' ? value : fallback;
}

std::string RequireEnv(const char* name) {
    std::string value = Env(name);
    if (value.empty()) {
        throw MissingEnv(std::string(name) + " is not set: run the test through tests/with-stack");
    }
    return value;
}

std::string RepoRoot() { return Env("STOREFLEET_ROOT"); }

std::string StateDir() { return Env("STOREFLEET_STATE", RepoRoot() + "/.state/local"); }

}  // namespace storefleet::test_support
