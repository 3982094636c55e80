// Case 9: drift made while every provisioner replica is stopped (ADR 0012). Six Ready stores;
// every replica killed -9; then, in each store, as an operator with kubectl would: the
// NetworkPolicy default-deny deleted, the WordPress Deployment scaled to 0 and its image changed,
// a Service of the chart deleted and the ResourceQuota edited. The replicas start again: within 60
// s each store has its objects back, the read model shows it in sync with the repair in its reason,
// and it was repaired exactly once (one drift event in its timeline, one more Helm revision),
// whatever the number of replicas watching. The stores are made by the case, so each records the
// command it converged with (a store converged before drift repair existed could not have its
// repair ordered in its timeline).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "cases.hpp"
#include "fixture.hpp"
#include "provisioner_logs.hpp"

namespace storefleet::faults {
namespace {

constexpr int kStores = 6;
constexpr auto kRepairDeadline = std::chrono::seconds(60);

// What a store was made with, to tell that the repair put it back. (json's implicit members;
// nothing here throws on move.)
struct Made {                // NOLINT(bugprone-exception-escape)
    std::string deployment;  // the chart's first Deployment
    int64_t replicas = 1;
    std::string image;    // its first container's
    std::string service;  // the chart's first Service
    json quota_hard;      // the ResourceQuota store-quota's spec.hard
};

std::string PolicyPath(const std::string& id) {
    return "/apis/networking.k8s.io/v1/namespaces/" + NamespaceOf(id) +
           "/networkpolicies/default-deny";
}
std::string DeploymentPath(const std::string& id, const std::string& name) {
    return "/apis/apps/v1/namespaces/" + NamespaceOf(id) + "/deployments/" + name;
}
std::string ServicePath(const std::string& id, const std::string& name) {
    return "/api/v1/namespaces/" + NamespaceOf(id) + "/services/" + name;
}
std::string QuotaPath(const std::string& id) {
    return "/api/v1/namespaces/" + NamespaceOf(id) + "/resourcequotas/store-quota";
}

long MergePatch(const std::string& path, const json& patch) {
    auto reply = Kube().Call("PATCH", path, patch.dump(), "application/merge-patch+json");
    return reply.ok() ? reply->status : -1;
}

// The store's objects are as they were made: the policy exists, the Deployment has its
// replicas, the quota its plan's limits.
bool ObjectsBack(const std::string& id, const Made& made) {
    auto policy = Kube().Call("GET", PolicyPath(id), "", "");
    if (!policy.ok() || policy->status != 200) return false;
    auto deployment = Kube().Get(DeploymentPath(id, made.deployment));
    if (!deployment.ok() || (*deployment)["spec"].value("replicas", int64_t{1}) != made.replicas ||
        (*deployment)["spec"]["template"]["spec"]["containers"][0].value("image", "") != made.image)
        return false;
    auto service = Kube().Call("GET", ServicePath(id, made.service), "", "");
    if (!service.ok() || service->status != 200) return false;
    auto quota = Kube().Get(QuotaPath(id));
    return quota.ok() && (*quota)["spec"]["hard"] == made.quota_hard;
}

// The read model says the store is ready and in sync after a drift event that names the policy.
bool ReadModelRepaired(const std::string& id) {
    auto store = TheApi().GetStore(id);
    if (store.code != 200) return false;
    const json condition = store.body.value("condition", json::object());
    const std::string reason =
        store.body["reason"].is_string() ? store.body["reason"].get<std::string>() : "";
    return Status(store.body) == "ready" && condition.value("state", "") == "in_sync" &&
           reason.find("NetworkPolicy default-deny") != std::string::npos;
}

double Percentile(std::vector<double> values, double p) {
    if (values.empty()) return 0;
    std::sort(values.begin(), values.end());
    const auto rank =
        static_cast<std::size_t>(std::lround(p * static_cast<double>(values.size() - 1)));
    return values[std::min(rank, values.size() - 1)];
}

}  // namespace

void DriftMadeWhileEveryProvisionerIsStoppedIsRepairedOnce() {
    if (ProvisionerReplicas().empty()) {
        for (const char* name : {"provisioner", "provisioner-2", "provisioner-3"}) {
            auto started = Platform(std::string("start ") + name);
            ASSERT_EQ(started.rc, 0) << started.output;
        }
    }
    std::vector<std::string> ids;
    DeleteAtEnd cleanup(ids);
    for (int i = 0; i < kStores; ++i) {
        auto reply = TheApi().CreateStore("f9-" + kRun + "-" + std::to_string(i));
        ASSERT_EQ(reply.code, 202) << reply.body.dump();
        ids.push_back(reply.body.value("id", ""));
    }
    std::map<std::string, std::set<std::string>> ready;
    for (const auto& id : ids) ready[id] = {"ready"};
    auto last = WaitForStores(ready, std::chrono::seconds(180));
    std::map<std::string, Made> made;
    for (const auto& id : ids) {
        ASSERT_EQ(Status(last[id]), "ready") << "store " << id << ": " << last[id].dump();
        auto ns = Kube().Get("/api/v1/namespaces/" + NamespaceOf(id));
        ASSERT_TRUE(ns.ok());
        const json annotations = (*ns)["metadata"].value("annotations", json::object());
        ASSERT_TRUE(annotations.contains("storefleet.io/observed-command-offset"))
            << "store " << id
            << " converged without recording its command's offset: " << annotations.dump();
        auto deployments =
            Kube().Get("/apis/apps/v1/namespaces/" + NamespaceOf(id) + "/deployments");
        ASSERT_TRUE(deployments.ok() && !(*deployments)["items"].empty()) << id;
        const auto& first = (*deployments)["items"][0];
        auto quota = Kube().Get(QuotaPath(id));
        ASSERT_TRUE(quota.ok()) << id;
        auto services = Kube().Get("/api/v1/namespaces/" + NamespaceOf(id) +
                                   "/services?labelSelector=app.kubernetes.io%2Finstance%3Dstore");
        ASSERT_TRUE(services.ok() && !(*services)["items"].empty()) << id;
        made[id] = {
            first["metadata"].value("name", ""), first["spec"].value("replicas", int64_t{1}),
            first["spec"]["template"]["spec"]["containers"][0].value("image", ""),
            (*services)["items"][0]["metadata"].value("name", ""), (*quota)["spec"]["hard"]};
        // What drift judges the chart's objects against, recorded at convergence.
        ASSERT_TRUE(annotations.contains("storefleet.io/release-objects"))
            << "store " << id << " converged without its release's record";
        ASSERT_GE(made[id].replicas, 1) << id;
        ASSERT_EQ(CheckHistory(id).revisions, 1) << "store " << id << " before any drift";
    }

    const auto replicas = ProvisionerReplicas();
    ASSERT_FALSE(replicas.empty()) << "no provisioner replica running to kill";
    for (const auto& replica : replicas) {
        auto killed = Platform("kill " + replica + " -9");
        ASSERT_EQ(killed.rc, 0) << "kill -9 " << replica << ": " << killed.output;
    }
    // The drift, made while nothing watches.
    for (const auto& id : ids) {
        auto deleted = Kube().Call("DELETE", PolicyPath(id), "", "");
        ASSERT_TRUE(deleted.ok() && deleted->status == 200) << "delete default-deny in " << id;
        ASSERT_EQ(
            MergePatch(DeploymentPath(id, made[id].deployment), {{"spec", {{"replicas", 0}}}}), 200)
            << "scale " << made[id].deployment << " in " << id;
        // kubectl set image: a JSON patch of the first container's image.
        const json set_image = json::array({{{"op", "replace"},
                                             {"path", "/spec/template/spec/containers/0/image"},
                                             {"value", "registry.invalid/drift:9"}}});
        auto patched = Kube().Call("PATCH", DeploymentPath(id, made[id].deployment),
                                   set_image.dump(), "application/json-patch+json");
        ASSERT_TRUE(patched.ok() && patched->status == 200) << "set image in " << id;
        auto service = Kube().Call("DELETE", ServicePath(id, made[id].service), "", "");
        ASSERT_TRUE(service.ok() && service->status == 200)
            << "delete Service " << made[id].service << " in " << id;
        json hard = made[id].quota_hard;
        hard["pods"] = "999";
        ASSERT_NE(hard, made[id].quota_hard);
        ASSERT_EQ(MergePatch(QuotaPath(id), {{"spec", {{"hard", hard}}}}), 200)
            << "edit store-quota in " << id;
    }

    const auto restart = Clock::now();
    std::string names;
    for (const auto& replica : replicas) {
        auto started = Platform("start " + replica);
        ASSERT_EQ(started.rc, 0) << "start " << replica << ": " << started.output;
        names += (names.empty() ? "" : ", ") + replica;
    }
    std::map<std::string, double> objects_at;  // seconds from the restart
    std::map<std::string, double> read_model_at;
    PollUntil(
        [&] {
            for (const auto& id : ids) {
                const double now = Seconds(Clock::now() - restart);
                if (objects_at.count(id) == 0U && ObjectsBack(id, made[id])) objects_at[id] = now;
                if (read_model_at.count(id) == 0U && ReadModelRepaired(id)) read_model_at[id] = now;
            }
            return objects_at.size() == ids.size() && read_model_at.size() == ids.size();
        },
        kRepairDeadline);
    std::vector<double> objects_seconds;
    std::vector<double> read_model_seconds;
    for (const auto& id : ids) {
        if (objects_at.count(id) == 0U) {
            STORE_FAILURE("drift not repaired within 60 s of the restart")
                << "store " << id << ": policy, replicas or quota not back";
        } else {
            objects_seconds.push_back(objects_at[id]);
        }
        if (read_model_at.count(id) == 0U) {
            STORE_FAILURE("read model not in sync within 60 s of the restart")
                << "store " << id << ": " << TheApi().GetStore(id).body.dump();
        } else {
            read_model_seconds.push_back(read_model_at[id]);
        }
    }
    Figure("case 9 restart of [" + names + "] -> objects back, p50 / max (" +
               std::to_string(objects_seconds.size()) + "/" + std::to_string(kStores) + " stores)",
           std::to_string(Percentile(objects_seconds, 0.5)).substr(0, 4) + " / " +
               std::to_string(Percentile(objects_seconds, 1.0)).substr(0, 4) + " s");
    Figure("case 9 restart -> read model in sync with the repair, p50 / max (" +
               std::to_string(read_model_seconds.size()) + "/" + std::to_string(kStores) +
               " stores)",
           std::to_string(Percentile(read_model_seconds, 0.5)).substr(0, 4) + " / " +
               std::to_string(Percentile(read_model_seconds, 1.0)).substr(0, 4) + " s");

    // Once per store: one drift event, one repair revision.
    std::map<int, int> revision_counts;
    for (const auto& id : ids) {
        auto timeline = TheApi().Timeline(id);
        int drift_events = 0;
        std::string reasons;
        if (timeline.code == 200 && timeline.body.is_array()) {
            for (const auto& event : timeline.body) {
                if (event.value("step", json()) != "drift") continue;
                ++drift_events;
                reasons += event["reason"].is_string() ? event["reason"].get<std::string>() : "";
                reasons += " | ";
            }
        }
        if (drift_events != 1) {
            STORE_FAILURE("drift repaired other than once")
                << "store " << id << " has " << drift_events << " drift events: " << reasons;
        } else {
            std::cout << "[case 9] store " << id << ": " << reasons << "\n";
        }
        auto history = CheckHistory(id);
        ++revision_counts[history.revisions];
        if (history.revisions != 2) {
            STORE_FAILURE("Helm revisions other than the install and one repair")
                << "store " << id << " release has " << history.revisions << " revisions";
        }
        for (const auto& entry : history.unwanted) {
            STORE_FAILURE("unwanted Helm revisions") << "store " << id << ": " << entry;
        }
        if (CheckTimeline(id).duplicates != 0) {
            STORE_FAILURE("duplicate timeline events") << id;
        }
    }
    std::string revisions;
    for (const auto& [n, count] : revision_counts)
        revisions += std::to_string(count) + "x" + std::to_string(n) + " ";
    Figure("case 9 Helm revisions per store (count x revisions)", revisions);
}

}  // namespace storefleet::faults
