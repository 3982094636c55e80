#include "process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace storefleet::provisioner {
namespace {

// In the child between fork and exec: only async-signal-safe calls. Never returns.
[[noreturn]] void ExecChild(pid_t parent, int output_fd, char* const* argv, char* const* envp) {
    // Die with the thread that started us (a kill -9 of the service included).
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);  // the parent died before prctl took effect
    setpgid(0, 0);  // our own group: a cancel kills Helm and anything it started
    // The service blocks SIGTERM/SIGINT for its own sigwait; the child must not inherit that.
    sigset_t empty;
    sigemptyset(&empty);
    sigprocmask(SIG_SETMASK, &empty, nullptr);
    signal(SIGPIPE, SIG_DFL);
    const int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null_fd < 0 || dup2(null_fd, STDIN_FILENO) < 0 || dup2(output_fd, STDOUT_FILENO) < 0 ||
        dup2(output_fd, STDERR_FILENO) < 0) {
        _exit(126);
    }
    execve(argv[0], argv, envp);
    const char message[] = "cannot start the program: exec failed\n";
    (void)!write(STDERR_FILENO, message, sizeof(message) - 1);
    _exit(127);
}

}  // namespace

ProcessResult RunProcess(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                         std::chrono::milliseconds timeout, const std::function<bool()>& cancelled) {
    ProcessResult result;
    if (access(argv.at(0).c_str(), X_OK) != 0) {
        result.output = "cannot start " + argv.at(0) + ": " + std::strerror(errno);
        return result;
    }
    int pipe_fds[2];
    if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
        result.output = std::string("pipe: ") + std::strerror(errno);
        return result;
    }
    // Built before fork: the child may not allocate.
    std::vector<char*> c_argv;
    for (const auto& arg : argv) c_argv.push_back(const_cast<char*>(arg.c_str()));  // NOLINT
    c_argv.push_back(nullptr);
    std::vector<char*> c_env;
    for (const auto& var : env) c_env.push_back(const_cast<char*>(var.c_str()));  // NOLINT
    c_env.push_back(nullptr);

    const pid_t parent = getpid();
    const pid_t pid = fork();
    if (pid == 0) ExecChild(parent, pipe_fds[1], c_argv.data(), c_env.data());
    close(pipe_fds[1]);
    if (pid < 0) {
        close(pipe_fds[0]);
        result.output = "cannot start " + argv.at(0) + ": " + std::strerror(errno);
        return result;
    }
    // Also from here, so the group exists before we might have to kill it.
    setpgid(pid, pid);

    const auto deadline = std::chrono::steady_clock::now() + timeout;
    char buffer[4096];
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            result.timed_out = true;
            break;
        }
        if (cancelled && cancelled()) {
            result.cancelled = true;
            break;
        }
        pollfd fd{pipe_fds[0], POLLIN, 0};
        const int ready = poll(&fd, 1, static_cast<int>(std::min<int64_t>(left.count(), 100)));
        if (ready < 0 && errno == EINTR) continue;
        if (ready == 0) continue;
        const ssize_t n = read(pipe_fds[0], buffer, sizeof(buffer));
        if (n <= 0) break;  // EOF: the child closed its output (normally: exited)
        if (result.output.size() < 64 * 1024) result.output.append(buffer, static_cast<std::size_t>(n));
    }
    if (result.timed_out || result.cancelled) kill(-pid, SIGKILL);
    close(pipe_fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!result.timed_out && !result.cancelled && WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
    return result;
}

}  // namespace storefleet::provisioner
