#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace storefleet::provisioner {

struct ProcessResult {
    int exit_code = -1;  // -1: could not start, or was killed (deadline or cancel)
    bool timed_out = false;
    bool cancelled = false;
    std::string output;  // stdout and stderr interleaved, capped at 64 KiB
};

// Runs `argv` directly (no shell, so no quoting or injection issues) with `env` as the
// whole environment. The child leads a process group of its own, and the whole group is
// killed at `timeout` or as soon as `cancelled` (polled every 100 ms) says so. The child
// also gets SIGKILL when the thread that started it dies, so a `kill -9` of the service
// never leaves a Helm running beside the replay of its command. Thread-safe; call it from
// a long-lived thread (the parent-death signal follows the starting thread).
ProcessResult RunProcess(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                         std::chrono::milliseconds timeout, const std::function<bool()>& cancelled = {});

}  // namespace storefleet::provisioner
