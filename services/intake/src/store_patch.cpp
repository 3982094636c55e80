#include "store_patch.hpp"

#include <nlohmann/json.hpp>

#include <charconv>

#include "store_request.hpp"

namespace storefleet::intake {

namespace {

bool IsPlan(const std::string& plan) {
    return plan == "small" || plan == "medium" || plan == "large";
}

}  // namespace

Result<StorePatch> ParseStorePatch(const std::string& body) {
    nlohmann::json json;
    try {
        json = nlohmann::json::parse(body);
    } catch (const nlohmann::json::exception&) {
        return Error::Invalid("body", R"(body must be a JSON merge patch like {"plan":"medium"})");
    }
    if (!json.is_object()) return Error::Invalid("body", "body must be a JSON object");
    if (json.empty()) {
        return Error::Invalid(
            "body", "the patch is empty: give at least one of plan, suspended, admin_email");
    }
    StorePatch patch;
    for (const auto& [key, value] : json.items()) {
        if (key != "plan" && key != "suspended" && key != "admin_email") {
            return Error::Invalid(key, "unknown field '" + key +
                                           "'; a store's plan, suspended and admin_email may "
                                           "change, nothing else");
        }
        if (value.is_null()) {
            return Error::Invalid(key, "'" + key +
                                           "' is null, which in a merge patch removes it; a "
                                           "store always has one: give its new value");
        }
        if (key == "suspended") {
            if (!value.is_boolean()) return Error::Invalid(key, "suspended must be true or false");
            patch.suspended = value.get<bool>();
            continue;
        }
        if (!value.is_string()) return Error::Invalid(key, "field '" + key + "' must be a string");
        const auto text = value.get<std::string>();
        if (key == "plan") {
            if (!IsPlan(text))
                return Error::Invalid(key,
                                      "plan must be small, medium or large, got '" + text + "'");
            patch.plan = text;
        } else {
            if (!IsAdminEmail(text)) {
                return Error::Invalid(
                    key, "admin_email is not a valid e-mail address of at most 100 characters");
            }
            patch.admin_email = text;
        }
    }
    return patch;
}

std::vector<std::string> ChangedFields(const DesiredState& current, const StorePatch& patch) {
    std::vector<std::string> changed;
    if (patch.plan && *patch.plan != current.plan) changed.emplace_back("plan");
    if (patch.suspended && *patch.suspended != current.suspended) changed.emplace_back("suspended");
    if (patch.admin_email && patch.admin_email != current.admin_email)
        changed.emplace_back("admin_email");
    return changed;
}

DesiredState Patched(DesiredState current, const StorePatch& patch) {
    if (patch.plan) current.plan = *patch.plan;
    if (patch.suspended) current.suspended = *patch.suspended;
    if (patch.admin_email) current.admin_email = patch.admin_email;
    return current;
}

std::string DesiredEtag(uint64_t generation) { return "\"g" + std::to_string(generation) + "\""; }

namespace {

bool IsBlank(char c) { return c == ' ' || c == '\t'; }

// etagc (RFC 9110 8.8.3): %x21 / %x23-7E / obs-text; anything but a control, a blank or '"'.
bool IsEtagChar(char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte == 0x21 || (byte >= 0x23 && byte != 0x7f);
}

// The generation a strong tag's text names ("g12" -> 12), if it names one.
std::optional<uint64_t> GenerationOf(const std::string& opaque) {
    if (opaque.size() < 2 || opaque[0] != 'g' || opaque[1] == '0') return std::nullopt;
    uint64_t generation = 0;
    const char* begin = opaque.data() + 1;
    const char* end = opaque.data() + opaque.size();
    auto [stop, error] = std::from_chars(begin, end, generation);
    if (error != std::errc() || stop != end) return std::nullopt;
    return generation;
}

}  // namespace

std::optional<IfMatch> IfMatch::Parse(const std::string& value) {
    IfMatch parsed;
    std::size_t at = 0;
    auto skip_blanks = [&] {
        while (at < value.size() && IsBlank(value[at])) ++at;
    };
    skip_blanks();
    if (at == value.size()) return parsed;  // absent (or empty, which says nothing either)
    if (value[at] == '*') {
        ++at;
        skip_blanks();
        if (at != value.size()) return std::nullopt;
        parsed.kind_ = Kind::kAny;
        return parsed;
    }
    parsed.kind_ = Kind::kTags;
    // 1#entity-tag: tags separated by commas, blanks around them, empty elements allowed.
    while (at < value.size()) {
        skip_blanks();
        if (at < value.size() && value[at] == ',') {
            ++at;
            continue;
        }
        if (at == value.size()) break;
        bool weak = false;
        if (value.compare(at, 2, "W/") == 0) {
            weak = true;
            at += 2;
        }
        if (at == value.size() || value[at] != '"') return std::nullopt;
        const std::size_t open = ++at;
        while (at < value.size() && IsEtagChar(value[at])) ++at;
        if (at == value.size() || value[at] != '"') return std::nullopt;
        const std::string opaque = value.substr(open, at - open);
        ++at;
        parsed.tags_.push_back(std::string(weak ? "W/" : "") + "\"" + opaque + "\"");
        if (weak) {
            parsed.weak_ = true;
        } else if (auto generation = GenerationOf(opaque)) {
            parsed.generations_.push_back(*generation);
        }
        skip_blanks();
        if (at < value.size() && value[at] != ',') return std::nullopt;
    }
    if (parsed.tags_.empty()) return std::nullopt;  // only commas
    return parsed;
}

bool IfMatch::Matches(uint64_t generation) const {
    if (kind_ == Kind::kAny) return true;
    for (uint64_t named : generations_) {
        if (named == generation) return true;
    }
    return false;
}

std::string IfMatch::Mismatch(uint64_t generation) const {
    std::string sent;
    for (const auto& tag : tags_) sent += (sent.empty() ? "" : ", ") + tag;
    std::string detail = "If-Match " + sent +
                         " does not name the store's desired state, which is " +
                         DesiredEtag(generation) + " (generation " + std::to_string(generation) +
                         "): another change was accepted since it was read; read the store again";
    if (weak_) {
        detail += ". A weak tag (W/...) never matches If-Match: send the tag without W/";
    }
    return detail;
}

}  // namespace storefleet::intake
