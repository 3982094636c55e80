#include "storefleet/test_support/process.hpp"

#include <sys/wait.h>

#include <array>
#include <cstdio>

namespace storefleet::test_support {

CommandResult RunShell(const std::string& command) {
    CommandResult result;
    // Braces, so that stderr of every command of a list joins the output, not only the last's.
    const std::string line = "{ " + command + "\n} 2>&1";
    FILE* pipe =
        popen(line.c_str(), "r");  // NOLINT(cert-env33-c): tests drive scripts and binaries
    if (pipe == nullptr) return result;
    std::array<char, 4096> buffer{};
    std::size_t n = 0;
    while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0)
        result.output.append(buffer.data(), n);
    const int status = pclose(pipe);
    result.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return result;
}

}  // namespace storefleet::test_support
