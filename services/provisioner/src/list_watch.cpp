#include "list_watch.hpp"

#include <algorithm>

#include "storefleet/common/log.hpp"

namespace storefleet::provisioner {

using nlohmann::json;

void RunListWatch(kube::KubeApi& kube, const ShutdownFlag& shutdown, const ListWatchTarget& target,
                  std::chrono::seconds watch_timeout, const ListWatchHandlers& handlers,
                  const std::string& log_name) {
    watch_timeout = std::max(watch_timeout, std::chrono::seconds(1));
    const std::string& kind = target.kind;
    const std::string base = target.collection_path + "?" + target.selector;
    while (!shutdown.Triggered()) {
        // Paged, and only what the handler keeps stays: a full list of thousands of objects
        // parsed at once would hold hundreds of MiB.
        std::string resource_version;
        std::string next;
        bool failed = false;
        if (handlers.list_begin) handlers.list_begin();
        do {
            auto page = kube.Get(base + "&limit=250" + (next.empty() ? "" : "&continue=" + next));
            if (!page.ok()) {
                log::Warn(log_name + " list failed; retrying",
                          {{"kind", kind}, {"error", page.error().message}});
                failed = true;
                break;
            }
            if (handlers.listed) {
                for (const auto& item : (*page)["items"]) handlers.listed(item);
            }
            const auto& list_meta = (*page)["metadata"];
            resource_version = list_meta.value("resourceVersion", "");
            next = list_meta.value("continue", "");
        } while (!next.empty());
        if (failed) {
            shutdown.WaitFor(std::chrono::seconds(1));
            continue;
        }
        if (handlers.list_end) handlers.list_end();
        bool relist = false;
        // The server ends each watch after watch_timeout; past this it is a dead stream.
        const auto stall_after = watch_timeout + std::max<std::chrono::milliseconds>(
                                                     std::chrono::seconds(1), watch_timeout / 8);
        while (!relist && !shutdown.Triggered()) {
            const std::string path = base + "&watch=1&allowWatchBookmarks=true" +
                                     "&timeoutSeconds=" + std::to_string(watch_timeout.count()) +
                                     "&resourceVersion=" + resource_version;
            const auto give_up_at = std::chrono::steady_clock::now() + stall_after;
            bool stalled = false;
            auto status = kube.Watch(
                path,
                [&](const std::string& line) {
                    auto event = json::parse(line, nullptr, false);
                    if (event.is_discarded()) return;
                    const std::string type = event.value("type", "");
                    const auto& object = event["object"];
                    if (type == "ERROR") {
                        relist = true;  // e.g. 410 Gone: our resourceVersion is too old
                        return;
                    }
                    resource_version =
                        object["metadata"].value("resourceVersion", resource_version);
                    if (type != "BOOKMARK" && handlers.event) handlers.event(type, object);
                },
                [&] {
                    if (!relist && !shutdown.Triggered() &&
                        std::chrono::steady_clock::now() >= give_up_at) {
                        stalled = true;
                        relist = true;
                    }
                    return relist || shutdown.Triggered();
                });
            if (stalled) {
                // Whatever the stream missed is unknown: start again from a list.
                log::Warn(
                    log_name + " watch still open past its timeout; dropping it and relisting",
                    {{"kind", kind}, {"timeout_s", watch_timeout.count()}});
                continue;
            }
            if (!status.ok()) {
                log::Warn(log_name + " watch failed; relisting",
                          {{"kind", kind}, {"error", status.error().message}});
                shutdown.WaitFor(std::chrono::seconds(1));
                relist = true;
            }
        }
    }
}

}  // namespace storefleet::provisioner
