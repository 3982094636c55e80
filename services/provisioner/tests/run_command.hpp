#pragma once

#include <string>
#include <vector>

namespace storefleet::provisioner {

// For tests and benches that check with the Helm CLI or kubectl: runs `argv` (no shell) with
// `env` as its whole environment, waits for it, and gives its exit status (-1 if it could not
// start or was killed) and its stdout and stderr together.
struct CommandResult {
    int exit_code = -1;
    std::string output;
};
CommandResult RunCommand(const std::vector<std::string>& argv, const std::vector<std::string>& env);

}  // namespace storefleet::provisioner
