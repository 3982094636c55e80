#pragma once

#include <string>

#include "storefleet/common/result.hpp"

namespace storefleet::provisioner {

// Classifies Helm's error text (the agent answers with Helm's own, "Error: ..."): transient
// (API unavailable, conflicts, timeouts, another operation in progress) or permanent (a chart
// that does not render, values refused by the schema, objects the API rejects). `action`
// names what failed in the error's message; the text is cut to its last 600 characters.
Error ClassifyHelmFailure(const std::string& action, const std::string& output);

}  // namespace storefleet::provisioner
