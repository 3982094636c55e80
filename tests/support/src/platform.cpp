#include "storefleet/test_support/platform.hpp"

#include <fstream>

#include "storefleet/test_support/env.hpp"

namespace storefleet::test_support {

std::map<std::string, std::string> ReadEnvFile(const std::string& path) {
    std::map<std::string, std::string> values;
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
        if (auto eq = line.find('='); eq != std::string::npos)
            values[line.substr(0, eq)] = line.substr(eq + 1);
    }
    return values;
}

PlatformEndpoints ReadPlatformEndpoints() {
    const std::string file = StateDir() + "/env.d/platform";
    auto values = ReadEnvFile(file);
    PlatformEndpoints endpoints;
    endpoints.url = values["STOREFLEET_URL"];
    endpoints.intake_url = values["STOREFLEET_INTAKE_URL"];
    std::ifstream token(values["STOREFLEET_TOKEN_FILE"]);
    std::getline(token, endpoints.token);
    if (endpoints.url.empty()) {
        endpoints.error = "no STOREFLEET_URL in " + file;
    } else if (endpoints.token.empty()) {
        endpoints.error = "no API token in '" + values["STOREFLEET_TOKEN_FILE"] +
                          "' (STOREFLEET_TOKEN_FILE of " + file + ")";
    }
    return endpoints;
}

CommandResult Platform(const std::string& args) {
    return RunShell("bash " + RepoRoot() + "/infra/local/platform " + args);
}

}  // namespace storefleet::test_support
