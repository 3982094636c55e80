#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "storefleet/common/result.hpp"

// PATCH /api/v1/stores/{id}: the merge patch of a store's desired state and its precondition
// (decision 11). Pure functions: no database, no HTTP.
namespace storefleet::intake {

// What a tenant may change of a store after it was created.
struct DesiredState {
    std::string plan;  // "small" | "medium" | "large"
    bool suspended = false;
    // The address the store's StoreRequested carried; nullopt for a store created before the
    // ledger kept it (migration 10).
    std::optional<std::string> admin_email;
    std::optional<std::string> chart_version;  // nullopt: the engine's current chart

    bool operator==(const DesiredState&) const = default;
};

// A validated JSON merge patch (RFC 7396) of the desired state: what it sets, nothing else.
struct StorePatch {
    std::optional<std::string> plan;
    std::optional<bool> suspended;
    std::optional<std::string> admin_email;
};

// Parses and validates a PATCH body: a JSON object with at least one of plan (small, medium,
// large), suspended (boolean), admin_email (as POST takes it). An unknown member, a wrong
// type, an empty object or a null is refused with an Error naming the field (a merge
// patch's null deletes a member, and no member of the desired state may be deleted).
Result<StorePatch> ParseStorePatch(const std::string& body);

// The names of the members `patch` changes in `current` ("plan", "suspended",
// "admin_email", in that order); empty when it changes nothing.
std::vector<std::string> ChangedFields(const DesiredState& current, const StorePatch& patch);
// `current` with `patch` applied.
DesiredState Patched(DesiredState current, const StorePatch& patch);

// The desired state's entity tag as HTTP sends it (quotes included): "g<generation>".
std::string DesiredEtag(uint64_t generation);

// A request's If-Match (RFC 9110 13.1.1), read against the desired state's entity tag.
class IfMatch {
public:
    // The header's value ("" when it is absent). nullopt when it is not "*" or a list of
    // entity tags (then the request is refused 400 naming If-Match).
    static std::optional<IfMatch> Parse(const std::string& value);

    // No If-Match at all: a change needs one (428).
    [[nodiscard]] bool Absent() const { return kind_ == Kind::kAbsent; }
    // True when the request may change a store at `generation`: "*" or a strong "g<N>"
    // with N == generation. If-Match compares strongly: a weak tag (W/"g3") never matches.
    [[nodiscard]] bool Matches(uint64_t generation) const;
    // Why a value did not match, for the 412's detail (mentions a weak tag if one was sent).
    [[nodiscard]] std::string Mismatch(uint64_t generation) const;

private:
    enum class Kind { kAbsent, kAny, kTags };
    Kind kind_ = Kind::kAbsent;
    std::vector<uint64_t> generations_;  // of the strong tags that name a generation
    std::vector<std::string> tags_;      // every tag as sent, for the detail
    bool weak_ = false;                  // a weak tag was sent
};

}  // namespace storefleet::intake
