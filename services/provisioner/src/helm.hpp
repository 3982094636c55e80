#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cancel.hpp"
#include "storefleet/common/result.hpp"
#include "storefleet/kube/client.hpp"

namespace storefleet::provisioner {

// The process edge to Helm; the provisioner depends on this, tests substitute it.
class HelmRunner {
public:
    virtual ~HelmRunner() = default;
    // `helm upgrade --install` without --wait: readiness is decided from the API.
    // `values_files` (files of the chart, e.g. values-real-node.yaml) come first, `values`
    // last. A cancelled call stops Helm at once and returns a "cancelled" error.
    virtual Status UpgradeInstall(const std::string& release, const std::string& ns,
                                  const std::string& chart, const std::vector<std::string>& values_files,
                                  const nlohmann::json& values, const CancelToken& cancel) = 0;
    // `helm uninstall`; a release that does not exist counts as success.
    virtual Status Uninstall(const std::string& release, const std::string& ns, const CancelToken& cancel) = 0;
};

// Runs the Helm CLI (no shell). Values go through a 0600 file that is removed at once,
// never the command line, so no secret or value shows in `ps` or logs; the files live in
// a folder of this process (<cache_dir>/values-<pid>), and folders of processes that no
// longer run are removed at start, so a kill -9 leaves nothing behind for long.
// A release left pending by a crashed provisioner is recovered: the record of an
// interrupted first install (pending-install, or failed with nothing deployed) is deleted
// and the install runs again, adopting the objects it had created (deleting them instead
// would pull a volume from under a running pod); an interrupted uninstall is finished; a
// pending upgrade or rollback is rolled back first. The caller
// must hold the store's lease (StoreLeases), so the pending operation is never one that
// another live runner is performing.
class HelmCli final : public HelmRunner {
public:
    struct Options {
        std::string helm_binary = "helm";
        std::string kubeconfig;  // empty: in-cluster
        std::string cache_dir;   // HELM_CACHE_HOME etc.
        std::chrono::seconds timeout{120};
        // Helm's client-side OpenAPI check fetches and parses the server's whole schema on
        // every run (about 65% of Helm's CPU per install); the API server validates every
        // object anyway, and the charts are tested with server-side dry runs.
        bool openapi_validation = false;
    };
    // `kube` (optional) lets recovery drop a half-written release record instead of
    // uninstalling what the interrupted install created.
    explicit HelmCli(Options options, kube::KubeApi* kube = nullptr);

    Status UpgradeInstall(const std::string& release, const std::string& ns, const std::string& chart,
                          const std::vector<std::string>& values_files, const nlohmann::json& values,
                          const CancelToken& cancel) override;
    Status Uninstall(const std::string& release, const std::string& ns, const CancelToken& cancel) override;

private:
    struct Outcome {
        int exit_code;
        bool timed_out;
        bool cancelled;
        std::string output;
    };
    Outcome Run(std::vector<std::string> args, const CancelToken& cancel);
    Status RecoverPending(const std::string& release, const std::string& ns, const CancelToken& cancel);

    Options options_;
    kube::KubeApi* kube_;
    std::string values_dir_;
    std::vector<std::string> env_;
};

// The environment a Helm process runs with (the CLI per call, or the agent): PATH, Helm's
// folders under `cache_dir`, the kubeconfig, the in-cluster service address and Go's limits
// when this process has them. Nothing else of ours (no secret) is passed on.
std::vector<std::string> HelmEnvironment(const HelmCli::Options& options);

// Classifies Helm's error output: transient (API unavailable, conflicts, timeouts,
// another operation in progress) or permanent (a chart that does not render, values
// refused by the schema, objects the API rejects).
Error ClassifyHelmFailure(const std::string& action, const std::string& output);

}  // namespace storefleet::provisioner
