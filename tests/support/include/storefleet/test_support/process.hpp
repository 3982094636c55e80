// Shell commands from tests: infra/local scripts, a service binary run to its exit.
#pragma once

#include <string>

namespace storefleet::test_support {

struct CommandResult {
    int rc = -1;  // the exit status; -1 when it did not exit normally (a signal) or never ran
    std::string output;  // stdout and stderr, interleaved
};

// Runs `command` with /bin/sh and waits for it; safe to call from any thread.
CommandResult RunShell(const std::string& command);

}  // namespace storefleet::test_support
