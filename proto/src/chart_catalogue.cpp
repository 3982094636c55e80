#include "storefleet/events/chart_catalogue.hpp"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <tuple>

#include "storefleet/events/status.hpp"

namespace storefleet::events {

namespace {

Error Invalid(const std::string& what) {
    return Error::Permanent("chart_catalogue_invalid", "chart catalogue: " + what);
}

// (major, minor, patch, is a release, pre-release text): pre-releases sort before the release.
std::tuple<long, long, long, bool, std::string> VersionKey(std::string_view text) {
    long parts[3] = {0, 0, 0};
    std::string_view rest = text;
    for (auto& part : parts) {
        const auto* end = rest.data() + rest.size();
        auto [ptr, ec] = std::from_chars(rest.data(), end, part);
        if (ec != std::errc()) break;
        rest.remove_prefix(static_cast<std::size_t>(ptr - rest.data()));
        if (!rest.empty() && rest.front() == '.') rest.remove_prefix(1);
    }
    const bool pre_release = !rest.empty() && rest.front() == '-';
    return {parts[0], parts[1], parts[2], !pre_release, std::string(rest)};
}

}  // namespace

bool VersionLess(std::string_view a, std::string_view b) { return VersionKey(a) < VersionKey(b); }

Result<ChartCatalogue> ChartCatalogue::Load(const std::filesystem::path& dir) {
    const auto path = dir / "index.json";
    std::ifstream in(path);
    if (!in) {
        return Invalid(path.string() +
                       " cannot be read (make build writes build/chart-catalogue/index.json)");
    }
    auto index = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (index.is_discarded()) return Invalid(path.string() + " is not JSON");
    auto parsed = Parse(index);
    if (!parsed.ok()) return Invalid(path.string() + ": " + parsed.error().message);
    return parsed;
}

Result<ChartCatalogue> ChartCatalogue::Parse(const nlohmann::json& index) {
    ChartCatalogue catalogue;
    if (!index.is_object() || !index.contains("engines") || !index["engines"].is_object()) {
        return Invalid("no \"engines\" object");
    }
    for (const auto& [engine_name, entry] : index["engines"].items()) {
        if (!IsEngineName(engine_name)) return Invalid("unknown engine " + engine_name);
        if (!entry.is_object() || !entry.contains("versions") || !entry["versions"].is_object() ||
            !entry.value("default", nlohmann::json()).is_string()) {
            return Invalid(engine_name + R"(: needs "default" and "versions")");
        }
        Engine engine;
        engine.default_version = entry["default"].get<std::string>();
        for (const auto& [version, fields] : entry["versions"].items()) {
            if (!fields.is_object() || !fields.value("dir", nlohmann::json()).is_string()) {
                return Invalid(engine_name + " " + version + ": needs \"dir\"");
            }
            engine.versions.emplace(
                version, ChartVersion{.version = version,
                                      .dir = fields["dir"].get<std::string>(),
                                      .app_version = fields.value("app_version", std::string()),
                                      .migrates_data = fields.value("migrates_data", false)});
        }
        if (!engine.versions.contains(engine.default_version)) {
            return Invalid(engine_name + ": the default " + engine.default_version +
                           " is not one of its versions");
        }
        catalogue.engines_.emplace(engine_name, std::move(engine));
    }
    return catalogue;
}

bool ChartCatalogue::Offers(std::string_view engine) const { return engines_.contains(engine); }

std::string ChartCatalogue::DefaultVersion(std::string_view engine) const {
    const auto found = engines_.find(engine);
    return found == engines_.end() ? std::string() : found->second.default_version;
}

const ChartVersion* ChartCatalogue::Find(std::string_view engine, std::string_view version) const {
    const auto found = engines_.find(engine);
    if (found == engines_.end()) return nullptr;
    const auto& versions = found->second.versions;
    const auto match = versions.find(version.empty() ? found->second.default_version : version);
    return match == versions.end() ? nullptr : &match->second;
}

std::vector<std::string> ChartCatalogue::Versions(std::string_view engine) const {
    std::vector<std::string> out;
    if (const auto found = engines_.find(engine); found != engines_.end()) {
        for (const auto& [version, _] : found->second.versions) out.push_back(version);
    }
    std::sort(out.begin(), out.end(),
              [](const auto& a, const auto& b) { return VersionLess(a, b); });
    return out;
}

}  // namespace storefleet::events
