#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "cancel.hpp"
#include "storefleet/common/result.hpp"

namespace storefleet::provisioner {

// The process edge to Helm; the provisioner depends on this, tests substitute it. The one
// implementation is HelmAgent (helm_agent.hpp).
class HelmRunner {
public:
    virtual ~HelmRunner() = default;
    // `helm upgrade --install` without --wait: readiness is decided from the API.
    // `values_files` (files of the chart, e.g. values-real-node.yaml) come first, `values`
    // last. A release left pending by a runner that died is recovered first (the caller holds
    // the store's lease). A cancelled call stops Helm at once and returns a "cancelled" error.
    virtual Status UpgradeInstall(const std::string& release, const std::string& ns,
                                  const std::string& chart,
                                  const std::vector<std::string>& values_files,
                                  const nlohmann::json& values, const CancelToken& cancel) = 0;
    // `helm uninstall`; a release that does not exist counts as success.
    virtual Status Uninstall(const std::string& release, const std::string& ns,
                             const CancelToken& cancel) = 0;
    // Drift repair: upgrade the deployed release with its own recorded chart and values, so
    // Helm's three-way merge re-creates its deleted objects and restores fields changed by
    // hand. An error when its last revision is not deployed. The caller holds the store's lease.
    virtual Status Repair(const std::string& release, const std::string& ns,
                          const CancelToken& cancel) = 0;
    // What the deployed release rendered, summarised ({"revision": N, "objects": [{"kind",
    // "name", "namespace", "instance", "containers", "initContainers"}]}; helm-agent/PROTOCOL.md,
    // op manifest): what drift judges the store's objects against. An error when its last
    // revision is not deployed. A runner that cannot tell answers "unsupported": nothing is then
    // judged against the release.
    virtual Result<nlohmann::json> ReleaseManifest(const std::string& release,
                                                   const std::string& ns,
                                                   const CancelToken& cancel) {
        (void)release;
        (void)ns;
        (void)cancel;
        return Error::Permanent("unsupported", "this Helm runner cannot read a release manifest");
    }
};

}  // namespace storefleet::provisioner
