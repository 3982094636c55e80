#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace storefleet {

// Thrown at start-up for a missing or malformed setting; main() prints it and exits 2.
class ConfigError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Reads settings once, from the environment (STOREFLEET_* variables). Each getter names
// the variable in its error so an operator knows exactly what to fix.
class EnvConfig {
public:
    using Lookup = std::function<std::optional<std::string>(const std::string&)>;

    EnvConfig();  // reads the process environment
    explicit EnvConfig(Lookup lookup);
    // Settings from a map instead of the environment (tests, tools).
    static EnvConfig FromMap(std::map<std::string, std::string> values);

    [[nodiscard]] std::string Required(const std::string& name) const;
    [[nodiscard]] std::string String(const std::string& name, const std::string& fallback) const;
    [[nodiscard]] int64_t Int(const std::string& name, int64_t fallback, int64_t min,
                              int64_t max) const;
    [[nodiscard]] bool Bool(const std::string& name, bool fallback) const;
    // A comma-separated list (empty items skipped); each item must be one of `allowed`.
    [[nodiscard]] std::vector<std::string> List(const std::string& name,
                                                const std::vector<std::string>& allowed) const;
    [[nodiscard]] std::chrono::milliseconds Millis(const std::string& name,
                                                   std::chrono::milliseconds fallback) const;

private:
    Lookup lookup_;
};

// A service's migrate-only mode (the chart's pre-install/pre-upgrade hook Job): true for
// `--migrate-only` or STOREFLEET_MIGRATE_ONLY=true; any other argument is a ConfigError.
[[nodiscard]] bool MigrateOnlyRequested(int argc, const char* const* argv, const EnvConfig& env);

}  // namespace storefleet
