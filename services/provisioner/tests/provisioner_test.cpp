// StoreProvisioner against in-memory fakes of the Kubernetes API, Helm and the status publisher.
#include "provisioner.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <map>
#include <mutex>

#include "storefleet/events/envelope.hpp"
#include "storefleet/events/status.hpp"

namespace storefleet::provisioner {
namespace {

using nlohmann::json;

// Stores objects by path; lists are answered from what tests put in `lists`.
class FakeKube : public kube::KubeApi {
public:
    Result<kube::ApiResponse> Call(const std::string& method, const std::string& path,
                                   const std::string& body,
                                   const std::string& content_type) override {
        std::lock_guard lock(mutex);
        calls.push_back(method + " " + path);
        const std::string bare = path.substr(0, path.find('?'));
        if (fail_next_retryable > 0) {
            --fail_next_retryable;
            return kube::ApiResponse{503, R"({"message":"etcd leader changed"})"};
        }
        if (method == "PATCH") {
            // A server-side apply or a merge patch: either one leaves what it does not name
            // (close enough to the API server for the objects these tests look at).
            if (content_type == "application/merge-patch+json" && objects.count(bare) == 0U)
                return kube::ApiResponse{404, R"({"message":"not found"})"};
            json& object = objects[bare];
            if (object.is_null()) object = json::object();
            object.merge_patch(json::parse(body));
            return kube::ApiResponse{200, object.dump()};
        }
        if (method == "POST" && bare == "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews") {
            // The RBAC cache sees a new RoleBinding after `access_denials` reviews.
            const bool allowed = access_denials <= 0;
            if (!allowed) --access_denials;
            return kube::ApiResponse{201, json{{"status", {{"allowed", allowed}}}}.dump()};
        }
        if (method == "POST") {
            auto object = json::parse(body);
            const std::string at = bare + "/" + object["metadata"]["name"].get<std::string>();
            if (objects.count(at) != 0U) return kube::ApiResponse{409, "{}"};
            objects[at] = object;
            return kube::ApiResponse{201, body};
        }
        if (method == "DELETE") {
            if (terminating_gets > 0 && bare.find("/namespaces/") != std::string::npos &&
                bare.find('/', std::string("/api/v1/namespaces/").size()) == std::string::npos) {
                return kube::ApiResponse{200, "{}"};  // held: stays, terminating
            }
            objects.erase(bare);
            return kube::ApiResponse{200, "{}"};
        }
        if (method == "GET" && terminating_gets > 0 && objects.count(bare) != 0U &&
            bare.rfind("/api/v1/namespaces/", 0) == 0 && bare.find('/', 19) == std::string::npos) {
            if (--terminating_gets == 0) {
                objects.erase(bare);
                return kube::ApiResponse{404, "{}"};
            }
            json ns = objects[bare];
            ns["metadata"]["finalizers"] = json::array({"example.com/hold"});
            ns["status"] = {
                {"phase", "Terminating"},
                {"conditions",
                 json::array({{{"type", "NamespaceFinalizersRemaining"},
                               {"status", "True"},
                               {"message",
                                "Some content in the namespace has finalizers remaining: "
                                "example.com/hold in 1 resource instances"}}})}};
            return kube::ApiResponse{200, ns.dump()};
        }
        if (lists.count(bare) != 0U)
            return kube::ApiResponse{200, json{{"items", lists[bare]}}.dump()};
        if (objects.count(bare) != 0U) return kube::ApiResponse{200, objects[bare].dump()};
        if (bare.find("/deployments") != std::string::npos ||
            bare.find("/statefulsets") != std::string::npos ||
            bare.find("/jobs") != std::string::npos) {
            return kube::ApiResponse{200, R"({"items":[]})"};
        }
        return kube::ApiResponse{404, R"({"message":"not found"})"};
    }
    std::mutex mutex;
    std::vector<std::string> calls;
    std::map<std::string, json> objects;
    std::map<std::string, json> lists;
    int fail_next_retryable = 0;
    int terminating_gets = 0;  // the store namespace stays terminating for this many GETs
    int access_denials = 0;    // SelfSubjectAccessReviews answered "not allowed" first
};

class FakeHelm : public HelmRunner {  // NOLINT(bugprone-exception-escape): a test fake
public:
    Status UpgradeInstall(const std::string& release, const std::string& ns,
                          const std::string& chart, const std::vector<std::string>& values_files,
                          const json& values, const CancelToken&) override {
        installs.push_back(release + " " + ns + " " + chart);
        last_values_files = values_files;
        last_values = values;
        return result;
    }
    Status Uninstall(const std::string& release, const std::string& ns,
                     const CancelToken&) override {
        uninstalls.push_back(release + " " + ns);
        if (on_uninstall) on_uninstall();
        return Status::Ok();
    }
    Status Repair(const std::string& release, const std::string& ns, const CancelToken&) override {
        repairs.push_back(release + " " + ns);
        return repair_result;
    }
    Result<json> ReleaseManifest(const std::string&, const std::string&,
                                 const CancelToken&) override {
        return manifest;
    }
    Result<json> manifest = Error::Permanent("unsupported", "a fake");
    std::vector<std::string> installs, uninstalls, repairs;
    std::function<void()> on_uninstall;
    Status repair_result;
    std::vector<std::string> last_values_files;
    json last_values;
    Status result;
};

class RecordingStatuses : public StatusPublisher {
public:
    Status Publish(const Command&, const StatusUpdate& update, const CancelToken&) override {
        updates.push_back(update);
        if (on_publish) on_publish(update);
        return Status::Ok();
    }
    std::vector<StatusUpdate> updates;
    std::function<void(const StatusUpdate&)> on_publish;
};

const std::string kStoreId = "123e4567-e89b-42d3-a456-426614174000";
const std::string kNs = "store-" + kStoreId;

// A command as the dispatcher hands it over, at an offset of its partition.
Command At(v1::Envelope envelope, int64_t offset = 7) { return {std::move(envelope), 0, offset}; }

v1::Envelope Requested() {
    auto envelope = events::NewEnvelope("acme", kStoreId, "corr");
    auto* r = envelope.mutable_store_requested();
    r->set_name("shop");
    r->set_engine(v1::ENGINE_WOOCOMMERCE);
    r->set_plan("small");
    r->set_host("shop.acme.example");
    events::SetTypeFromPayload(envelope);
    return envelope;
}

// The store's next generation of desired state, as intake sends it.
v1::Envelope Changed(uint64_t generation, const std::string& plan = "small", bool suspended = false,
                     bool retry = false) {
    auto envelope = events::NewEnvelope("acme", kStoreId, "corr-change");
    auto* change = envelope.mutable_store_change_requested();
    change->set_generation(generation);
    change->mutable_desired()->set_plan(plan);
    change->mutable_desired()->set_suspended(suspended);
    change->mutable_desired()->set_admin_email("owner@acme.example");
    change->set_retry(retry);
    change->set_name("shop");
    change->set_engine(v1::ENGINE_WOOCOMMERCE);
    change->set_host("shop.acme.example");
    events::SetTypeFromPayload(envelope);
    return envelope;
}

json Workload(int ready, int want = 1) {
    return {{"metadata", {{"name", "w"}, {"generation", 1}}},
            {"spec", {{"replicas", want}}},
            {"status",
             {{"observedGeneration", 1},
              {"replicas", want},
              {"updatedReplicas", want},
              {"availableReplicas", ready},
              {"readyReplicas", ready}}}};
}

json Job(const std::string& condition) {
    return {{"metadata", {{"name", "store-setup"}}},
            {"status",
             {{"conditions", json::array({{{"type", condition},
                                           {"status", "True"},
                                           {"message", "BackoffLimitExceeded"}}})}}}};
}

// Two WooCommerce versions (0.2.0 the default) and, if given, Medusa's at `medusa_dir`.
events::ChartCatalogue Charts(const std::string& medusa_dir = "") {
    nlohmann::json index = {{"engines",
                             {{"woocommerce",
                               {{"default", "0.2.0"},
                                {"versions",
                                 {{"0.1.0", {{"dir", "/charts/woocommerce-store/0.1.0"}}},
                                  {"0.2.0", {{"dir", "/charts/woocommerce-store"}}}}}}}}}};
    if (!medusa_dir.empty()) {
        index["engines"]["medusa"] = {{"default", "0.1.1"},
                                      {"versions", {{"0.1.1", {{"dir", medusa_dir}}}}}};
    }
    auto charts = events::ChartCatalogue::Parse(index);
    if (!charts.ok()) throw std::logic_error(charts.error().message);
    return *charts;
}

class ProvisionerTest : public ::testing::Test {
protected:
    ProvisionerTest() : provisioner_(kube_, helm_, statuses_, registry_, Options()) {}
    static ProvisionerOptions Options() {
        ProvisionerOptions options;
        options.charts = Charts();
        options.store_deadline = std::chrono::seconds(3);
        options.readiness_poll = std::chrono::milliseconds(10);
        options.namespace_stuck_after = std::chrono::seconds(0);
        return options;
    }
    // The store namespace as a provisioner left it: started `generation`, converged to
    // `observed` (0: no annotation).
    void RecordedStore(uint64_t generation, uint64_t observed) {
        json annotations = {{kGenerationAnnotation, std::to_string(generation)}};
        if (observed > 0) annotations[kObservedGenerationAnnotation] = std::to_string(observed);
        kube_.objects["/api/v1/namespaces/" + kNs] = {
            {"metadata", {{"name", kNs}, {"annotations", annotations}}}};
    }
    std::string Annotation(const char* key) {
        return kube_.objects["/api/v1/namespaces/" + kNs]["metadata"]["annotations"].value(key, "");
    }
    void StoppedWorkloads() {
        json stopped = {{"metadata", {{"name", "w"}, {"generation", 2}}},
                        {"spec", {{"replicas", 0}}},
                        {"status", {{"observedGeneration", 2}, {"replicas", 0}}}};
        kube_.lists["/apis/apps/v1/namespaces/" + kNs + "/deployments"] = json::array({stopped});
        kube_.lists["/apis/apps/v1/namespaces/" + kNs + "/statefulsets"] = json::array({stopped});
        kube_.lists["/apis/batch/v1/namespaces/" + kNs + "/jobs"] = json::array({Job("Complete")});
    }
    void ReadyWorkloads() {
        kube_.lists["/apis/apps/v1/namespaces/" + kNs + "/deployments"] =
            json::array({Workload(1)});
        kube_.lists["/apis/apps/v1/namespaces/" + kNs + "/statefulsets"] =
            json::array({Workload(1)});
        kube_.lists["/apis/batch/v1/namespaces/" + kNs + "/jobs"] = json::array({Job("Complete")});
    }
    std::vector<std::string> Steps() const {
        std::vector<std::string> steps;
        for (const auto& u : statuses_.updates) steps.push_back(u.step);
        return steps;
    }
    FakeKube kube_;
    FakeHelm helm_;
    RecordingStatuses statuses_;
    AdmissionPermit no_permit_{nullptr};  // admission off
    metrics::Registry registry_;
    ShutdownFlag shutdown_;
    StoreProvisioner provisioner_;
};

TEST_F(ProvisionerTest, ProvisionsEveryStepThenReportsReadyWithUrls) {
    ReadyWorkloads();
    CancelToken cancel(shutdown_);
    EXPECT_EQ(provisioner_.Provision(At(Requested()), cancel, no_permit_),
              CommandOutcome::kFinished);
    EXPECT_EQ(Steps(), (std::vector<std::string>{"namespace", "guardrails", "secret", "helm",
                                                 "readiness", "ready"}));
    const auto& last = statuses_.updates.back();
    EXPECT_EQ(last.status, v1::STORE_STATUS_READY);
    EXPECT_EQ(last.url, "http://shop.acme.example/");
    EXPECT_EQ(last.admin_url, "http://shop.acme.example/wp-admin/");
    EXPECT_EQ(kube_.objects.count("/api/v1/namespaces/" + kNs), 1U);
    EXPECT_EQ(kube_.objects.count("/api/v1/namespaces/" + kNs + "/resourcequotas/store-quota"), 1U);
    EXPECT_EQ(kube_.objects.count("/apis/networking.k8s.io/v1/namespaces/" + kNs +
                                  "/networkpolicies/default-deny"),
              1U);
    ASSERT_EQ(helm_.installs.size(), 1U);
    EXPECT_EQ(helm_.installs[0], "store " + kNs + " /charts/woocommerce-store");
    EXPECT_EQ(helm_.last_values["host"], "shop.acme.example");
    // Not pinned (a create from before pinning): the engine's default, said on every status.
    for (const auto& update : statuses_.updates) EXPECT_EQ(update.chart_version, "0.2.0");
}

TEST_F(ProvisionerTest, APinnedChartVersionIsTheOneInstalledAndReported) {
    ReadyWorkloads();
    auto command = Requested();
    command.mutable_store_requested()->set_chart_version("0.1.0");
    CancelToken cancel(shutdown_);
    ASSERT_EQ(provisioner_.Provision(At(command), cancel, no_permit_), CommandOutcome::kFinished);
    ASSERT_EQ(helm_.installs.size(), 1U);
    EXPECT_EQ(helm_.installs[0], "store " + kNs + " /charts/woocommerce-store/0.1.0");
    EXPECT_EQ(statuses_.updates.back().status, v1::STORE_STATUS_READY);
    EXPECT_EQ(statuses_.updates.back().chart_version, "0.1.0");
}

TEST_F(ProvisionerTest, AChartVersionThePlatformDoesNotHaveFailsInPlainWordsBeforeAnyWrite) {
    auto command = Requested();
    command.mutable_store_requested()->set_chart_version("9.9.9");
    CancelToken cancel(shutdown_);
    ASSERT_EQ(provisioner_.Provision(At(command), cancel, no_permit_), CommandOutcome::kFinished);
    EXPECT_EQ(statuses_.updates.back().status, v1::STORE_STATUS_FAILED);
    EXPECT_EQ(statuses_.updates.back().reason,
              "woocommerce chart version 9.9.9 is not installed on this platform (it has 0.1.0, "
              "0.2.0)");
    EXPECT_TRUE(helm_.installs.empty());
    EXPECT_EQ(kube_.objects.count("/api/v1/namespaces/" + kNs + "/resourcequotas/store-quota"), 0U);
}

const ProvisionerIdentity kIdentity{"storefleet-system", "storefleet-provisioner",
                                    "storefleet-provisioner-store"};
const std::string kBinding =
    "/apis/rbac.authorization.k8s.io/v1/namespaces/" + kNs + "/rolebindings/storefleet-provisioner";
const std::string kReview = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews";

TEST_F(ProvisionerTest, BindsItsStoreRoleRightAfterTheNamespaceAndBeforeAnythingElse) {
    ReadyWorkloads();
    ProvisionerOptions options = Options();
    options.identity = kIdentity;
    StoreProvisioner provisioner(kube_, helm_, statuses_, registry_, options);
    kube_.access_denials = 3;  // the authorizer's cache lags three reviews behind
    CancelToken cancel(shutdown_);
    EXPECT_EQ(provisioner.Provision(At(Requested()), cancel, no_permit_),
              CommandOutcome::kFinished);
    EXPECT_EQ(statuses_.updates.back().status, v1::STORE_STATUS_READY);
    ASSERT_EQ(kube_.objects.count(kBinding), 1U);
    EXPECT_EQ(kube_.objects[kBinding]["roleRef"]["name"], "storefleet-provisioner-store");
    EXPECT_EQ(kube_.objects[kBinding]["subjects"][0]["namespace"], "storefleet-system");
    // Order: the namespace, its RoleBinding, reviews until allowed, and only then the rest.
    std::vector<std::string> head;
    for (size_t i = 0; i < 8 && i < kube_.calls.size(); ++i)
        head.push_back(kube_.calls[i].substr(0, kube_.calls[i].find('?')));
    EXPECT_EQ(head, (std::vector<std::string>{
                        "GET /api/v1/namespaces/" + kNs, "PATCH /api/v1/namespaces/" + kNs,
                        "PATCH " + kBinding, "POST " + kReview, "POST " + kReview,
                        "POST " + kReview, "POST " + kReview,
                        "PATCH /api/v1/namespaces/" + kNs + "/resourcequotas/store-quota"}));
}

TEST_F(ProvisionerTest, WithoutAnIdentityItBindsNothing) {
    ReadyWorkloads();
    CancelToken cancel(shutdown_);
    EXPECT_EQ(provisioner_.Provision(At(Requested()), cancel, no_permit_),
              CommandOutcome::kFinished);
    EXPECT_EQ(kube_.objects.count(kBinding), 0U);
    for (const auto& call : kube_.calls)
        EXPECT_EQ(call.find("selfsubjectaccessreviews"), std::string::npos) << call;
}

TEST_F(ProvisionerTest, ARoleBindingThatNeverTakesEffectFailsTheStoreInBoundedTime) {
    ProvisionerOptions options = Options();
    options.identity = kIdentity;
    options.access_wait = std::chrono::milliseconds(300);
    StoreProvisioner provisioner(kube_, helm_, statuses_, registry_, options);
    kube_.access_denials = 1'000'000;
    CancelToken cancel(shutdown_);
    const auto started = std::chrono::steady_clock::now();
    EXPECT_EQ(provisioner.Provision(At(Requested()), cancel, no_permit_),
              CommandOutcome::kFinished);
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(2));
    EXPECT_EQ(statuses_.updates.back().status, v1::STORE_STATUS_FAILED);
    EXPECT_NE(statuses_.updates.back().reason.find("not allowed"), std::string::npos)
        << statuses_.updates.back().reason;
    EXPECT_TRUE(helm_.installs.empty());
    EXPECT_EQ(kube_.objects.count("/api/v1/namespaces/" + kNs + "/resourcequotas/store-quota"), 0U);
}

TEST_F(ProvisionerTest, DeletionBindsItsRoleBeforeUninstallingAStoreMadeWithoutOne) {
    kube_.objects["/api/v1/namespaces/" + kNs] = {{"metadata", {{"name", kNs}}}};
    ProvisionerOptions options = Options();
    options.identity = kIdentity;
    StoreProvisioner provisioner(kube_, helm_, statuses_, registry_, options);
    auto deletion = events::NewEnvelope("acme", kStoreId, "corr");
    deletion.mutable_store_deletion_requested();
    events::SetTypeFromPayload(deletion);
    CancelToken cancel(shutdown_);
    EXPECT_EQ(provisioner.Deprovision(At(deletion), cancel), CommandOutcome::kFinished);
    EXPECT_EQ(helm_.uninstalls.size(), 1U);
    const auto bound = std::find_if(
        kube_.calls.begin(), kube_.calls.end(),
        [](const std::string& call) { return call.rfind("PATCH " + kBinding + "?", 0) == 0; });
    ASSERT_NE(bound, kube_.calls.end());
    EXPECT_EQ(kube_.objects.count(kBinding), 1U);
    EXPECT_EQ(statuses_.updates.back().status, v1::STORE_STATUS_DELETED);
}

TEST_F(ProvisionerTest, PlacementRealNodeLayersTheChartsRealNodeValuesFirst) {
    ReadyWorkloads();
    ProvisionerOptions options = Options();
    options.charts = Charts(STOREFLEET_SOURCE_DIR "/charts/medusa-store");
    options.real_node = true;
    StoreProvisioner provisioner(kube_, helm_, statuses_, registry_, options);
    auto command = Requested();
    command.mutable_store_requested()->set_engine(v1::ENGINE_MEDUSA);
    command.mutable_store_requested()->set_placement("real-node");
    CancelToken cancel(shutdown_);
    EXPECT_EQ(provisioner.Provision(At(command), cancel, no_permit_), CommandOutcome::kFinished);
    EXPECT_EQ(statuses_.updates.back().status, v1::STORE_STATUS_READY);
    EXPECT_EQ(helm_.last_values_files,
              (std::vector<std::string>{STOREFLEET_SOURCE_DIR
                                        "/charts/medusa-store/values-real-node.yaml"}));
}

TEST_F(ProvisionerTest, PlacementRealNodeFailsInPlainWordsWhereItCannotBeHad) {
    ReadyWorkloads();
    auto command = Requested();
    command.mutable_store_requested()->set_placement("real-node");
    CancelToken cancel(shutdown_);
    // This platform has no real node.
    EXPECT_EQ(provisioner_.Provision(At(command), cancel, no_permit_), CommandOutcome::kFinished);
    EXPECT_EQ(statuses_.updates.back().status, v1::STORE_STATUS_FAILED);
    EXPECT_EQ(statuses_.updates.back().reason,
              "this platform has no real node; ask for placement any");
    // It has one, but the WooCommerce chart cannot run there.
    ProvisionerOptions options = Options();
    options.real_node = true;
    StoreProvisioner provisioner(kube_, helm_, statuses_, registry_, options);
    EXPECT_EQ(provisioner.Provision(At(command, 8), cancel, no_permit_), CommandOutcome::kFinished);
    EXPECT_EQ(statuses_.updates.back().status, v1::STORE_STATUS_FAILED);
    EXPECT_EQ(statuses_.updates.back().reason, "woocommerce stores cannot run on the real node");
    EXPECT_TRUE(helm_.installs.empty());
}

TEST_F(ProvisionerTest, ARetryRunsEveryStepAgainAndKeepsTheFirstCredentials) {
    ReadyWorkloads();
    CancelToken cancel(shutdown_);
    provisioner_.Provision(At(Requested()), cancel, no_permit_);
    const auto secret_path = "/api/v1/namespaces/" + kNs + "/secrets/store-credentials";
    const auto first = kube_.objects.at(secret_path)["stringData"]["db-password"];
    statuses_.updates.clear();
    EXPECT_EQ(provisioner_.Provision(At(Changed(1, "small", false, /*retry=*/true), 8), cancel,
                                     no_permit_),
              CommandOutcome::kFinished);
    EXPECT_EQ(kube_.objects.at(secret_path)["stringData"]["db-password"], first);
    EXPECT_EQ(helm_.installs.size(), 2U)
        << "a retry runs Helm again (the agent skips it if unchanged)";
    ASSERT_FALSE(statuses_.updates.empty());
    EXPECT_EQ(statuses_.updates.back().status, v1::STORE_STATUS_READY);
    EXPECT_EQ(statuses_.updates.back().observed_generation, 1U);
}

// ADR 0011: the store namespace records the generation started and the one converged to;
// observed-generation is written only after Ready went out, so a crash between the two runs
// the command again rather than losing its status.
// Drift repair (ADR 0012): the RoleBinding first, then only what drifted: guardrails for a
// deleted policy, the agent's repair for a chart object, nothing for the credentials Secret.
TEST_F(ProvisionerTest, RepairDriftReappliesWhatDriftedAndOnlyThat) {
    ProvisionerOptions options = Options();
    options.identity = kIdentity;
    StoreProvisioner provisioner(kube_, helm_, statuses_, registry_, options);
    StoreSpec spec;
    spec.store_id = kStoreId;
    spec.tenant_id = "acme";
    spec.engine = "woocommerce";
    spec.plan = "medium";
    spec.generation = 2;
    json ns = NamespaceObject(spec, kNs);
    ns["metadata"]["annotations"][kObservedGenerationAnnotation] = "2";
    const DriftRecord record = DriftRecordFromNamespace(ns);
    ASSERT_TRUE(record.converged);
    CancelToken cancel(shutdown_);
    const std::string policy =
        "/apis/networking.k8s.io/v1/namespaces/" + kNs + "/networkpolicies/default-deny";
    const std::string binding =
        "/apis/rbac.authorization.k8s.io/v1/namespaces/" + kNs + "/rolebindings/" + kIdentity.name;

    ASSERT_TRUE(
        provisioner
            .RepairDrift(record, {*DeletedDrift("NetworkPolicy", "default-deny", record)}, cancel)
            .ok());
    EXPECT_EQ(kube_.objects.count(policy), 1U);
    EXPECT_EQ(kube_.objects.count(binding), 1U);
    EXPECT_EQ(kube_.objects["/api/v1/namespaces/" + kNs + "/resourcequotas/store-quota"]["spec"]
                           ["hard"]["requests.cpu"],
              "2")
        << "at the recorded plan";
    EXPECT_TRUE(helm_.repairs.empty());

    kube_.objects.clear();
    ASSERT_TRUE(provisioner
                    .RepairDrift(record,
                                 WorkloadDrift(
                                     "Deployment",
                                     {{"metadata", {{"name", "web"}}}, {"spec", {{"replicas", 0}}}},
                                     [&] {
                                         auto running = record;
                                         running.suspended = false;
                                         return running;
                                     }()),
                                 cancel)
                    .ok());
    EXPECT_EQ(helm_.repairs, std::vector<std::string>{"store " + kNs});
    EXPECT_EQ(kube_.objects.count(policy), 0U) << "guardrails untouched";

    helm_.repairs.clear();
    kube_.objects.clear();
    ASSERT_TRUE(
        provisioner
            .RepairDrift(record, {*DeletedDrift("Secret", kCredentialsSecret, record)}, cancel)
            .ok());
    EXPECT_TRUE(helm_.repairs.empty());
    EXPECT_EQ(kube_.objects.count("/api/v1/namespaces/" + kNs + "/secrets/" + kCredentialsSecret),
              0U)
        << "never re-created with new values";

    helm_.repair_result = Error::Permanent("helm_failed", "REPAIR FAILED: not deployed");
    EXPECT_FALSE(
        provisioner.RepairDrift(record, {*DeletedDrift("Service", "web", record)}, cancel).ok());
}

TEST_F(ProvisionerTest, ConvergenceRecordsWhatTheReleaseRenderedForDrift) {
    ReadyWorkloads();
    helm_.manifest = json::parse(R"({"revision": 1, "objects": [
        {"kind": "Deployment", "name": "web", "instance": "store",
         "containers": [{"name": "wordpress", "image": "wordpress:6.4"}]},
        {"kind": "Secret", "name": "salts", "instance": "store"}]})");
    CancelToken cancel(shutdown_);
    ASSERT_EQ(provisioner_.Provision(At(Requested()), cancel, no_permit_),
              CommandOutcome::kFinished);
    const auto recorded = json::parse(Annotation(kReleaseObjectsAnnotation), nullptr, false);
    ASSERT_TRUE(recorded.is_object()) << Annotation(kReleaseObjectsAnnotation);
    EXPECT_EQ(recorded["generation"], 1) << "recorded with the observed generation";
    EXPECT_EQ(recorded["objects"]["Deployment/web"]["containers"][0]["image"], "wordpress:6.4");
    EXPECT_FALSE(recorded["objects"].contains("Secret/salts"));
}

TEST_F(ProvisionerTest, ACreateRecordsItsGenerationAndAfterReadyItsObservedGeneration) {
    ReadyWorkloads();
    std::string observed_when_ready = "unset";
    statuses_.on_publish = [&](const StatusUpdate& update) {
        if (update.status == v1::STORE_STATUS_READY) {
            observed_when_ready = Annotation(kObservedGenerationAnnotation);
        }
        if (update.step == "guardrails") {
            EXPECT_EQ(Annotation(kGenerationAnnotation), "1") << "written at the namespace step";
        }
    };
    CancelToken cancel(shutdown_);
    EXPECT_EQ(provisioner_.Provision(At(Requested()), cancel, no_permit_),
              CommandOutcome::kFinished);
    EXPECT_EQ(statuses_.updates.back().status, v1::STORE_STATUS_READY);
    EXPECT_EQ(statuses_.updates.back().observed_generation, 1U);
    EXPECT_EQ(observed_when_ready, "") << "not recorded before Ready was published";
    EXPECT_EQ(Annotation(kGenerationAnnotation), "1");
    EXPECT_EQ(Annotation(kObservedGenerationAnnotation), "1");
    // What drift checks and drift events need (ADR 0012): the desired suspended flag, and the
    // offset of the command the store converged with, its drift events counted from 0.
    EXPECT_EQ(Annotation(kSuspendedAnnotation), "false");
    EXPECT_EQ(Annotation(kObservedCommandOffsetAnnotation), "7");
    EXPECT_EQ(Annotation(kDriftEventsAnnotation), "0");
    for (const auto& update : statuses_.updates) {
        if (update.status != v1::STORE_STATUS_READY) {
            EXPECT_EQ(update.observed_generation, 0U);
        }
    }
}

TEST_F(ProvisionerTest, AReplayOfAConvergedCommandWritesAndEmitsNothing) {
    ReadyWorkloads();
    CancelToken cancel(shutdown_);
    provisioner_.Provision(At(Requested()), cancel, no_permit_);
    statuses_.updates.clear();
    kube_.calls.clear();
    EXPECT_EQ(provisioner_.Provision(At(Requested()), cancel, no_permit_),
              CommandOutcome::kFinished);
    EXPECT_TRUE(statuses_.updates.empty());
    EXPECT_EQ(kube_.calls, (std::vector<std::string>{"GET /api/v1/namespaces/" + kNs}))
        << "one GET is all a converged replay costs";
    EXPECT_EQ(helm_.installs.size(), 1U);
}

TEST_F(ProvisionerTest, AStaleCommandWritesAndEmitsNothing) {
    ReadyWorkloads();
    RecordedStore(/*generation=*/3, /*observed=*/2);
    CancelToken cancel(shutdown_);
    // The create and a change older than the one started: both stale, the change even though
    // generation 3 has not converged yet; a retry of it too.
    for (const auto& command :
         {Requested(), Changed(2, "large"), Changed(2, "large", false, true)}) {
        kube_.calls.clear();
        EXPECT_EQ(provisioner_.Provision(At(command), cancel, no_permit_),
                  CommandOutcome::kFinished);
        EXPECT_EQ(kube_.calls.size(), 1U) << command.type();
    }
    EXPECT_TRUE(statuses_.updates.empty());
    EXPECT_TRUE(helm_.installs.empty());
    EXPECT_EQ(Annotation(kGenerationAnnotation), "3");
}

TEST_F(ProvisionerTest, AnInterruptedConvergenceRunsAgainWithoutARetry) {
    ReadyWorkloads();
    RecordedStore(/*generation=*/2, /*observed=*/1);  // generation 2 started, never converged
    CancelToken cancel(shutdown_);
    EXPECT_EQ(provisioner_.Provision(At(Changed(2, "medium")), cancel, no_permit_),
              CommandOutcome::kFinished);
    EXPECT_EQ(helm_.installs.size(), 1U);
    EXPECT_EQ(statuses_.updates.back().status, v1::STORE_STATUS_READY);
    EXPECT_EQ(Annotation(kObservedGenerationAnnotation), "2");
}

TEST_F(ProvisionerTest, AConvergedGenerationRunsAgainOnlyWhenRetried) {
    ReadyWorkloads();
    RecordedStore(2, 2);
    CancelToken cancel(shutdown_);
    EXPECT_EQ(provisioner_.Provision(At(Changed(2, "medium")), cancel, no_permit_),
              CommandOutcome::kFinished);
    EXPECT_TRUE(helm_.installs.empty());
    EXPECT_EQ(provisioner_.Provision(At(Changed(2, "medium", false, true), 8), cancel, no_permit_),
              CommandOutcome::kFinished);
    EXPECT_EQ(helm_.installs.size(), 1U);
    EXPECT_EQ(statuses_.updates.back().observed_generation, 2U);
}

// A change re-applies the guardrails at the new plan's sizes and upgrades the chart with the
// plan and `suspended`; a suspended store converges when every workload is at zero.
TEST_F(ProvisionerTest, AChangeAppliesThePlanAndSuspendsTheStore) {
    StoppedWorkloads();
    RecordedStore(1, 1);
    CancelToken cancel(shutdown_);
    EXPECT_EQ(
        provisioner_.Provision(At(Changed(2, "large", /*suspended=*/true)), cancel, no_permit_),
        CommandOutcome::kFinished);
    ASSERT_FALSE(statuses_.updates.empty());
    const auto& last = statuses_.updates.back();
    EXPECT_EQ(last.status, v1::STORE_STATUS_SUSPENDED);
    EXPECT_EQ(last.step, "suspended");
    EXPECT_EQ(last.observed_generation, 2U);
    EXPECT_EQ(helm_.last_values["plan"], "large");
    EXPECT_EQ(helm_.last_values["suspended"], true);
    EXPECT_EQ(helm_.last_values["adminEmail"], "owner@acme.example");
    EXPECT_EQ(kube_.objects["/api/v1/namespaces/" + kNs + "/resourcequotas/store-quota"]["spec"]
                           ["hard"]["requests.cpu"],
              "4");
    EXPECT_EQ(Annotation(kGenerationAnnotation), "2");
    EXPECT_EQ(Annotation(kObservedGenerationAnnotation), "2");
}

TEST_F(ProvisionerTest, ASuspendedStoreWaitsUntilItsPodsAreGone) {
    ReadyWorkloads();  // still running: the upgrade has not scaled them down
    RecordedStore(1, 1);
    CancelToken cancel(shutdown_);
    EXPECT_EQ(provisioner_.Provision(At(Changed(2, "small", true)), cancel, no_permit_),
              CommandOutcome::kFinished);
    const auto& last = statuses_.updates.back();
    EXPECT_EQ(last.status, v1::STORE_STATUS_DEGRADED);
    EXPECT_NE(last.reason.find("did not stop in time"), std::string::npos) << last.reason;
    EXPECT_NE(last.reason.find("to stop (1 pod left)"), std::string::npos) << last.reason;
    EXPECT_EQ(Annotation(kObservedGenerationAnnotation), "1") << "not converged";
}

TEST_F(ProvisionerTest, AFailedChangeOfAConvergedStoreIsDegradedNotFailed) {
    ReadyWorkloads();
    RecordedStore(1, 1);
    helm_.result = Error::Permanent("helm_failed", "UPGRADE FAILED: raw Helm text");
    CancelToken cancel(shutdown_);
    EXPECT_EQ(provisioner_.Provision(At(Changed(2, "medium")), cancel, no_permit_),
              CommandOutcome::kFinished);
    const auto& last = statuses_.updates.back();
    EXPECT_EQ(last.status, v1::STORE_STATUS_DEGRADED);
    EXPECT_EQ(last.step, "degraded");
    EXPECT_EQ(last.reason.find("raw Helm text"), std::string::npos) << last.reason;
    EXPECT_NE(last.reason.find("keeps running as it was"), std::string::npos) << last.reason;
    EXPECT_TRUE(kube_.objects.count("/api/v1/namespaces/" + kNs) != 0U) << "nothing torn down";
    EXPECT_EQ(Annotation(kGenerationAnnotation), "2");
    EXPECT_EQ(Annotation(kObservedGenerationAnnotation), "1");
}

TEST_F(ProvisionerTest, AFailedChangeOfAStoreThatNeverConvergedIsFailed) {
    ReadyWorkloads();
    RecordedStore(1, 0);  // its create failed
    helm_.result = Error::Permanent("helm_failed", "UPGRADE FAILED");
    CancelToken cancel(shutdown_);
    provisioner_.Provision(At(Changed(2, "medium")), cancel, no_permit_);
    EXPECT_EQ(statuses_.updates.back().status, v1::STORE_STATUS_FAILED);
    // A retry of a failed create is generation 1: Failed again, never Degraded.
    RecordedStore(1, 0);
    provisioner_.Provision(At(Changed(1, "small", false, true), 8), cancel, no_permit_);
    EXPECT_EQ(statuses_.updates.back().status, v1::STORE_STATUS_FAILED);
}

TEST_F(ProvisionerTest, AGivenUpChangeOfAConvergedStoreIsReportedDegraded) {
    RecordedStore(2, 1);
    CancelToken cancel(shutdown_);
    ASSERT_TRUE(provisioner_.ReportGivenUp(At(Changed(2, "medium")), 5, cancel).ok());
    EXPECT_EQ(statuses_.updates.back().status, v1::STORE_STATUS_DEGRADED);
    EXPECT_NE(statuses_.updates.back().reason.find("5 times"), std::string::npos);
}

TEST_F(ProvisionerTest, RetriesTransientApiErrors) {
    ReadyWorkloads();
    kube_.fail_next_retryable = 2;
    CancelToken cancel(shutdown_);
    EXPECT_EQ(provisioner_.Provision(At(Requested()), cancel, no_permit_),
              CommandOutcome::kFinished);
    EXPECT_EQ(statuses_.updates.back().status, v1::STORE_STATUS_READY);
}

TEST_F(ProvisionerTest, PermanentHelmFailureEndsInFailedWithTheReason) {
    helm_.result = Error::Permanent("helm_failed",
                                    "helm upgrade --install failed: values don't meet the schema");
    CancelToken cancel(shutdown_);
    EXPECT_EQ(provisioner_.Provision(At(Requested()), cancel, no_permit_),
              CommandOutcome::kFinished);
    EXPECT_EQ(statuses_.updates.back().status, v1::STORE_STATUS_FAILED);
    EXPECT_EQ(statuses_.updates.back().reason.find("schema"), std::string::npos)
        << "Helm's text stays in the log";
    EXPECT_EQ(statuses_.updates.back().reason,
              "installing the store's software failed (step helm); the platform's operators have "
              "the details in "
              "its logs");
}

TEST(TenantReasonTest, PlainWordsForPlatformErrorsOurOwnSentencesKept) {
    EXPECT_EQ(
        TenantReason(Error::Permanent("k8s_forbidden", "secrets is forbidden: User \"system:...\""),
                     "secret")
            .find("system:"),
        std::string::npos);
    EXPECT_EQ(
        TenantReason(Error::Permanent("not_ready", "still waiting for deployment w (0/1 ready)"),
                     "readiness"),
        "still waiting for deployment w (0/1 ready)");
    EXPECT_NE(
        TenantReason(Error::Permanent("deadline", "raw"), "guardrails").find("step guardrails"),
        std::string::npos);
}

TEST_F(ProvisionerTest, FailedSetupJobFailsTheStore) {
    ReadyWorkloads();
    kube_.lists["/apis/batch/v1/namespaces/" + kNs + "/jobs"] = json::array({Job("Failed")});
    CancelToken cancel(shutdown_);
    provisioner_.Provision(At(Requested()), cancel, no_permit_);
    EXPECT_EQ(statuses_.updates.back().status, v1::STORE_STATUS_FAILED);
    EXPECT_NE(statuses_.updates.back().reason.find("job store-setup failed"), std::string::npos);
}

TEST_F(ProvisionerTest, NotReadyBeforeTheDeadlineSaysWhatItWaitedFor) {
    kube_.lists["/apis/apps/v1/namespaces/" + kNs + "/deployments"] = json::array({Workload(0)});
    CancelToken cancel(shutdown_);
    provisioner_.Provision(At(Requested()), cancel, no_permit_);
    EXPECT_EQ(statuses_.updates.back().status, v1::STORE_STATUS_FAILED);
    EXPECT_NE(statuses_.updates.back().reason.find("deployment w (0/1 ready)"), std::string::npos)
        << statuses_.updates.back().reason;
}

TEST_F(ProvisionerTest, SupersededProvisioningStopsWithoutAStatus) {
    kube_.lists["/apis/apps/v1/namespaces/" + kNs + "/deployments"] = json::array({Workload(0)});
    CancelToken cancel(shutdown_);
    cancel.Supersede();
    EXPECT_EQ(provisioner_.Provision(At(Requested()), cancel, no_permit_),
              CommandOutcome::kCancelled);
    for (const auto& u : statuses_.updates) EXPECT_NE(u.status, v1::STORE_STATUS_FAILED);
}

TEST_F(ProvisionerTest, DeprovisionUninstallsAndWaitsForTheNamespaceToGo) {
    ReadyWorkloads();
    CancelToken cancel(shutdown_);
    provisioner_.Provision(At(Requested()), cancel, no_permit_);
    statuses_.updates.clear();
    auto deletion = events::NewEnvelope("acme", kStoreId, "corr2");
    deletion.mutable_store_deletion_requested();
    // Marked deleting before Helm removes anything, so the drift watch leaves it alone.
    std::string deleting_at_uninstall;
    helm_.on_uninstall = [&] { deleting_at_uninstall = Annotation(kDeletingAnnotation); };
    EXPECT_EQ(provisioner_.Deprovision(At(deletion), cancel), CommandOutcome::kFinished);
    EXPECT_EQ(helm_.uninstalls.size(), 1U);
    EXPECT_EQ(deleting_at_uninstall, "true");
    EXPECT_EQ(kube_.objects.count("/api/v1/namespaces/" + kNs), 0U);
    EXPECT_EQ(Steps(), (std::vector<std::string>{"helm-uninstall", "namespace", "deleted"}));
    EXPECT_EQ(statuses_.updates.back().status, v1::STORE_STATUS_DELETED);
}

// A tenant hears that its deletion is held up, in plain words: what holds the namespace is
// API-server text naming platform internals (finalizers, resource kinds), kept for the
// operators' log.
TEST_F(ProvisionerTest, ADeletionHeldUpSaysSoInPlainWordsAndEndsWhenTheNamespaceIsGone) {
    ReadyWorkloads();
    CancelToken cancel(shutdown_);
    provisioner_.Provision(At(Requested()), cancel, no_permit_);
    statuses_.updates.clear();
    kube_.terminating_gets = 4;
    auto deletion = events::NewEnvelope("acme", kStoreId, "corr2");
    deletion.mutable_store_deletion_requested();
    EXPECT_EQ(provisioner_.Deprovision(At(deletion, 9), cancel), CommandOutcome::kFinished);
    bool reported = false;
    for (const auto& update : statuses_.updates) {
        EXPECT_EQ(update.reason.find("example.com/hold"), std::string::npos)
            << "raw API text: " << update.reason;
        if (update.reason.find("still being removed") != std::string::npos) {
            reported = true;
            EXPECT_EQ(update.status, v1::STORE_STATUS_DELETING);
            EXPECT_EQ(update.step, "namespace");
            EXPECT_GT(update.sub, 0U) << "a progress report orders after the step itself";
        }
    }
    EXPECT_TRUE(reported) << "the tenant is told the deletion is held up";
    EXPECT_EQ(statuses_.updates.back().status, v1::STORE_STATUS_DELETED);
}

TEST_F(ProvisionerTest, ADeletionStuckPastTheDeadlineFailsInPlainWords) {
    ReadyWorkloads();
    CancelToken cancel(shutdown_);
    provisioner_.Provision(At(Requested()), cancel, no_permit_);
    statuses_.updates.clear();
    kube_.terminating_gets = 1'000'000;
    auto deletion = events::NewEnvelope("acme", kStoreId, "corr2");
    deletion.mutable_store_deletion_requested();
    EXPECT_EQ(provisioner_.Deprovision(At(deletion), cancel), CommandOutcome::kFinished);
    ASSERT_FALSE(statuses_.updates.empty());
    const auto& last = statuses_.updates.back();
    EXPECT_EQ(last.status, v1::STORE_STATUS_FAILED);
    EXPECT_EQ(last.step, "deletion");
    EXPECT_EQ(last.reason.find("example.com/hold"), std::string::npos)
        << "raw API text: " << last.reason;
    EXPECT_NE(last.reason.find("delete the store again"), std::string::npos) << last.reason;
}

// The dispatcher gave up on a command: its store is told Failed, a deletion as a failed
// deletion (intake then lets DELETE send it again), after every event the attempts made.
TEST_F(ProvisionerTest, AGivenUpCommandReportsItsStoreFailedAfterAllItsEvents) {
    CancelToken cancel(shutdown_);
    ASSERT_TRUE(provisioner_.ReportGivenUp(At(Requested()), 5, cancel).ok());
    auto deletion = events::NewEnvelope("acme", kStoreId, "corr2");
    deletion.mutable_store_deletion_requested();
    ASSERT_TRUE(provisioner_.ReportGivenUp(At(deletion, 9), 5, cancel).ok());
    ASSERT_EQ(statuses_.updates.size(), 2U);
    EXPECT_EQ(statuses_.updates[0].status, v1::STORE_STATUS_FAILED);
    EXPECT_EQ(statuses_.updates[0].step, "failed");
    EXPECT_EQ(statuses_.updates[1].status, v1::STORE_STATUS_FAILED);
    EXPECT_EQ(statuses_.updates[1].step, "deletion");
    EXPECT_NE(statuses_.updates[1].reason.find("delete it again"), std::string::npos)
        << statuses_.updates[1].reason;
    for (const auto& update : statuses_.updates) {
        EXPECT_EQ(update.ns, kNs);
        EXPECT_NE(update.reason.find("5 times"), std::string::npos) << update.reason;
        // After the last event any run of the command could emit (ready is index 12).
        EXPECT_GT(events::StatusSequence(7, update.step_index, update.sub),
                  events::StatusSequence(7, 12, 255));
        EXPECT_LT(events::StatusSequence(7, update.step_index, update.sub),
                  events::StatusSequence(8, 0, 0));
    }
}

// A deletion's namespace is derived from its store id; one that is not a UUID ("x/../kube-system"
// or a name of some other namespace) must touch nothing. Before the fix it was uninstalled and
// deleted as given.
TEST_F(ProvisionerTest, ADeletionWhoseStoreIdIsNotAUuidTouchesNothing) {
    CancelToken cancel(shutdown_);
    auto deletion = events::NewEnvelope("acme", "kube-system", "corr2");
    deletion.mutable_store_deletion_requested();
    EXPECT_EQ(provisioner_.Deprovision(At(deletion), cancel), CommandOutcome::kFinished);
    EXPECT_TRUE(helm_.uninstalls.empty());
    for (const auto& call : kube_.calls)
        EXPECT_EQ(call.find("kube-system"), std::string::npos) << call;
    ASSERT_EQ(statuses_.updates.size(), 1U);
    EXPECT_EQ(statuses_.updates[0].status, v1::STORE_STATUS_FAILED);
}

TEST_F(ProvisionerTest, StepIndexesGrowAlongTheCommand) {
    ReadyWorkloads();
    CancelToken cancel(shutdown_);
    provisioner_.Provision(At(Requested()), cancel, no_permit_);
    uint64_t last = 0;
    for (const auto& update : statuses_.updates) {
        const uint64_t sequence = events::StatusSequence(7, update.step_index, update.sub);
        EXPECT_GT(sequence, last) << update.step;
        last = sequence;
    }
}

}  // namespace
}  // namespace storefleet::provisioner
