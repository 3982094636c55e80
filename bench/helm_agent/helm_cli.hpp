#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "helm_runner.hpp"

namespace storefleet::bench {

// The bench's Helm CLI side: `helm upgrade --install` / `helm uninstall` as a child process
// per call, as the provisioner ran Helm before it had the agent (docs/decisions/0004, 0010).
// Only what the measurement needs: values through a 0600 file, no shell, the CLI's own
// per-process cost (start-up, kubeconfig, discovery, chart parse). No cancel and no pending
// recovery: the bench installs into fresh namespaces. Thread-safe.
class HelmCli final : public provisioner::HelmRunner {
public:
    struct Options {
        std::string helm_binary;
        std::string kubeconfig;
        std::string work_dir;  // HOME and the values files
        std::chrono::seconds timeout{120};
    };
    explicit HelmCli(Options options);

    Status UpgradeInstall(const std::string& release, const std::string& ns,
                          const std::string& chart, const std::vector<std::string>& values_files,
                          const nlohmann::json& values,
                          const provisioner::CancelToken& cancel) override;
    Status Uninstall(const std::string& release, const std::string& ns,
                     const provisioner::CancelToken& cancel) override;
    // Not measured here: drift repair is the agent's alone (docs/decisions/0012).
    Status Repair(const std::string& /*release*/, const std::string& /*ns*/,
                  const provisioner::CancelToken& /*cancel*/) override {
        return Error::Permanent("unsupported", "the Helm CLI runner of the bench does not repair");
    }

private:
    Status Run(std::vector<std::string> args, const std::string& action);

    Options options_;
};

}  // namespace storefleet::bench
