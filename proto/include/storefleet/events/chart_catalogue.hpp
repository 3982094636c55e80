#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storefleet/common/result.hpp"

namespace storefleet::events {

// One version of a store chart the platform can install (charts/releases/README.md).
struct ChartVersion {
    std::string version;         // "0.2.0"
    std::string dir;             // the unpacked chart, absolute
    std::string app_version;     // the engine's version it runs ("2.21.2")
    bool migrates_data = false;  // installing it over an older version changes the store's data
};

// Every version of each engine's store chart, and each engine's default (the version new
// stores get): build/chart-catalogue/index.json, written by infra/charts/catalogue.py. Intake
// picks versions from it, the provisioner installs them; both read the same file.
class ChartCatalogue {
public:
    // index.json in `dir`; an error names the file and what is wrong.
    static Result<ChartCatalogue> Load(const std::filesystem::path& dir);
    static Result<ChartCatalogue> Parse(const nlohmann::json& index);

    bool Offers(std::string_view engine) const;
    // The engine's current version ("" when the engine is not offered).
    std::string DefaultVersion(std::string_view engine) const;
    // The version of the engine's chart; "" is the default. nullptr when there is none.
    const ChartVersion* Find(std::string_view engine, std::string_view version) const;
    // The engine's versions, oldest first (semantic version order).
    std::vector<std::string> Versions(std::string_view engine) const;

private:
    struct Engine {
        std::string default_version;
        std::map<std::string, ChartVersion, std::less<>> versions;
    };
    std::map<std::string, Engine, std::less<>> engines_;
};

// Where the service images keep the catalogue (services/Dockerfile): the services' default.
inline constexpr std::string_view kImageChartCatalogue = "/opt/storefleet/chart-catalogue";

// a < b in semantic version order (major.minor.patch, a pre-release before its release).
bool VersionLess(std::string_view a, std::string_view b);

}  // namespace storefleet::events
