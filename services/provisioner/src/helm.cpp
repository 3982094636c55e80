#include "helm.hpp"

#include <unistd.h>

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
    explicit ValuesFile(const nlohmann::json& values) {
        std::string pattern = (std::filesystem::temp_directory_path() / "storefleet-values-XXXXXX").string();
        const int fd = mkstemp(pattern.data());
        if (fd < 0) throw std::runtime_error("cannot create a temporary values file");
        path_ = pattern;
        const std::string text = values.dump();  // JSON is YAML
        const ssize_t written = write(fd, text.data(), text.size());
        close(fd);
        if (written != static_cast<ssize_t>(text.size())) throw std::runtime_error("cannot write values file");
    }
    ~ValuesFile() { std::filesystem::remove(path_); }
    ValuesFile(const ValuesFile&) = delete;
    ValuesFile& operator=(const ValuesFile&) = delete;
    [[nodiscard]] const std::string& path() const { return path_; }

private:
    std::string path_;
};

}  // namespace

Error ClassifyHelmFailure(const std::string& action, const std::string& output) {
    const std::string detail = "helm " + action + " failed: " + LastLines(output);
    if (Contains(output, "another operation (install/upgrade/rollback) is in progress")) {
        return Error::Retryable("helm_pending", detail);
    }
    if (Contains(output, "connection refused") || Contains(output, "i/o timeout") ||
        Contains(output, "TLS handshake timeout") || Contains(output, "the server is currently unable") ||
        Contains(output, "Too many requests") || Contains(output, "etcdserver") ||
        Contains(output, "the object has been modified") || Contains(output, "context deadline exceeded") ||
        Contains(output, "is being terminated") || Contains(output, "timed out")) {
        return Error::Retryable("helm_transient", detail);
    }
    return Error::Permanent("helm_failed", detail);
}

HelmCli::HelmCli(Options options) : options_(std::move(options)) {
    const char* path = std::getenv("PATH");  // NOLINT(concurrency-mt-unsafe)
    env_.push_back(std::string("PATH=") + (path != nullptr ? path : "/usr/bin:/bin"));
    env_.push_back("HOME=" + options_.cache_dir);
    env_.push_back("HELM_CACHE_HOME=" + options_.cache_dir + "/cache");
    env_.push_back("HELM_CONFIG_HOME=" + options_.cache_dir + "/config");
    env_.push_back("HELM_DATA_HOME=" + options_.cache_dir + "/data");
    if (!options_.kubeconfig.empty()) env_.push_back("KUBECONFIG=" + options_.kubeconfig);
    for (const char* name : {"KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"}) {
        if (const char* value = std::getenv(name)) env_.push_back(std::string(name) + "=" + value);  // NOLINT
    }
    std::filesystem::create_directories(options_.cache_dir);
}

HelmCli::Outcome HelmCli::Run(std::vector<std::string> args) {
    args.insert(args.begin(), options_.helm_binary);
    auto result = RunProcess(args, env_, options_.timeout + std::chrono::seconds(30));
    return {result.exit_code, result.timed_out, result.output};
}

Status HelmCli::RecoverPending(const std::string& release, const std::string& ns) {
    auto status = Run({"status", release, "-n", ns, "-o", "json"});
    if (status.exit_code != 0) return Status::Ok();  // nothing to recover
    std::string state;
    try {
        state = nlohmann::json::parse(status.output).at("info").at("status").get<std::string>();
    } catch (const std::exception&) {
        return Status::Ok();
    }
    if (state == "pending-install") {
        log::Warn("recovering a release left pending-install", {{"release", release}, {"namespace", ns}});
        auto out = Run({"uninstall", release, "-n", ns, "--no-hooks"});
        if (out.exit_code != 0) return ClassifyHelmFailure("uninstall", out.output);
    } else if (state == "pending-upgrade" || state == "pending-rollback") {
        log::Warn("recovering a release left " + state, {{"release", release}, {"namespace", ns}});
        auto out = Run({"rollback", release, "-n", ns, "--no-hooks"});
        if (out.exit_code != 0) return ClassifyHelmFailure("rollback", out.output);
    }
    return Status::Ok();
}

Status HelmCli::UpgradeInstall(const std::string& release, const std::string& ns, const std::string& chart,
                               const nlohmann::json& values) {
    ValuesFile file(values);
    std::vector<std::string> args = {"upgrade", "--install", release, chart, "-n", ns,
                                     "-f", file.path(), "--timeout",
                                     std::to_string(options_.timeout.count()) + "s"};
    if (!options_.openapi_validation) args.emplace_back("--disable-openapi-validation");
    auto out = Run(args);
    if (out.exit_code == 0) return Status::Ok();
    if (out.timed_out) return Error::Retryable("helm_timeout", "helm upgrade --install timed out");
    auto error = ClassifyHelmFailure("upgrade --install", out.output);
    if (error.code != "helm_pending") return error;
    if (auto recovered = RecoverPending(release, ns); !recovered.ok()) return recovered.error();
    out = Run(args);
    if (out.exit_code == 0) return Status::Ok();
    return ClassifyHelmFailure("upgrade --install", out.output);
}

Status HelmCli::Uninstall(const std::string& release, const std::string& ns) {
    auto out = Run({"uninstall", release, "-n", ns, "--ignore-not-found", "--timeout",
                    std::to_string(options_.timeout.count()) + "s"});
    if (out.exit_code == 0) return Status::Ok();
    if (out.timed_out) return Error::Retryable("helm_timeout", "helm uninstall timed out");
    return ClassifyHelmFailure("uninstall", out.output);
}

}  // namespace storefleet::provisioner
