#include "run_command.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

namespace storefleet::provisioner {

CommandResult RunCommand(const std::vector<std::string>& argv,
                         const std::vector<std::string>& env) {
    CommandResult result;
    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0) return result;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDERR_FILENO);
    posix_spawn_file_actions_addclose(&actions, out[0]);
    std::vector<char*> args;
    for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));  // NOLINT
    args.push_back(nullptr);
    std::vector<char*> vars;
    for (const auto& var : env) vars.push_back(const_cast<char*>(var.c_str()));  // NOLINT
    vars.push_back(nullptr);
    pid_t pid = 0;
    const int spawned = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), vars.data());
    posix_spawn_file_actions_destroy(&actions);
    close(out[1]);
    char chunk[4096];
    for (ssize_t n; (n = read(out[0], chunk, sizeof(chunk))) > 0;)
        result.output.append(chunk, static_cast<std::size_t>(n));
    close(out[0]);
    if (spawned != 0) {
        result.output = "cannot start " + argv.at(0);
        return result;
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return result;
}

}  // namespace storefleet::provisioner
