#pragma once

#include <sys/types.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "helm_runner.hpp"

namespace storefleet::provisioner {

// Runs Helm's SDK in one long-lived storefleet-helm-agent process (services/provisioner/
// helm-agent): no per-install start-up, kubeconfig read, API discovery or chart parse. Its
// releases are the Helm CLI's (`helm list`, `history`, `rollback` work on them), its errors
// Helm's own text, classified by ClassifyHelmFailure; a cancel gives a "cancelled" error.
//
// Protocol: JSON lines over a socket on the agent's stdin/stdout, written down once in
// helm-agent/PROTOCOL.md. One request per call, answers routed by id by one reader thread,
// so calls run concurrently. Values travel in the request, never in a command line or a file.
// The reader thread starts the agent (its parent-death signal follows that thread) and
// forwards the agent's stderr to the log. If the agent dies, every waiting call fails
// Retryable (helm_agent_died) and the next call starts a new one. An install that meets a
// release left pending (by a dead agent or a crashed provisioner) asks the agent to recover
// it (recover_pending) and installs again; the caller holds the store's lease, so the
// pending operation is never another live runner's.
class HelmAgent final : public HelmRunner {
public:
    struct Options {
        std::string agent_binary;
        std::string kubeconfig;  // empty: in-cluster
        std::string helm_home;   // the agent's HOME and Helm's cache, config and data folders
        std::chrono::seconds timeout{120};
        // Helm's client-side OpenAPI check fetches and parses the server's whole schema (about
        // 65% of Helm's CPU per install with the CLI); the API server validates every object
        // anyway, and the charts are tested with server-side dry runs.
        bool openapi_validation = false;
    };
    explicit HelmAgent(Options options);
    ~HelmAgent() override;
    HelmAgent(const HelmAgent&) = delete;
    HelmAgent& operator=(const HelmAgent&) = delete;

    Status UpgradeInstall(const std::string& release, const std::string& ns,
                          const std::string& chart, const std::vector<std::string>& values_files,
                          const nlohmann::json& values, const CancelToken& cancel) override;
    Status Uninstall(const std::string& release, const std::string& ns,
                     const CancelToken& cancel) override;
    Status Repair(const std::string& release, const std::string& ns,
                  const CancelToken& cancel) override;
    Result<nlohmann::json> ReleaseManifest(const std::string& release, const std::string& ns,
                                           const CancelToken& cancel) override;

    // The running agent's pid (0: none); for tests and measurements.
    pid_t AgentPid();
    // How many agents this runner has started.
    int Starts();

private:
    struct Answer {  // NOLINT(bugprone-exception-escape): json's implicit members; nothing here
                     // throws on move
        bool done = false;
        bool ok = false;
        bool agent_died = false;
        std::string error;
        nlohmann::json body;  // the whole answer line
    };
    struct CallResult {  // NOLINT(bugprone-exception-escape): json's implicit members; nothing here
                         // throws on move
        bool ok = false;
        bool cancelled = false;
        bool timed_out = false;
        bool agent_died = false;
        std::string error;
        nlohmann::json body;
    };
    CallResult Call(nlohmann::json request, const CancelToken& cancel);
    // Ok, or the call's failure as an Error; `action` names it ("upgrade --install").
    static Status ToStatus(const CallResult& result, const std::string& action);
    Status RecoverPending(const std::string& release, const std::string& ns,
                          const CancelToken& cancel);
    // Starts an agent if none runs; under mutex_. Empty: started; else why not.
    std::string EnsureRunningLocked(std::unique_lock<std::mutex>& lock);
    void ReaderLoop(int generation);
    bool Send(const std::string& line, int generation);

    Options options_;
    std::vector<std::string> env_;

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

// The environment the agent runs with: PATH, Helm's folders under `helm_home`, the
// kubeconfig, the in-cluster service address and Go's limits when this process has them.
// Nothing else of ours (no secret) is passed on.
std::vector<std::string> HelmEnvironment(const HelmAgent::Options& options);

}  // namespace storefleet::provisioner
