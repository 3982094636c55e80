#include "helm_cli.hpp"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "helm_failure.hpp"
#include "run_command.hpp"

namespace storefleet::bench {

HelmCli::HelmCli(Options options) : options_(std::move(options)) {
    std::filesystem::create_directories(options_.work_dir);
}

Status HelmCli::Run(std::vector<std::string> args, const std::string& action) {
    args.insert(args.begin(), options_.helm_binary);
    const std::string& home = options_.work_dir;
    const char* path = std::getenv("PATH");  // NOLINT(concurrency-mt-unsafe)
    auto result = provisioner::RunCommand(
        args, {std::string("PATH=") + (path != nullptr ? path : "/usr/bin:/bin"), "HOME=" + home,
               "HELM_CACHE_HOME=" + home + "/cache", "HELM_CONFIG_HOME=" + home + "/config",
               "HELM_DATA_HOME=" + home + "/data", "KUBECONFIG=" + options_.kubeconfig});
    if (result.exit_code == 0) return Status::Ok();
    return provisioner::ClassifyHelmFailure(action, result.output);
}

Status HelmCli::UpgradeInstall(const std::string& release, const std::string& ns,
                               const std::string& chart,
                               const std::vector<std::string>& values_files,
                               const nlohmann::json& values,
                               const provisioner::CancelToken& /*cancel*/) {
    std::string values_path = options_.work_dir + "/values-XXXXXX";
    const int fd = mkstemp(values_path.data());  // 0600
    if (fd < 0) return Error::Permanent("values_file", "cannot create a values file");
    const std::string text = values.dump();  // JSON is YAML
    const bool written = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    close(fd);
    Status status = Error::Permanent("values_file", "cannot write the values file");
    if (written) {
        std::vector<std::string> args = {"upgrade", "--install", release, chart, "-n", ns};
        for (const auto& file : values_files) {
            args.emplace_back("-f");
            args.push_back(file);
        }
        args.insert(args.end(),
                    {"-f", values_path, "--timeout", std::to_string(options_.timeout.count()) + "s",
                     "--disable-openapi-validation"});
        status = Run(std::move(args), "upgrade --install");
    }
    std::filesystem::remove(values_path);
    return status;
}

Status HelmCli::Uninstall(const std::string& release, const std::string& ns,
                          const provisioner::CancelToken& /*cancel*/) {
    return Run({"uninstall", release, "-n", ns, "--ignore-not-found", "--timeout",
                std::to_string(options_.timeout.count()) + "s"},
               "uninstall");
}

}  // namespace storefleet::bench
