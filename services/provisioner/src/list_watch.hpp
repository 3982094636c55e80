#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <string>

#include "storefleet/common/shutdown.hpp"
#include "storefleet/kube/client.hpp"

namespace storefleet::provisioner {

// One cluster-wide, label-selected list+watch of one kind, kept going until shutdown: a paged
// list, then watches from its resourceVersion, relisting after an ERROR event (410 Gone), a
// failed watch or a stalled one. Shared by ReadinessWatcher and DriftWatcher (decision 0009:
// one watch per kind, whatever the number of stores).
//
// A watch asks the server to end it after `watch_timeout`; one still open well after that
// (watch_timeout plus an eighth, at least a second) is taken for a dead connection that
// nothing will close (a peer gone without a FIN or RST) and is dropped for a relist.
struct ListWatchTarget {
    std::string kind;             // for logs and the callbacks: "deployments", "networkpolicies"
    std::string collection_path;  // "/apis/apps/v1/deployments"
    std::string selector;         // "labelSelector=..." (URL-encoded)
};

struct ListWatchHandlers {
    // A list starts: what follows replaces everything known of this kind.
    std::function<void()> list_begin;
    // Each object of the list, page by page (only what the handler keeps stays in memory).
    std::function<void(const nlohmann::json& object)> listed;
    // The list is complete.
    std::function<void()> list_end;
    // ADDED, MODIFIED or DELETED from the watch (never BOOKMARK or ERROR).
    std::function<void(const std::string& type, const nlohmann::json& object)> event;
};

// Blocks until `shutdown` fires. `log_name` prefixes its warnings ("readiness", "drift").
void RunListWatch(kube::KubeApi& kube, const ShutdownFlag& shutdown, const ListWatchTarget& target,
                  std::chrono::seconds watch_timeout, const ListWatchHandlers& handlers,
                  const std::string& log_name);

}  // namespace storefleet::provisioner
