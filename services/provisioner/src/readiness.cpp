#include "readiness.hpp"

#include <algorithm>
#include <chrono>

#include "storefleet/common/log.hpp"

namespace storefleet::provisioner {
namespace {

using nlohmann::json;

constexpr const char* kSelector = "labelSelector=app.kubernetes.io%2Finstance%3Dstore";

bool ConditionTrue(const json& object, const std::string& type) {
    for (const auto& condition :
         object.value("status", json::object()).value("conditions", json::array())) {
        if (condition.value("type", "") == type && condition.value("status", "") == "True")
            return true;
    }
    return false;
}

std::string ConditionMessage(const json& object, const std::string& type) {
    for (const auto& condition :
         object.value("status", json::object()).value("conditions", json::array())) {
        if (condition.value("type", "") == type)
            return condition.value("message", condition.value("reason", ""));
    }
    return "";
}

}  // namespace

WorkloadState EvaluateWorkload(const std::string& kind, const json& object) {
    const auto& metadata = object.value("metadata", json::object());
    const std::string name = metadata.value("name", "");
    WorkloadState state;
    if (kind == "jobs") {
        if (ConditionTrue(object, "Failed")) {
            state.failed = true;
            state.description = "job " + name + " failed: " + ConditionMessage(object, "Failed");
        } else {
            state.ready = ConditionTrue(object, "Complete");
            state.description = "job " + name + " to complete";
        }
        return state;
    }
    const auto& status = object.value("status", json::object());
    const int want = object.value("spec", json::object()).value("replicas", 1);
    const int ready =
        status.value(kind == "deployments" ? "availableReplicas" : "readyReplicas", 0);
    const int pods = status.value("replicas", 0);
    const int updated = status.value("updatedReplicas", 0);
    const bool current = status.value("observedGeneration", 0) >= metadata.value("generation", 0);
    // Rolled out (kubectl rollout status's rule): every replica runs the current template and
    // no older pod is left. After a plan change the old pods are still available for a while.
    const bool rolled_out = updated >= want && pods <= updated;
    const std::string what = (kind == "deployments" ? "deployment " : "statefulset ") + name;
    state.ready = current && want > 0 && ready >= want && rolled_out;
    state.stopped = current && want == 0 && pods == 0;
    if (want == 0) {
        state.description = what + " (scaled to 0)";
    } else if (ready >= want && !rolled_out) {
        state.description = what + " (rolling out: " + std::to_string(updated) + "/" +
                            std::to_string(want) + " updated, " + std::to_string(pods) + " pods)";
    } else {
        state.description =
            what + " (" + std::to_string(ready) + "/" + std::to_string(want) + " ready)";
    }
    state.stop_description = what + " to stop (" + std::to_string(std::max(pods, want)) +
                             (std::max(pods, want) == 1 ? " pod" : " pods") + " left)";
    return state;
}

Result<Readiness> CombineWorkloads(const std::string& ns,
                                   const std::vector<std::pair<std::string, WorkloadState>>& states,
                                   bool suspended) {
    Readiness readiness{true, ""};
    int workloads = 0;
    auto wait_for = [&](const std::string& description) {
        if (readiness.ready) readiness.waiting_for = description;
        readiness.ready = false;
    };
    for (const auto& [kind, state] : states) {
        if (kind == "jobs") {
            if (suspended) continue;
            if (state.failed) {
                return Error::Permanent("setup_failed", state.description + " (see `kubectl -n " +
                                                            ns + " logs` of its pods)");
            }
            if (!state.ready) wait_for(state.description);
            continue;
        }
        ++workloads;
        if (suspended ? !state.stopped : !state.ready)
            wait_for(suspended ? state.stop_description : state.description);
    }
    if (workloads == 0) {
        readiness.ready = false;
        if (readiness.waiting_for.empty())
            readiness.waiting_for = "the chart's workloads to appear";
    }
    return readiness;
}

ReadinessWatcher::ReadinessWatcher(kube::KubeApi& kube, const ShutdownFlag& shutdown,
                                   std::chrono::seconds watch_timeout)
    : kube_(kube),
      shutdown_(shutdown),
      watch_timeout_(std::max(watch_timeout, std::chrono::seconds(1))) {}

ReadinessWatcher::~ReadinessWatcher() {
    for (auto& thread : threads_) {
        if (thread.joinable()) thread.join();
    }
}

void ReadinessWatcher::Start() {
    threads_.emplace_back([this] { Run("deployments", "/apis/apps/v1/deployments"); });
    threads_.emplace_back([this] { Run("statefulsets", "/apis/apps/v1/statefulsets"); });
    threads_.emplace_back([this] { Run("jobs", "/apis/batch/v1/jobs"); });
}

void ReadinessWatcher::Replace(const std::string& kind,
                               std::vector<std::pair<std::string, Entry>>&& entries) {
    std::lock_guard lock(mutex_);
    const std::string prefix = kind + "/";
    for (auto& [ns, objects] : workloads_) {
        for (auto it = objects.begin(); it != objects.end();) {
            it = it->first.rfind(prefix, 0) == 0 ? objects.erase(it) : std::next(it);
        }
    }
    for (auto& [ns, entry] : entries)
        workloads_[ns][prefix + entry.first] = std::move(entry.second);
    ++version_;
    changed_.notify_all();
}

void ReadinessWatcher::Apply(const std::string& kind, const std::string& type, const json& object) {
    const auto& metadata = object["metadata"];
    const std::string ns = metadata.value("namespace", "");
    const std::string key = kind + "/" + metadata.value("name", "");
    std::lock_guard lock(mutex_);
    if (type == "DELETED") {
        auto it = workloads_.find(ns);
        if (it != workloads_.end()) {
            it->second.erase(key);
            if (it->second.empty()) workloads_.erase(it);
        }
    } else {
        workloads_[ns][key] = EvaluateWorkload(kind, object);
    }
    ++version_;
    changed_.notify_all();
}

void ReadinessWatcher::Run(const std::string& kind, const std::string& collection_path) {
    bool counted = false;
    // Only the evaluated state is kept of each listed object.
    std::vector<std::pair<std::string, Entry>> entries;
    ListWatchHandlers handlers{
        .list_begin = [&] { entries.clear(); },
        .listed =
            [&](const json& item) {
                const auto& metadata = item["metadata"];
                entries.emplace_back(
                    metadata.value("namespace", ""),
                    Entry{metadata.value("name", ""), EvaluateWorkload(kind, item)});
            },
        .list_end =
            [&] {
                Replace(kind, std::move(entries));
                entries.clear();
                if (!counted) {
                    counted = true;
                    ++synced_kinds_;
                }
            },
        .event = [&](const std::string& type, const json& object) { Apply(kind, type, object); }};
    // Whoever else reads this kind's stream (DriftWatcher) gets it too, after this watcher.
    if (also_) {
        const ListWatchHandlers extra = also_(kind);
        auto chain0 = [](const std::function<void()>& first, const std::function<void()>& second) {
            return second ? std::function<void()>([first, second] {
                first();
                second();
            })
                          : first;
        };
        handlers.list_begin = chain0(handlers.list_begin, extra.list_begin);
        handlers.list_end = chain0(handlers.list_end, extra.list_end);
        if (extra.listed) {
            handlers.listed = [first = handlers.listed, second = extra.listed](const json& item) {
                first(item);
                second(item);
            };
        }
        if (extra.event) {
            handlers.event = [first = handlers.event, second = extra.event](const std::string& type,
                                                                            const json& object) {
                first(type, object);
                second(type, object);
            };
        }
    }
    RunListWatch(kube_, shutdown_, {kind, collection_path, kSelector}, watch_timeout_, handlers,
                 "readiness");
}

Result<Readiness> ReadinessWatcher::Check(const std::string& ns, bool suspended) {
    std::vector<std::pair<std::string, WorkloadState>> states;
    {
        std::lock_guard lock(mutex_);
        auto it = workloads_.find(ns);
        if (it != workloads_.end()) {
            for (const auto& [key, state] : it->second)
                states.emplace_back(key.substr(0, key.find('/')), state);
        }
    }
    return CombineWorkloads(ns, states, suspended);
}

void ReadinessWatcher::WaitForChange(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    const uint64_t seen = version_;
    changed_.wait_for(lock, timeout, [&] { return version_ != seen || shutdown_.Triggered(); });
}

}  // namespace storefleet::provisioner
