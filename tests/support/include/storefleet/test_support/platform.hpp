// The platform under test, started by `infra/local/platform up` on the stack of
// tests/with-stack: where its API answers, and with which token.
#pragma once

#include <map>
#include <string>

#include "storefleet/test_support/process.hpp"

namespace storefleet::test_support {

// KEY=VALUE lines of an env file (the stack's env.d/*): an absent file gives an empty map.
std::map<std::string, std::string> ReadEnvFile(const std::string& path);

struct PlatformEndpoints {
    std::string url;         // the front door (STOREFLEET_URL)
    std::string intake_url;  // intake itself, bypassing the front door (STOREFLEET_INTAKE_URL)
    std::string token;       // a tenant's API token (first line of STOREFLEET_TOKEN_FILE)
    std::string error;       // why the others are missing; "" when url and token are set
};

// Reads <StateDir()>/env.d/platform, which `infra/local/platform up` writes.
PlatformEndpoints ReadPlatformEndpoints();

// `infra/local/platform ARGS` (up, down, start NAME, kill NAME SIGNAL, ps).
CommandResult Platform(const std::string& args);

}  // namespace storefleet::test_support
