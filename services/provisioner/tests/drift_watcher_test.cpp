#include "drift_watcher.hpp"

#include <gtest/gtest.h>

#include "provisioner.hpp"
#include "store_lease.hpp"
#include "store_plan.hpp"
#include "storefleet/events/envelope.hpp"
#include "storefleet/events/sequence.hpp"

namespace storefleet::provisioner {
namespace {

using nlohmann::json;

const std::string kId = "123e4567-e89b-42d3-a456-426614174000";
const std::string kNs = "store-" + kId;

// No API: the tests feed the watch streams themselves.
class NoKube : public kube::KubeApi {
public:
    Result<kube::ApiResponse> Call(const std::string&, const std::string&, const std::string&,
                                   const std::string&) override {
        return Error::Permanent("unexpected", "no API in these tests");
    }
};

StoreSpec Spec(bool suspended = false) {
    StoreSpec spec;
    spec.store_id = kId;
    spec.tenant_id = "acme";
    spec.engine = "woocommerce";
    spec.plan = "small";
    spec.generation = 3;
    spec.suspended = suspended;
    return spec;
}

json Namespace(bool suspended = false, uint64_t observed = 3) {
    json ns = NamespaceObject(Spec(suspended), kNs);
    ns["metadata"]["annotations"][kObservedGenerationAnnotation] = std::to_string(observed);
    ns["metadata"]["annotations"][kObservedCommandOffsetAnnotation] = "41";
    return ns;
}

json Named(const std::string& name, json spec = json::object()) {
    return {{"metadata", {{"name", name}, {"namespace", kNs}}}, {"spec", std::move(spec)}};
}

// Lists every kind the watcher waits for: the converged store `ns` with its quota, limits,
// three policies (but `without_policy`), a Deployment "web" at one replica and a Service.
void ListEveryKind(DriftWatcher& watcher, const json& ns, const std::string& without_policy = "",
                   const json& web = Named("web", {{"replicas", 1}})) {
    const bool suspended = ns["metadata"]["annotations"].value(kSuspendedAnnotation, "") == "true";
    json policies = json::array();
    for (const auto& policy : NetworkPolicyObjects(Spec(suspended), kNs, "ingress-nginx")) {
        if (policy["metadata"]["name"] != without_policy) policies.push_back(policy);
    }
    const std::map<std::string, json> items = {
        {"namespaces", json::array({ns})},
        {"networkpolicies", policies},
        {"resourcequotas", json::array({ResourceQuotaObject(Spec(suspended), kNs)})},
        {"limitranges", json::array({LimitRangeObject(Spec(suspended), kNs)})},
        {"rolebindings", json::array()},
        {"deployments", json::array({web})},
        {"statefulsets", json::array()},
        {"services", json::array({Named("web")})},
        {"ingresses", json::array()}};
    for (const auto& [collection, objects] : items) {
        watcher.ListBegin(collection);
        for (const auto& object : objects) watcher.Listed(collection, object);
        watcher.ListEnd(collection);
    }
}

class DriftWatcherTest : public ::testing::Test {
protected:
    DriftWatcherTest() : watcher_(kube_, shutdown_, Options()) {}
    static DriftOptions Options() {
        DriftOptions options;
        options.settle = std::chrono::milliseconds(0);
        return options;
    }
    // Every kind listed once: the converged store as it was made.
    void ListStore(const json& ns) { ListEveryKind(watcher_, ns); }
    void List(const std::string& collection, const json& items) {
        watcher_.ListBegin(collection);
        for (const auto& item : items) watcher_.Listed(collection, item);
        watcher_.ListEnd(collection);
    }
    std::vector<Drift> Take() {
        std::string ns;
        std::vector<Drift> drifts;
        EXPECT_TRUE(watcher_.Next(ns, drifts));
        EXPECT_EQ(ns, kNs);
        watcher_.Done(ns);
        return drifts;
    }
    NoKube kube_;
    ShutdownFlag shutdown_;
    DriftWatcher watcher_;
};

TEST_F(DriftWatcherTest, AConvergedStoreAsItWasMadeDoesNotDrift) {
    ListStore(Namespace());
    EXPECT_FALSE(watcher_.Queued(kNs));
    EXPECT_EQ(watcher_.Stores(), std::vector<std::string>{kNs});
}

TEST_F(DriftWatcherTest, ADeletedPolicyAndAWorkloadScaledToZeroAreQueued) {
    ListStore(Namespace());
    watcher_.Event("networkpolicies", "DELETED", Named("default-deny"));
    ASSERT_TRUE(watcher_.Queued(kNs));
    watcher_.Event("deployments", "MODIFIED", Named("web", {{"replicas", 0}}));
    auto drifts = Take();
    ASSERT_EQ(drifts.size(), 2U);
    EXPECT_EQ(DriftText(drifts, DriftMode::kRepair),
              "NetworkPolicy default-deny was deleted; re-created. Deployment web was scaled to 0 "
              "while the store is not suspended; restored");
    // Re-created and scaled back (the repair, as the watches see it): nothing left.
    watcher_.Event("networkpolicies", "ADDED",
                   NetworkPolicyObjects(Spec(), kNs, "ingress-nginx")[0]);
    watcher_.Event("deployments", "MODIFIED", Named("web", {{"replicas", 1}}));
    // (Queued again by the first of the two events; Next() drops it, as nothing drifts now.)
    EXPECT_TRUE(watcher_.Current(kNs, watcher_.Record(kNs)).empty());
}

TEST_F(DriftWatcherTest, AStoreHandledIsLookedAtAgainOnlyWhenAskedOrChanged) {
    ListStore(Namespace());
    watcher_.Event("networkpolicies", "DELETED", Named("default-deny"));
    std::string ns;
    std::vector<Drift> drifts;
    ASSERT_TRUE(watcher_.Next(ns, drifts));
    watcher_.Done(ns);  // reported (warn): the drift stays, and is not looked at in a loop
    EXPECT_FALSE(watcher_.Queued(kNs));
    auto annotated = Namespace();
    annotated["metadata"]["annotations"]["example.com/note"] = "x";
    watcher_.Event("namespaces", "MODIFIED", annotated);  // something changed: again
    ASSERT_TRUE(watcher_.Queued(kNs));
    ASSERT_TRUE(watcher_.Next(ns, drifts));
    watcher_.Event("namespaces", "MODIFIED", Namespace());  // changed while a worker has it
    watcher_.Done(ns);
    ASSERT_TRUE(watcher_.Queued(kNs));
    ASSERT_TRUE(watcher_.Next(ns, drifts));
    watcher_.Done(ns, true);  // a repair failed: tried again
    EXPECT_TRUE(watcher_.Queued(kNs));
}

TEST_F(DriftWatcherTest, ASuspendedStoreAtZeroDoesNotDrift) {
    ListStore(Namespace(true));
    watcher_.Event("deployments", "MODIFIED", Named("web", {{"replicas", 0}}));
    EXPECT_FALSE(watcher_.Queued(kNs));
}

TEST_F(DriftWatcherTest, AStoreBeingConvergedOrDeletedDoesNotDrift) {
    // generation 3 started, 2 observed: a command is converging it.
    ListStore(Namespace(false, 2));
    watcher_.Event("services", "DELETED", Named("web"));
    EXPECT_FALSE(watcher_.Queued(kNs));
    // Converged, then its namespace terminates: its objects go, which is no drift.
    auto terminating = Namespace();
    terminating["metadata"]["deletionTimestamp"] = "2026-12-07T13:00:00Z";
    watcher_.Event("namespaces", "MODIFIED", terminating);
    watcher_.Event("deployments", "DELETED", Named("web"));
    EXPECT_FALSE(watcher_.Queued(kNs));
    watcher_.Event("namespaces", "DELETED", terminating);
    EXPECT_TRUE(watcher_.Stores().empty());
}

TEST_F(DriftWatcherTest, WhatARelistNoLongerHasWasDeletedWhileNoWatchRan) {
    ListStore(Namespace());
    List("services", json::array());
    auto drifts = Take();
    ASSERT_EQ(drifts.size(), 1U);
    EXPECT_EQ(drifts[0].what, "Service web was deleted");
}

TEST_F(DriftWatcherTest, NothingIsJudgedUntilEveryKindIsListed) {
    List("namespaces", json::array({Namespace()}));
    List("deployments", json::array({Named("web", {{"replicas", 0}})}));
    EXPECT_FALSE(watcher_.Queued(kNs)) << "the other kinds are not listed yet";
    EXPECT_FALSE(watcher_.Synced());
    ListStore(Namespace());
    EXPECT_TRUE(watcher_.Synced());
    EXPECT_FALSE(watcher_.Queued(kNs)) << "listed again at one replica: no drift";
}

TEST_F(DriftWatcherTest, AGuardrailTheListNeverHadIsMissing) {
    // Deleted while no provisioner ran: this one never saw it.
    ListEveryKind(watcher_, Namespace(), "default-deny");
    auto drifts = Take();
    ASSERT_EQ(drifts.size(), 1U);
    EXPECT_EQ(DriftText(drifts, DriftMode::kRepair),
              "NetworkPolicy default-deny is missing; re-created");
    EXPECT_EQ(drifts[0].field, "deleted") << "Kind/deleted rules cover it";
}

TEST_F(DriftWatcherTest, AChangedPolicyAndPodSecurityLabels) {
    ListStore(Namespace());
    auto deny = NetworkPolicyObjects(Spec(), kNs, "ingress-nginx")[0];
    deny["spec"]["ingress"] = json::array({json::object()});  // allow from anywhere
    watcher_.Event("networkpolicies", "MODIFIED", deny);
    auto relabelled = Namespace();
    relabelled["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] = "privileged";
    watcher_.Event("namespaces", "MODIFIED", relabelled);
    auto drifts = Take();
    ASSERT_EQ(drifts.size(), 2U);
    EXPECT_EQ(drifts[0].kind, "Namespace");
    EXPECT_EQ(drifts[1].what,
              "NetworkPolicy default-deny was changed (its spec is not the small "
              "plan's)");
}

TEST_F(DriftWatcherTest, AStoreInModeOffIsNeverQueuedAndIgnoreRulesHold) {
    auto off = Namespace();
    off["metadata"]["annotations"][kDriftModeAnnotation] = "off";
    ListStore(off);
    watcher_.Event("networkpolicies", "DELETED", Named("default-deny"));
    EXPECT_FALSE(watcher_.Queued(kNs));

    DriftOptions options = Options();
    options.ignore = *ParseIgnoreRules("Deployment/spec.replicas");
    DriftWatcher ignoring(kube_, shutdown_, options);
    ListEveryKind(ignoring, Namespace());
    ignoring.Event("deployments", "ADDED", Named("web", {{"replicas", 0}}));
    EXPECT_FALSE(ignoring.Queued(kNs));
    ignoring.Event("statefulsets", "ADDED", Named("db", {{"replicas", 0}}));
    EXPECT_TRUE(ignoring.Queued(kNs));
}

TEST_F(DriftWatcherTest, TheSafetyNetsFindingsJoinTheWatches) {
    ListStore(Namespace());
    const auto record = watcher_.Record(kNs);
    watcher_.Enqueue(kNs, {*DeletedDrift("Secret", kCredentialsSecret, record)});
    auto drifts = Take();
    ASSERT_EQ(drifts.size(), 1U);
    EXPECT_FALSE(IsRepairable(drifts[0]));
    EXPECT_EQ(DriftText(drifts, DriftMode::kRepair),
              "Secret store-credentials was deleted; not re-created: the store's data was "
              "initialised with its values, restore it from a backup");
    // Done() clears them: the next safety-net round finds it again if it is still so.
    EXPECT_TRUE(watcher_.Current(kNs, record).empty());
}

TEST_F(DriftWatcherTest, DriftEventsSortAfterTheirCommandAndBeforeTheNext) {
    EXPECT_GT(DriftSequence(41, 0), events::StatusSequence(41, 12, 0));
    EXPECT_GT(DriftSequence(41, 1), DriftSequence(41, 0));
    EXPECT_GT(DriftSequence(41, 300), DriftSequence(41, 299));
    EXPECT_LT(DriftSequence(41, kMaxDriftEvents + 5), events::StatusSequence(41, 0xFFF, 0));
    EXPECT_LT(DriftSequence(41, 0), static_cast<uint64_t>(events::CommandSequence(42)));
    EXPECT_EQ(watcher_.Record(kNs).command_offset, -1);
    ListStore(Namespace());
    EXPECT_EQ(watcher_.Record(kNs).command_offset, 41);
}

// The store's namespace with what its release rendered recorded for generation 3: the Deployment
// web with its container wordpress, the Service web and (unless `with_ingress` is false) the
// Ingress store.
json WithRelease(json ns, bool with_ingress = true) {
    json objects = {{"Deployment/web",
                     {{"containers",
                       {{{"name", "wordpress"},
                         {"image", "wordpress:6.4"},
                         {"resources", {{"limits", {{"memory", "512Mi"}}}}}}}}}},
                    {"Service/web", json::object()}};
    if (with_ingress) objects["Ingress/store"] = json::object();
    ns["metadata"]["annotations"][kReleaseObjectsAnnotation] =
        json{{"generation", 3}, {"objects", objects}}.dump();
    return ns;
}

// The Deployment web as the API server has it, with `image`.
json Web(const std::string& image = "wordpress:6.4") {
    return Named("web", {{"replicas", 1},
                         {"template",
                          {{"metadata", {{"annotations", json::object()}}},
                           {"spec",
                            {{"containers",
                              {{{"name", "wordpress"},
                                {"image", image},
                                {"imagePullPolicy", "IfNotPresent"},
                                {"terminationMessagePath", "/dev/termination-log"},
                                {"resources", {{"limits", {{"memory", "0.5Gi"}}}}}}}}}}}}});
}

TEST_F(DriftWatcherTest, AnObjectOfTheReleaseTheListsNeverHadIsMissing) {
    // The Ingress was deleted while no provisioner ran: nothing saw it go.
    ListEveryKind(watcher_, WithRelease(Namespace()), "", Web());
    auto drifts = Take();
    ASSERT_EQ(drifts.size(), 1U);
    EXPECT_EQ(DriftText(drifts, DriftMode::kRepair), "Ingress store is missing; re-created");
    // The provisioner's RoleBinding is expected too, when it has one.
    DriftOptions options = Options();
    options.rolebinding = "storefleet-provisioner";
    DriftWatcher bound(kube_, shutdown_, options);
    ListEveryKind(bound, WithRelease(Namespace(), false), "", Web());
    std::string ns;
    ASSERT_TRUE(bound.Next(ns, drifts));
    ASSERT_EQ(drifts.size(), 1U);
    EXPECT_EQ(drifts[0].what, "RoleBinding storefleet-provisioner is missing");
}

TEST_F(DriftWatcherTest, AnImageChangedOnAWatchedWorkloadIsQueuedARestartIsNot) {
    ListEveryKind(watcher_, WithRelease(Namespace(), false), "", Web());
    EXPECT_FALSE(watcher_.Queued(kNs)) << "defaulted fields and 0.5Gi for 512Mi are no drift";
    auto restarted = Web();
    restarted["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"] =
        "2026-12-07T18:00:00Z";
    watcher_.Event("deployments", "MODIFIED", restarted);
    EXPECT_FALSE(watcher_.Queued(kNs)) << "kubectl rollout restart";
    watcher_.Event("deployments", "MODIFIED", Web("nginx:1.27"));
    auto drifts = Take();
    ASSERT_EQ(drifts.size(), 1U);
    EXPECT_EQ(drifts[0].field, "spec.template.spec.containers[wordpress].image");
    // Put back by the repair, as the watch sees it: nothing left.
    watcher_.Event("deployments", "MODIFIED", Web());
    EXPECT_TRUE(watcher_.Current(kNs, watcher_.Record(kNs)).empty());
}

// The API a repair meets: leases created and deleted, the store namespace as `ns` (merge
// patches applied to it), every apply and access review accepted.
class RepairApi : public kube::KubeApi {  // NOLINT(bugprone-exception-escape): a test fake
public:
    Result<kube::ApiResponse> Call(const std::string& method, const std::string& path,
                                   const std::string& body, const std::string&) override {
        std::lock_guard lock(mutex);
        calls.push_back(method + " " + path.substr(0, path.find('?')));
        const std::string bare = path.substr(0, path.find('?'));
        const std::string by_name = "?fieldSelector=metadata.name%3D";
        if (method == "GET" && path.find(by_name) != std::string::npos) {
            const auto found =
                live.find(bare + "/" + path.substr(path.find(by_name) + by_name.size()));
            json items = json::array();
            if (found != live.end()) items.push_back(found->second);
            return kube::ApiResponse{200, json{{"items", items}}.dump()};
        }
        if (bare == "/api/v1/namespaces/" + kNs) {
            if (method == "PATCH") ns.merge_patch(json::parse(body));
            return kube::ApiResponse{200, ns.dump()};
        }
        if (method == "POST" && bare.find("selfsubjectaccessreviews") != std::string::npos)
            return kube::ApiResponse{201, R"({"status":{"allowed":true}})"};
        if (method == "POST") {
            auto lease = json::parse(body);
            lease["metadata"]["resourceVersion"] = "1";
            return kube::ApiResponse{201, lease.dump()};
        }
        if (method == "DELETE" || method == "PATCH")
            return kube::ApiResponse{200, body.empty() ? "{}" : body};
        return kube::ApiResponse{404, "{}"};
    }
    std::mutex mutex;
    std::vector<std::string> calls;
    json ns;
    // The store's objects as a list by name finds them: "<collection path>/<name>" -> object.
    std::map<std::string, json> live;
};

class RepairHelm : public HelmRunner {
public:
    Status UpgradeInstall(const std::string&, const std::string&, const std::string&,
                          const std::vector<std::string>&, const json&,
                          const CancelToken&) override {
        return Error::Permanent("unexpected", "a repair never installs");
    }
    Status Uninstall(const std::string&, const std::string&, const CancelToken&) override {
        return Error::Permanent("unexpected", "a repair never uninstalls");
    }
    Status Repair(const std::string& release, const std::string& ns, const CancelToken&) override {
        repairs.push_back(release + " " + ns);
        return Status::Ok();
    }
    Result<json> ReleaseManifest(const std::string&, const std::string&,
                                 const CancelToken&) override {
        ++manifests;
        return json::parse(R"({"revision": 2, "objects": [
            {"kind": "Deployment", "name": "web", "instance": "store",
             "containers": [{"name": "wordpress", "image": "wordpress:6.4"}]}]})");
    }
    std::vector<std::string> repairs;
    int manifests = 0;
};

class NoStatuses : public StatusPublisher {
public:
    Status Publish(const Command&, const StatusUpdate&, const CancelToken&) override {
        return Error::Permanent("unexpected", "a repair publishes its own events");
    }
};

class RecordingPublisher : public kafka::EventPublisher {
public:
    Status PublishAndWait(const std::vector<kafka::OutgoingMessage>& batch,
                          std::chrono::milliseconds) override {
        for (const auto& message : batch) {
            auto decoded = events::Decode(message.payload);
            if (decoded.ok()) sent.push_back(*decoded);
        }
        return Status::Ok();
    }
    std::vector<v1::Envelope> sent;
};

class DriftRepairerTest : public ::testing::Test {
protected:
    DriftRepairerTest()
        : leases_(api_, {.lease_namespace = "leases", .instance_id = "p1"}, registry_),
          provisioner_(api_, helm_, statuses_, registry_, {}),
          watcher_(api_, shutdown_, Options()) {
        api_.ns = Namespace();
        // As Feed() leaves it: default-deny gone, web at 0 (the other policies are not asked).
        api_.live[kDeployments + "/web"] = Named("web", {{"replicas", 0}});
    }
    inline static const std::string kDeployments =
        "/apis/apps/v1/namespaces/" + kNs + "/deployments";
    inline static const std::string kPolicies =
        "/apis/networking.k8s.io/v1/namespaces/" + kNs + "/networkpolicies";
    static DriftOptions Options(DriftMode mode = DriftMode::kRepair) {
        DriftOptions options;
        options.mode = mode;
        options.settle = std::chrono::milliseconds(0);
        return options;
    }
    void Feed(DriftWatcher& watcher) {
        ListEveryKind(watcher, api_.ns);
        watcher.Event("networkpolicies", "DELETED", Named("default-deny"));
        watcher.Event("deployments", "MODIFIED", Named("web", {{"replicas", 0}}));
    }
    bool Called(const std::string& call) {
        return std::find(api_.calls.begin(), api_.calls.end(), call) != api_.calls.end();
    }
    RepairApi api_;
    RepairHelm helm_;
    NoStatuses statuses_;
    RecordingPublisher publisher_;
    metrics::Registry registry_;
    ShutdownFlag shutdown_;
    StoreLeases leases_;
    StoreProvisioner provisioner_;
    DriftWatcher watcher_;
};

TEST_F(DriftRepairerTest, RepairsUnderTheLeaseAndSaysWhatItDidAfterTheConvergedCommand) {
    Feed(watcher_);
    DriftRepairer repairer(api_, watcher_, leases_, provisioner_, publisher_, registry_, shutdown_,
                           Options());
    repairer.Handle(kNs);
    EXPECT_TRUE(Called("POST /apis/coordination.k8s.io/v1/namespaces/leases/leases"));
    EXPECT_TRUE(Called("PATCH /apis/networking.k8s.io/v1/namespaces/" + kNs +
                       "/networkpolicies/default-deny"));
    EXPECT_EQ(helm_.repairs, std::vector<std::string>{"store " + kNs});
    ASSERT_EQ(publisher_.sent.size(), 1U);
    const auto& changed = publisher_.sent[0].store_status_changed();
    EXPECT_EQ(changed.status(), v1::STORE_STATUS_READY);
    EXPECT_EQ(changed.step(), "drift");
    EXPECT_EQ(changed.reason(),
              "NetworkPolicy default-deny was deleted; re-created. Deployment web was scaled to 0 "
              "while the store is not suspended; restored");
    EXPECT_EQ(changed.drift(), "") << "repaired: in sync";
    EXPECT_EQ(changed.sequence(), DriftSequence(41, 0));
    EXPECT_EQ(changed.observed_generation(), 3U);
    EXPECT_EQ(api_.ns["metadata"]["annotations"][kDriftEventsAnnotation], "1");
    EXPECT_EQ(registry_
                  .GetCounter("storefleet_provisioner_drift_total", "",
                              {{"kind", "NetworkPolicy"}, {"action", "repaired"}})
                  .Value(),
              1.0);
}

TEST_F(DriftRepairerTest, WarnReportsOnceAndTouchesNothing) {
    DriftWatcher warned(api_, shutdown_, Options(DriftMode::kWarn));
    Feed(warned);
    DriftRepairer repairer(api_, warned, leases_, provisioner_, publisher_, registry_, shutdown_,
                           Options(DriftMode::kWarn));
    repairer.Handle(kNs);
    repairer.Handle(kNs);
    EXPECT_TRUE(helm_.repairs.empty());
    EXPECT_FALSE(Called("PATCH /apis/networking.k8s.io/v1/namespaces/" + kNs +
                        "/networkpolicies/default-deny"));
    ASSERT_EQ(publisher_.sent.size(), 1U) << "the same drift is reported once";
    EXPECT_NE(
        publisher_.sent[0].store_status_changed().drift().find("not repaired (drift mode warn)"),
        std::string::npos);
}

TEST_F(DriftRepairerTest, WhatTheApiNoLongerShowsIsNotRepaired) {
    // Another replica repaired both before this one, whose watches lag, took the lease.
    Feed(watcher_);
    api_.live[kPolicies + "/default-deny"] = NetworkPolicyObjects(Spec(), kNs, "ingress-nginx")[0];
    api_.live[kDeployments + "/web"] = Named("web", {{"replicas", 1}});
    DriftRepairer repairer(api_, watcher_, leases_, provisioner_, publisher_, registry_, shutdown_,
                           Options());
    repairer.Handle(kNs);
    EXPECT_TRUE(Called("GET " + kPolicies));
    EXPECT_TRUE(helm_.repairs.empty()) << "one repair per drift, whatever the replicas";
    EXPECT_FALSE(Called("PATCH " + kPolicies + "/default-deny"));
    EXPECT_TRUE(publisher_.sent.empty());
}

TEST_F(DriftRepairerTest, AWarnedDriftIsReportedOnceByEveryReplicaTogether) {
    DriftWatcher first(api_, shutdown_, Options(DriftMode::kWarn));
    DriftWatcher second(api_, shutdown_, Options(DriftMode::kWarn));
    Feed(first);
    Feed(second);
    DriftRepairer one(api_, first, leases_, provisioner_, publisher_, registry_, shutdown_,
                      Options(DriftMode::kWarn));
    DriftRepairer other(api_, second, leases_, provisioner_, publisher_, registry_, shutdown_,
                        Options(DriftMode::kWarn));
    one.Handle(kNs);
    other.Handle(kNs);
    ASSERT_EQ(publisher_.sent.size(), 1U) << "the namespace records what was reported";
    EXPECT_EQ(api_.ns["metadata"]["annotations"][kDriftReportedAnnotation],
              DriftDigest(publisher_.sent[0].store_status_changed().drift()));
    // A command converging the store again says it is in sync: the same drift is news again.
    api_.ns.merge_patch(ObservedGenerationPatch(3, 41));
    other.Handle(kNs);
    EXPECT_EQ(publisher_.sent.size(), 2U);
}

TEST_F(DriftRepairerTest, AStoreThatStartedConvergingIsLeftToItsCommand) {
    Feed(watcher_);
    // Between the event and the lease, a command started generation 4.
    api_.ns["metadata"]["annotations"][kGenerationAnnotation] = "4";
    DriftRepairer repairer(api_, watcher_, leases_, provisioner_, publisher_, registry_, shutdown_,
                           Options());
    repairer.Handle(kNs);
    EXPECT_TRUE(helm_.repairs.empty());
    EXPECT_TRUE(publisher_.sent.empty());
}

TEST_F(DriftRepairerTest, AnImageChangedByHandIsRepairedByHelmOnceConfirmed) {
    api_.ns = WithRelease(Namespace());
    api_.live[kDeployments + "/web"] = Web("nginx:1.27");
    ListEveryKind(watcher_, api_.ns, "", Web());
    watcher_.Event("ingresses", "ADDED", Named("store"));
    watcher_.Event("deployments", "MODIFIED", Web("nginx:1.27"));
    DriftRepairer repairer(api_, watcher_, leases_, provisioner_, publisher_, registry_, shutdown_,
                           Options());
    repairer.Handle(kNs);
    EXPECT_TRUE(Called("GET " + kDeployments)) << "confirmed against the API first";
    EXPECT_EQ(helm_.repairs, std::vector<std::string>{"store " + kNs});
    ASSERT_EQ(publisher_.sent.size(), 1U);
    EXPECT_EQ(publisher_.sent[0].store_status_changed().reason(),
              "Deployment web container wordpress image was changed to \"nginx:1.27\" (the "
              "release has \"wordpress:6.4\"); restored");
    // Already put back when the lease was taken (another replica): nothing.
    api_.live[kDeployments + "/web"] = Web();
    repairer.Handle(kNs);
    EXPECT_EQ(helm_.repairs.size(), 1U);
}

TEST_F(DriftRepairerTest, TheSafetyNetRecordsTheReleaseOfAStoreConvergedWithoutIt) {
    ListEveryKind(watcher_, api_.ns, "", Web());
    DriftRepairer repairer(api_, watcher_, leases_, provisioner_, publisher_, registry_, shutdown_,
                           Options());
    EXPECT_EQ(repairer.Resync(kNs), 4) << "namespace, Secret, the agent's read and the PATCH";
    EXPECT_EQ(helm_.manifests, 1);
    const auto recorded = DriftRecordFromNamespace(api_.ns);
    ASSERT_TRUE(recorded.release.is_object());
    EXPECT_TRUE(recorded.release.contains("Deployment/web"));
    EXPECT_EQ(repairer.Resync(kNs), 2) << "recorded once";
    EXPECT_EQ(helm_.manifests, 1);
}

}  // namespace
}  // namespace storefleet::provisioner
