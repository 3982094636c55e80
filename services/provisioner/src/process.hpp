#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace storefleet::provisioner {

struct ProcessResult {
    int exit_code = -1;  // -1: could not start or was killed at the deadline
    bool timed_out = false;
    std::string output;  // stdout and stderr interleaved, capped at 64 KiB
};

// Runs `argv` directly (no shell, so no quoting or injection issues) with `env` as the
// whole environment, and kills it at `timeout`. Thread-safe.
ProcessResult RunProcess(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                         std::chrono::milliseconds timeout);

}  // namespace storefleet::provisioner
