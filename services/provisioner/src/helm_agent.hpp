#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "helm.hpp"

namespace storefleet::provisioner {

// Runs Helm's SDK in one long-lived storefleet-helm-agent process (services/provisioner/
// helm-agent) instead of one Helm CLI process per call: no per-install start-up, kubeconfig
// read, API discovery or chart parse. Same results as HelmCli: the same Helm actions and
// release records (the CLI's `helm list`, `history`, `rollback` work on them), the same
// errors through ClassifyHelmFailure, the same "cancelled" error.
//
// Protocol: JSON lines over a socket on the agent's stdin/stdout; one request per call,
// answers routed by id by one reader thread, so calls run concurrently. Values travel in
// the request, never in a command line or a file. The reader thread starts the agent (its
// parent-death signal follows that thread) and forwards the agent's stderr to the log.
// If the agent dies, every waiting call fails Retryable (helm_agent_died) and the next call
// starts a new one. A release left pending (by a dead agent or a crashed provisioner) is
// recovered by the rare path of HelmCli (RecoverPending), which the agent runner keeps.
class HelmAgent final : public HelmRunner {
public:
    struct Options {
        std::string agent_binary;
        HelmCli::Options cli;  // env (kubeconfig, cache dir), timeout, OpenAPI check; the CLI recovers
    };
    explicit HelmAgent(Options options, kube::KubeApi* kube = nullptr);
    ~HelmAgent() override;
    HelmAgent(const HelmAgent&) = delete;
    HelmAgent& operator=(const HelmAgent&) = delete;

    Status UpgradeInstall(const std::string& release, const std::string& ns, const std::string& chart,
                          const std::vector<std::string>& values_files, const nlohmann::json& values,
                          const CancelToken& cancel) override;
    Status Uninstall(const std::string& release, const std::string& ns, const CancelToken& cancel) override;

    // The running agent's pid (0: none); for tests and measurements.
    pid_t AgentPid();
    // How many agents this runner has started.
    int Starts();

private:
    struct Answer {
        bool done = false;
        bool ok = false;
        bool agent_died = false;
        std::string error;
    };
    struct Outcome {
        bool ok = false;
        bool cancelled = false;
        bool timed_out = false;
        bool agent_died = false;
        std::string error;
    };
    Outcome Call(nlohmann::json request, const CancelToken& cancel);
    // Starts an agent if none runs; under mutex_. Empty: started; else why not.
    std::string EnsureRunningLocked(std::unique_lock<std::mutex>& lock);
    void ReaderLoop(int generation);
    bool Send(const std::string& line, int generation);

    Options options_;
    std::vector<std::string> env_;
    HelmCli recovery_;

    std::mutex mutex_;  // guards everything below but the socket writes
    std::condition_variable changed_;
    std::map<int64_t, std::shared_ptr<Answer>> pending_;
    int64_t next_id_ = 1;
    bool running_ = false;
    bool starting_ = false;
    bool stopping_ = false;  // the destructor runs: the agent's end is no news
    int generation_ = 0;
    int starts_ = 0;
    pid_t pid_ = 0;
    int sock_ = -1;
    std::string start_error_;
    std::thread reader_;

    std::mutex write_mutex_;  // one writer at a time on the socket
};

}  // namespace storefleet::provisioner
