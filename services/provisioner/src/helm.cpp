#include "helm.hpp"

#include <signal.h>
#include <unistd.h>

#include <cerrno>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "process.hpp"
#include "storefleet/common/log.hpp"

namespace storefleet::provisioner {
namespace {

std::string LastLines(const std::string& text, std::size_t max_chars = 600) {
    std::string trimmed = text;
    while (!trimmed.empty() && (trimmed.back() == '\n' || trimmed.back() == ' ')) trimmed.pop_back();
    if (trimmed.size() <= max_chars) return trimmed;
    return "..." + trimmed.substr(trimmed.size() - max_chars);
}

bool Contains(const std::string& text, const char* needle) { return text.find(needle) != std::string::npos; }

// A temporary values file readable only by us, removed when this goes out of scope.
class ValuesFile {
public:
    ValuesFile(const std::string& dir, const nlohmann::json& values) {
        std::string pattern = (std::filesystem::path(dir) / "values-XXXXXX").string();
        const int fd = mkstemp(pattern.data());
        if (fd < 0) throw std::runtime_error("cannot create a temporary values file");
        path_ = pattern;
        const std::string text = values.dump();  // JSON is YAML
        const ssize_t written = write(fd, text.data(), text.size());
        close(fd);
        if (written != static_cast<ssize_t>(text.size())) throw std::runtime_error("cannot write values file");
    }
    ~ValuesFile() {
        std::error_code ignored;
        std::filesystem::remove(path_, ignored);
    }
    ValuesFile(const ValuesFile&) = delete;
    ValuesFile& operator=(const ValuesFile&) = delete;
    [[nodiscard]] const std::string& path() const { return path_; }

private:
    std::string path_;
};

Error Cancelled() { return Error::Permanent("cancelled", "cancelled"); }

// Removes values folders left by provisioner processes that no longer run.
void RemoveStaleValueFolders(const std::string& cache_dir) {
    std::error_code error;
    for (const auto& entry : std::filesystem::directory_iterator(cache_dir, error)) {
        const std::string name = entry.path().filename().string();
        if (name.rfind("values-", 0) != 0) continue;
        const std::string pid_text = name.substr(7);
        if (pid_text.empty() || pid_text.find_first_not_of("0123456789") != std::string::npos) continue;
        const auto pid = static_cast<pid_t>(std::stol(pid_text));
        if (pid == getpid() || kill(pid, 0) == 0 || errno != ESRCH) continue;
        std::filesystem::remove_all(entry.path(), error);
        log::Info("removed values files of a provisioner that no longer runs", {{"folder", entry.path().string()}});
    }
}

}  // namespace

Error ClassifyHelmFailure(const std::string& action, const std::string& output) {
    const std::string detail = "helm " + action + " failed: " + LastLines(output);
    if (Contains(output, "another operation (install/upgrade/rollback) is in progress")) {
        return Error::Retryable("helm_pending", detail);
    }
    // The last record is an interrupted install or uninstall: recovered, then retried.
    if (Contains(output, "has no deployed releases")) return Error::Retryable("helm_not_deployed", detail);
    if (Contains(output, "connection refused") || Contains(output, "i/o timeout") ||
        Contains(output, "TLS handshake timeout") || Contains(output, "the server is currently unable") ||
        Contains(output, "Too many requests") || Contains(output, "etcdserver") ||
        Contains(output, "the object has been modified") || Contains(output, "context deadline exceeded") ||
        Contains(output, "is being terminated") || Contains(output, "timed out") ||
        Contains(output, "failed to delete release") || Contains(output, "no route to host") ||
        Contains(output, "unexpected EOF")) {
        return Error::Retryable("helm_transient", detail);
    }
    return Error::Permanent("helm_failed", detail);
}

std::vector<std::string> HelmEnvironment(const HelmCli::Options& options) {
    std::vector<std::string> env;
    const char* path = std::getenv("PATH");  // NOLINT(concurrency-mt-unsafe)
    env.push_back(std::string("PATH=") + (path != nullptr ? path : "/usr/bin:/bin"));
    env.push_back("HOME=" + options.cache_dir);
    env.push_back("HELM_CACHE_HOME=" + options.cache_dir + "/cache");
    env.push_back("HELM_CONFIG_HOME=" + options.cache_dir + "/config");
    env.push_back("HELM_DATA_HOME=" + options.cache_dir + "/data");
    if (!options.kubeconfig.empty()) env.push_back("KUBECONFIG=" + options.kubeconfig);
    for (const char* name : {"KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT", "GOMAXPROCS", "GOGC"}) {
        if (const char* value = std::getenv(name)) env.push_back(std::string(name) + "=" + value);  // NOLINT
    }
    return env;
}

HelmCli::HelmCli(Options options, kube::KubeApi* kube)
    : options_(std::move(options)), kube_(kube), env_(HelmEnvironment(options_)) {
    std::filesystem::create_directories(options_.cache_dir);
    RemoveStaleValueFolders(options_.cache_dir);
    values_dir_ = options_.cache_dir + "/values-" + std::to_string(getpid());
    std::filesystem::create_directories(values_dir_);
    std::filesystem::permissions(values_dir_, std::filesystem::perms::owner_all, std::filesystem::perm_options::replace);
}

HelmCli::Outcome HelmCli::Run(std::vector<std::string> args, const CancelToken& cancel) {
    args.insert(args.begin(), options_.helm_binary);
    auto result = RunProcess(args, env_, options_.timeout + std::chrono::seconds(30),
                             [&cancel] { return cancel.Cancelled(); });
    return {result.exit_code, result.timed_out, result.cancelled, result.output};
}

Status HelmCli::RecoverPending(const std::string& release, const std::string& ns, const CancelToken& cancel) {
    auto status = Run({"status", release, "-n", ns, "-o", "json"}, cancel);
    if (status.cancelled) return Cancelled();
    if (status.exit_code != 0) return Status::Ok();  // nothing to recover
    std::string state;
    int64_t revision = 0;
    try {
        const auto parsed = nlohmann::json::parse(status.output);
        state = parsed.at("info").at("status").get<std::string>();
        revision = parsed.value("version", 0);
    } catch (const std::exception&) {
        return Status::Ok();
    }
    const bool first_install = revision == 1 && (state == "pending-install" || state == "failed");
    if (first_install && kube_ != nullptr) {
        log::Warn("recovering a release left " + state + ": dropping its record and installing again",
                  {{"release", release}, {"namespace", ns}});
        auto dropped = kube_->Delete("/api/v1/namespaces/" + ns + "/secrets/sh.helm.release.v1." + release + ".v1");
        if (!dropped.ok()) return dropped.error();
    } else if (state == "pending-upgrade" && revision > 1 && kube_ != nullptr) {
        // An upgrade interrupted mid-way leaves its revision pending and the one before it
        // deployed (Helm supersedes that one only once the upgrade is done). Dropping the
        // pending record lets the upgrade run again from the deployed revision: no rollback
        // revision in the history, which nobody asked for (tests/faults, case 1).
        log::Warn("recovering a release left pending-upgrade: dropping that revision's record and upgrading again",
                  {{"release", release}, {"namespace", ns}, {"revision", revision}});
        auto dropped = kube_->Delete("/api/v1/namespaces/" + ns + "/secrets/sh.helm.release.v1." + release + ".v" +
                                     std::to_string(revision));
        if (!dropped.ok()) return dropped.error();
    } else if (state == "pending-install" || state == "uninstalling" || (state == "failed" && revision == 1)) {
        log::Warn("recovering a release left " + state + ": uninstalling it", {{"release", release}, {"namespace", ns}});
        auto out = Run({"uninstall", release, "-n", ns, "--no-hooks"}, cancel);
        if (out.cancelled) return Cancelled();
        if (out.exit_code != 0) return ClassifyHelmFailure("uninstall", out.output);
    } else if (state == "pending-upgrade" || state == "pending-rollback") {
        log::Warn("recovering a release left " + state, {{"release", release}, {"namespace", ns}});
        auto out = Run({"rollback", release, "-n", ns, "--no-hooks"}, cancel);
        if (out.cancelled) return Cancelled();
        if (out.exit_code != 0) return ClassifyHelmFailure("rollback", out.output);
    }
    return Status::Ok();
}

Status HelmCli::UpgradeInstall(const std::string& release, const std::string& ns, const std::string& chart,
                               const std::vector<std::string>& values_files, const nlohmann::json& values,
                               const CancelToken& cancel) {
    ValuesFile file(values_dir_, values);
    std::vector<std::string> args = {"upgrade", "--install", release, chart, "-n", ns};
    for (const auto& values_file : values_files) {
        args.emplace_back("-f");
        args.push_back(values_file);
    }
    args.emplace_back("-f");
    args.push_back(file.path());
    args.emplace_back("--timeout");
    args.push_back(std::to_string(options_.timeout.count()) + "s");
    if (!options_.openapi_validation) args.emplace_back("--disable-openapi-validation");
    auto out = Run(args, cancel);
    if (out.cancelled) return Cancelled();
    if (out.exit_code == 0) return Status::Ok();
    if (out.timed_out) return Error::Retryable("helm_timeout", "helm upgrade --install timed out");
    auto error = ClassifyHelmFailure("upgrade --install", out.output);
    if (error.code != "helm_pending" && error.code != "helm_not_deployed") return error;
    if (auto recovered = RecoverPending(release, ns, cancel); !recovered.ok()) return recovered.error();
    out = Run(args, cancel);
    if (out.cancelled) return Cancelled();
    if (out.exit_code == 0) return Status::Ok();
    return ClassifyHelmFailure("upgrade --install", out.output);
}

Status HelmCli::Uninstall(const std::string& release, const std::string& ns, const CancelToken& cancel) {
    auto out = Run({"uninstall", release, "-n", ns, "--ignore-not-found", "--timeout",
                    std::to_string(options_.timeout.count()) + "s"},
                   cancel);
    if (out.cancelled) return Cancelled();
    if (out.exit_code == 0) return Status::Ok();
    if (out.timed_out) return Error::Retryable("helm_timeout", "helm uninstall timed out");
    return ClassifyHelmFailure("uninstall", out.output);
}

}  // namespace storefleet::provisioner
