#include "helm_agent.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "helm_failure.hpp"
#include "storefleet/common/log.hpp"

namespace storefleet::provisioner {
namespace {

Error Cancelled() { return Error::Permanent("cancelled", "cancelled"); }

// In the child between fork and exec: only async-signal-safe calls. Never returns.
[[noreturn]] void ExecAgent(pid_t parent, int sock, int err_fd, char* const* argv,
                            char* const* envp) {
    // Die with the reader thread that started us (a kill -9 of the service included).
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    setpgid(0, 0);
    sigset_t empty;
    sigemptyset(&empty);
    sigprocmask(SIG_SETMASK, &empty, nullptr);
    signal(SIGPIPE, SIG_DFL);
    if (dup2(sock, STDIN_FILENO) < 0 || dup2(sock, STDOUT_FILENO) < 0 ||
        dup2(err_fd, STDERR_FILENO) < 0)
        _exit(126);
    execve(argv[0], argv, envp);
    const char message[] = "cannot start the helm agent: exec failed\n";
    (void)!write(STDERR_FILENO, message, sizeof(message) - 1);
    _exit(127);
}

void ForwardLog(const std::string& line) {
    if (line.empty()) return;
    // One line per request is routine; anything else (start, chart loads, failures to start) is
    // news.
    if (line.find(" release=") != std::string::npos) {
        log::Debug("helm agent", {{"line", line}});
    } else {
        log::Info("helm agent", {{"line", line}});
    }
}

}  // namespace

std::vector<std::string> HelmEnvironment(const HelmAgent::Options& options) {
    std::vector<std::string> env;
    const char* path = std::getenv("PATH");  // NOLINT(concurrency-mt-unsafe)
    env.push_back(std::string("PATH=") + (path != nullptr ? path : "/usr/bin:/bin"));
    env.push_back("HOME=" + options.helm_home);
    env.push_back("HELM_CACHE_HOME=" + options.helm_home + "/cache");
    env.push_back("HELM_CONFIG_HOME=" + options.helm_home + "/config");
    env.push_back("HELM_DATA_HOME=" + options.helm_home + "/data");
    if (!options.kubeconfig.empty()) env.push_back("KUBECONFIG=" + options.kubeconfig);
    for (const char* name :
         {"KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT", "GOMAXPROCS", "GOGC"}) {
        if (const char* value = std::getenv(name))
            env.push_back(std::string(name) + "=" + value);  // NOLINT
    }
    return env;
}

HelmAgent::HelmAgent(Options options)
    : options_(std::move(options)), env_(HelmEnvironment(options_)) {
    // The agent's HOME; if it cannot be made, the agent's own start-up error says so.
    std::error_code ignored;
    std::filesystem::create_directories(options_.helm_home, ignored);
}

HelmAgent::~HelmAgent() {
    std::thread reader;
    {
        std::unique_lock lock(mutex_);
        while (starting_) changed_.wait(lock);
        stopping_ = true;
        if (running_ && pid_ > 0) kill(-pid_, SIGKILL);
        reader = std::move(reader_);
    }
    if (reader.joinable()) reader.join();
}

pid_t HelmAgent::AgentPid() {
    std::lock_guard lock(mutex_);
    return running_ ? pid_ : 0;
}

int HelmAgent::Starts() {
    std::lock_guard lock(mutex_);
    return starts_;
}

std::string HelmAgent::EnsureRunningLocked(std::unique_lock<std::mutex>& lock) {
    while (starting_) changed_.wait(lock);
    if (running_) return "";
    starting_ = true;
    std::thread old = std::move(reader_);
    lock.unlock();
    if (old.joinable()) old.join();
    lock.lock();
    start_error_.clear();
    const int generation = ++generation_;
    reader_ = std::thread([this, generation] { ReaderLoop(generation); });
    changed_.wait(lock, [&] { return running_ || !start_error_.empty(); });
    const bool started = running_;
    starting_ = false;
    changed_.notify_all();
    return started ? "" : start_error_;
}

void HelmAgent::ReaderLoop(int generation) {
    const auto fail_start = [&](const std::string& why) {
        std::lock_guard lock(mutex_);
        start_error_ = why;
        changed_.notify_all();
    };
    if (access(options_.agent_binary.c_str(), X_OK) != 0) {
        return fail_start("cannot start " + options_.agent_binary + ": " + std::strerror(errno));
    }
    int pair[2];
    int err_pipe[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
        return fail_start(std::string("socketpair: ") + std::strerror(errno));
    }
    if (pipe2(err_pipe, O_CLOEXEC) != 0) {
        close(pair[0]);
        close(pair[1]);
        return fail_start(std::string("pipe: ") + std::strerror(errno));
    }
    std::vector<std::string> argv_strings = {options_.agent_binary};
    std::vector<char*> argv;
    for (auto& arg : argv_strings) argv.push_back(arg.data());
    argv.push_back(nullptr);
    std::vector<char*> envp;
    for (auto& var : env_) envp.push_back(const_cast<char*>(var.c_str()));  // NOLINT
    envp.push_back(nullptr);
    const pid_t parent = getpid();
    const pid_t pid = fork();
    if (pid == 0) ExecAgent(parent, pair[1], err_pipe[1], argv.data(), envp.data());
    close(pair[1]);
    close(err_pipe[1]);
    if (pid < 0) {
        close(pair[0]);
        close(err_pipe[0]);
        return fail_start(std::string("fork: ") + std::strerror(errno));
    }
    setpgid(pid, pid);
    const int sock = pair[0];
    const int err_fd = err_pipe[0];
    {
        std::lock_guard lock(mutex_);
        pid_ = pid;
        sock_ = sock;
        running_ = true;
        ++starts_;
        changed_.notify_all();
    }
    log::Info("started the helm agent", {{"pid", pid}, {"generation", generation}});

    std::string out_buffer;
    std::string err_buffer;
    bool out_open = true;
    bool err_open = true;
    char chunk[16384];
    while (out_open) {
        pollfd fds[2] = {{sock, POLLIN, 0}, {err_open ? err_fd : -1, POLLIN, 0}};
        const int ready = poll(fds, 2, -1);
        if (ready < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (err_open && (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
            const ssize_t n = read(err_fd, chunk, sizeof(chunk));
            if (n <= 0) {
                err_open = false;
                ForwardLog(err_buffer);
                err_buffer.clear();
            } else {
                err_buffer.append(chunk, static_cast<std::size_t>(n));
                for (std::size_t end; (end = err_buffer.find('\n')) != std::string::npos;) {
                    ForwardLog(err_buffer.substr(0, end));
                    err_buffer.erase(0, end + 1);
                }
                if (err_buffer.size() > 64 * 1024) err_buffer.clear();
            }
        }
        if ((fds[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
            const ssize_t n = read(sock, chunk, sizeof(chunk));
            if (n <= 0) {
                if (n < 0 && errno == EINTR) continue;
                out_open = false;
                break;
            }
            out_buffer.append(chunk, static_cast<std::size_t>(n));
            for (std::size_t end; (end = out_buffer.find('\n')) != std::string::npos;) {
                const std::string line = out_buffer.substr(0, end);
                out_buffer.erase(0, end + 1);
                nlohmann::json answer;
                try {
                    answer = nlohmann::json::parse(line);
                } catch (const std::exception&) {
                    log::Warn("the helm agent wrote a line that is not JSON");
                    continue;
                }
                const int64_t id = answer.value("id", int64_t{0});
                std::lock_guard lock(mutex_);
                auto found = pending_.find(id);
                if (found == pending_.end()) continue;  // cancelled or timed out meanwhile
                found->second->done = true;
                found->second->ok = answer.value("ok", false);
                found->second->error = answer.value("error", std::string());
                found->second->body = std::move(answer);
                pending_.erase(found);
                changed_.notify_all();
            }
        }
    }
    // The agent closed its end: it exited or is about to. Make sure, and reap it.
    kill(-pid, SIGKILL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (err_open) {
        // Whatever it said last (a fatal start error, a panic) explains the death.
        for (;;) {
            const ssize_t n = read(err_fd, chunk, sizeof(chunk));
            if (n <= 0) break;
            err_buffer.append(chunk, static_cast<std::size_t>(n));
            if (err_buffer.size() > 64 * 1024) break;
        }
        std::size_t start = 0;
        for (std::size_t end; (end = err_buffer.find('\n', start)) != std::string::npos;
             start = end + 1) {
            ForwardLog(err_buffer.substr(start, end - start));
        }
        ForwardLog(err_buffer.substr(start));
    }
    close(err_fd);
    const std::string why = WIFSIGNALED(status)
                                ? "killed by signal " + std::to_string(WTERMSIG(status))
                                : "exited with status " + std::to_string(WEXITSTATUS(status));
    {
        // Writers hold write_mutex_ while they use the socket: close it only when none does.
        std::lock_guard write_lock(write_mutex_);
        std::lock_guard lock(mutex_);
        running_ = false;
        sock_ = -1;
        pid_ = 0;
        if (start_error_.empty()) start_error_ = "the helm agent " + why;
        for (auto& [id, answer] : pending_) {
            answer->done = true;
            answer->agent_died = true;
            answer->error = "the helm agent " + why;
        }
        pending_.clear();
        close(sock);
        changed_.notify_all();
    }
    bool stopping = false;
    {
        std::lock_guard lock(mutex_);
        stopping = stopping_;
    }
    if (stopping) {
        log::Info("stopped the helm agent", {{"pid", pid}});
    } else {
        log::Warn("the helm agent stopped; the next call starts another",
                  {{"pid", pid}, {"reason", why}});
    }
}

bool HelmAgent::Send(const std::string& line, int generation) {
    // A request written to a newer agent than the one it was registered with would run
    // unobserved: the generation is checked under the locks the reader takes to close.
    std::lock_guard write_lock(write_mutex_);
    int sock = -1;
    {
        std::lock_guard lock(mutex_);
        if (!running_ || generation_ != generation) return false;
        sock = sock_;
    }
    std::size_t sent = 0;
    while (sent < line.size()) {
        const ssize_t n = send(sock, line.data() + sent, line.size() - sent, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        sent += static_cast<std::size_t>(n);
    }
    return true;
}

HelmAgent::CallResult HelmAgent::Call(nlohmann::json request, const CancelToken& cancel) {
    CallResult outcome;
    if (cancel.Cancelled()) {
        outcome.cancelled = true;
        return outcome;
    }
    auto answer = std::make_shared<Answer>();
    int64_t id = 0;
    int generation = 0;
    {
        std::unique_lock lock(mutex_);
        if (auto why = EnsureRunningLocked(lock); !why.empty()) {
            outcome.agent_died = true;
            outcome.error = why;
            return outcome;
        }
        id = next_id_++;
        generation = generation_;
        pending_[id] = answer;
    }
    request["id"] = id;
    const auto forget = [&] {
        std::lock_guard lock(mutex_);
        pending_.erase(id);
    };
    if (!Send(request.dump() + "\n", generation)) {
        forget();
        outcome.agent_died = true;
        outcome.error = "the helm agent stopped";
        return outcome;
    }
    const auto deadline =
        std::chrono::steady_clock::now() + options_.timeout + std::chrono::seconds(30);
    std::unique_lock lock(mutex_);
    for (;;) {
        if (changed_.wait_for(lock, std::chrono::milliseconds(100), [&] { return answer->done; }))
            break;
        const bool cancelled = cancel.Cancelled();
        const bool timed_out = std::chrono::steady_clock::now() >= deadline;
        if (!cancelled && !timed_out) continue;
        pending_.erase(id);
        lock.unlock();
        Send(nlohmann::json({{"id", id}, {"op", "cancel"}}).dump() + "\n", generation);
        outcome.cancelled = cancelled;
        outcome.timed_out = !cancelled;
        return outcome;
    }
    outcome.ok = answer->ok;
    outcome.agent_died = answer->agent_died;
    outcome.error = answer->error;
    outcome.body = std::move(answer->body);
    return outcome;
}

Status HelmAgent::ToStatus(const CallResult& result, const std::string& action) {
    if (result.cancelled) return Cancelled();
    if (result.ok) return Status::Ok();
    if (result.timed_out) return Error::Retryable("helm_timeout", "helm " + action + " timed out");
    if (result.agent_died)
        return Error::Retryable("helm_agent_died", "helm " + action + " failed: " + result.error);
    return ClassifyHelmFailure(action, result.error);
}

Status HelmAgent::UpgradeInstall(const std::string& release, const std::string& ns,
                                 const std::string& chart,
                                 const std::vector<std::string>& values_files,
                                 const nlohmann::json& values, const CancelToken& cancel) {
    const nlohmann::json request = {
        {"op", "upgrade_install"},
        {"release", release},
        {"namespace", ns},
        {"chart", chart},
        {"values_files", values_files},
        {"values", values.is_null() ? nlohmann::json::object() : values},
        {"timeout_seconds", options_.timeout.count()},
        {"disable_openapi_validation", !options_.openapi_validation},
        // A replayed command (an install interrupted after Helm, before Ready; a converged
        // generation run again) must not make another revision of the same release.
        {"skip_if_unchanged", true}};
    auto installed = ToStatus(Call(request, cancel), "upgrade --install");
    if (installed.ok()) return installed;
    const std::string& code = installed.error().code;
    if (code != "helm_pending" && code != "helm_not_deployed") return installed;
    // Rare: a release left pending by a dead agent or provisioner. Recovered, then installed again.
    if (auto recovered = RecoverPending(release, ns, cancel); !recovered.ok()) return recovered;
    return ToStatus(Call(request, cancel), "upgrade --install");
}

Status HelmAgent::RecoverPending(const std::string& release, const std::string& ns,
                                 const CancelToken& cancel) {
    auto result = Call({{"op", "recover_pending"},
                        {"release", release},
                        {"namespace", ns},
                        {"timeout_seconds", options_.timeout.count()}},
                       cancel);
    if (!result.ok) return ToStatus(result, "recovery of a pending release");
    const auto recovery = result.body.value("recovery", nlohmann::json::object());
    const std::string action = recovery.value("action", std::string("none"));
    if (action != "none") {
        // tests/faults reads these lines: every recovery a store's release went through.
        log::Warn(
            "recovering a release left " + recovery.value("state", std::string("pending")) + ": " +
                action,
            {{"release", release}, {"namespace", ns}, {"revision", recovery.value("revision", 0)}});
    }
    return Status::Ok();
}

Status HelmAgent::Uninstall(const std::string& release, const std::string& ns,
                            const CancelToken& cancel) {
    return ToStatus(Call({{"op", "uninstall"},
                          {"release", release},
                          {"namespace", ns},
                          {"timeout_seconds", options_.timeout.count()}},
                         cancel),
                    "uninstall");
}

Status HelmAgent::Repair(const std::string& release, const std::string& ns,
                         const CancelToken& cancel) {
    return ToStatus(Call({{"op", "repair"},
                          {"release", release},
                          {"namespace", ns},
                          {"timeout_seconds", options_.timeout.count()}},
                         cancel),
                    "repair");
}

Result<nlohmann::json> HelmAgent::ReleaseManifest(const std::string& release, const std::string& ns,
                                                  const CancelToken& cancel) {
    auto result = Call({{"op", "manifest"},
                        {"release", release},
                        {"namespace", ns},
                        {"timeout_seconds", options_.timeout.count()}},
                       cancel);
    if (auto status = ToStatus(result, "manifest"); !status.ok()) return status.error();
    auto manifest = result.body.value("manifest", nlohmann::json());
    if (!manifest.is_object())
        return Error::Retryable("helm_agent_protocol", "the helm agent answered no manifest");
    return manifest;
}

}  // namespace storefleet::provisioner
