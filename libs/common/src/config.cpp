#include "storefleet/common/config.hpp"

#include <algorithm>
#include <cstdlib>

namespace storefleet {

EnvConfig::EnvConfig()
    : lookup_([](const std::string& name) -> std::optional<std::string> {
          const char* value = std::getenv(name.c_str());  // NOLINT(concurrency-mt-unsafe)
          if (value == nullptr) return std::nullopt;
          return std::string(value);
      }) {}

EnvConfig::EnvConfig(Lookup lookup) : lookup_(std::move(lookup)) {}

EnvConfig EnvConfig::FromMap(std::map<std::string, std::string> values) {
    return EnvConfig(
        [values = std::move(values)](const std::string& name) -> std::optional<std::string> {
            auto it = values.find(name);
            if (it == values.end()) return std::nullopt;
            return it->second;
        });
}

std::string EnvConfig::Required(const std::string& name) const {
    auto value = lookup_(name);
    if (!value || value->empty()) throw ConfigError(name + " is required but not set");
    return *value;
}

std::string EnvConfig::String(const std::string& name, const std::string& fallback) const {
    auto value = lookup_(name);
    return value && !value->empty() ? *value : fallback;
}

int64_t EnvConfig::Int(const std::string& name, int64_t fallback, int64_t min, int64_t max) const {
    auto value = lookup_(name);
    if (!value || value->empty()) return fallback;
    int64_t parsed = 0;
    std::size_t used = 0;
    try {
        parsed = std::stoll(*value, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    if (used == 0 || used != value->size()) {
        throw ConfigError(name + " must be an integer, got '" + *value + "'");
    }
    if (parsed < min || parsed > max) {
        throw ConfigError(name + " must be between " + std::to_string(min) + " and " +
                          std::to_string(max) + ", got " + *value);
    }
    return parsed;
}

bool EnvConfig::Bool(const std::string& name, bool fallback) const {
    auto value = lookup_(name);
    if (!value || value->empty()) return fallback;
    if (*value == "1" || *value == "true" || *value == "yes") return true;
    if (*value == "0" || *value == "false" || *value == "no") return false;
    throw ConfigError(name + " must be true or false, got '" + *value + "'");
}

std::vector<std::string> EnvConfig::List(const std::string& name,
                                         const std::vector<std::string>& allowed) const {
    std::vector<std::string> items;
    const std::string text = lookup_(name).value_or("");
    std::string allowed_text;
    for (const auto& item : allowed) allowed_text += (allowed_text.empty() ? "" : ", ") + item;
    for (std::size_t start = 0; start <= text.size();) {
        const auto comma = std::min(text.find(',', start), text.size());
        const std::string item = text.substr(start, comma - start);
        start = comma + 1;
        if (item.empty()) continue;
        if (std::find(allowed.begin(), allowed.end(), item) == allowed.end()) {
            throw ConfigError(name + " holds '" + item + "'; allowed: " + allowed_text);
        }
        items.push_back(item);
    }
    return items;
}

bool MigrateOnlyRequested(int argc, const char* const* argv, const EnvConfig& env) {
    bool migrate_only = env.Bool("STOREFLEET_MIGRATE_ONLY", false);
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg != "--migrate-only")
            throw ConfigError("unknown argument '" + arg + "' (only --migrate-only)");
        migrate_only = true;
    }
    return migrate_only;
}

std::chrono::milliseconds EnvConfig::Millis(const std::string& name,
                                            std::chrono::milliseconds fallback) const {
    return std::chrono::milliseconds(Int(name, fallback.count(), 0, 86'400'000));
}

}  // namespace storefleet
