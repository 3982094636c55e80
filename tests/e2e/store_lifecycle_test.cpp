// End to end on the local real stack: a store from POST to Ready to deleted, through the
// front door, checked in the cluster (namespace, guardrails, Helm release, pods) and in
// Postgres (the timeline). Needs the stack env (tests/with-stack); starts the platform
// itself with infra/local/platform unless STOREFLEET_URL points at a running one.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <optional>
#include <set>
#include <thread>

#include "storefleet/kube/client.hpp"
#include "storefleet/test_support/env.hpp"
#include "storefleet/test_support/http.hpp"
#include "storefleet/test_support/platform.hpp"
#include "storefleet/test_support/wait.hpp"

namespace {

using nlohmann::json;
using storefleet::test_support::Clock;
using storefleet::test_support::Env;
using storefleet::test_support::RepoRoot;
using storefleet::test_support::Seconds;

struct Reply {      // NOLINT(bugprone-exception-escape): json's implicit members; a test answer
    long code = 0;  // -1: no HTTP answer
    json body;
    std::string headers;  // the raw response header lines
};

// The platform under test. Started in main(), before any test, so a platform that does not
// come up fails the run (a failing gtest Environment would only skip the tests).
class Platform {
public:
    // Returns an error message, or "" when the platform is reachable.
    std::string Start() {
        std::string url = Env("STOREFLEET_URL");
        std::string token;
        if (url.empty()) {
            const std::string command = "bash " + RepoRoot() + "/infra/local/platform up >&2";
            if (std::system(command.c_str()) != 0)
                return "infra/local/platform up failed";  // NOLINT
            started_ = true;
            auto endpoints = storefleet::test_support::ReadPlatformEndpoints();
            if (!endpoints.error.empty()) return endpoints.error;
            url = endpoints.url;
            token = endpoints.token;
        } else {
            std::ifstream in(Env("STOREFLEET_TOKEN_FILE"));
            std::getline(in, token);
            if (token.empty()) return "no API token in '" + Env("STOREFLEET_TOKEN_FILE") + "'";
        }
        client_.emplace(url, token, std::chrono::seconds(10));
        return "";
    }
    void Stop() {
        if (started_) {
            const std::string command = "bash " + RepoRoot() + "/infra/local/platform down >&2";
            (void)std::system(command.c_str());  // NOLINT
        }
    }
    // Through the front door with the tenant's token, or `token` when given.
    static Reply Call(const std::string& method, const std::string& path,
                      const std::string& body = "", const std::string& token = "",
                      const std::vector<std::string>& headers = {}) {
        const auto& client = *instance->client_;
        auto raw =
            (token.empty() ? client : client.WithToken(token)).Send(method, path, body, headers);
        if (raw.code == -1) return Reply{-1, json(), raw.headers};
        return Reply{raw.code, raw.Json(), raw.headers};
    }
    static inline Platform* instance = nullptr;

private:
    std::optional<storefleet::test_support::HttpClient> client_;
    bool started_ = false;
};

storefleet::kube::KubeClient& Kube() {
    static storefleet::kube::KubeClient client(storefleet::kube::LoadKubeconfig(Env("KUBECONFIG")));
    return client;
}

std::string CreateStore(const std::string& name, const std::string& plan = "small") {
    auto reply =
        Platform::Call("POST", "/api/v1/stores",
                       json{{"name", name}, {"engine", "woocommerce"}, {"plan", plan}}.dump());
    EXPECT_EQ(reply.code, 202) << reply.body.dump();
    return reply.body.value("id", "");
}

// Polls GET /api/v1/stores/{id} until `done(store)` holds or the deadline; the last answer.
template <typename Done>
json WaitForStore(const std::string& id, std::chrono::seconds deadline, Done&& done) {
    json last;
    storefleet::test_support::WaitUntil(
        [&] {
            auto reply = Platform::Call("GET", "/api/v1/stores/" + id);
            if (reply.code != 200) return false;
            last = reply.body;
            return done(last);
        },
        deadline, std::chrono::milliseconds(200));
    return last;
}

// Polls until the store's status is `want` (or failed), or the deadline.
json WaitForStatus(const std::string& id, const std::string& want, std::chrono::seconds deadline) {
    return WaitForStore(id, deadline, [&](const json& store) {
        const std::string status = store.value("status", "");
        return status == want || (status == "failed" && want != "failed");
    });
}

// PATCH /api/v1/stores/{id} as a JSON merge patch; `if_match` "" sends no precondition.
Reply PatchStore(const std::string& id, const json& patch, const std::string& if_match) {
    std::vector<std::string> headers = {"Content-Type: application/merge-patch+json"};
    if (!if_match.empty()) headers.push_back("If-Match: " + if_match);
    return Platform::Call("PATCH", "/api/v1/stores/" + id, patch.dump(), "", headers);
}

// Polls GET until the store shows `status` at observed generation `generation`, or a
// failure (failed, degraded) when that is not what is awaited, or the deadline.
// After a retry, `stop_on_failure` false: the failure it retries may still show a moment.
json WaitForConverged(const std::string& id, const std::string& status, int64_t generation,
                      std::chrono::seconds deadline, bool stop_on_failure = true) {
    return WaitForStore(id, deadline, [&](const json& store) {
        const std::string now = store.value("status", "");
        if (stop_on_failure && (now == "failed" || now == "degraded") && now != status) return true;
        return now == status && store.value("observed_generation", int64_t{0}) == generation;
    });
}

std::string DesiredEtag(const std::string& id) {
    auto reply = Platform::Call("GET", "/api/v1/stores/" + id);
    EXPECT_EQ(reply.code, 200);
    return reply.body.value("desired_etag", "");
}

int64_t ReplicasOf(const json& workloads) {
    int64_t replicas = 0;
    for (const auto& item : workloads["items"]) replicas += item["spec"].value("replicas", 1);
    return replicas;
}

// The uids of the store's PersistentVolumeClaims, sorted: the same set means the same volumes.
std::vector<std::string> ClaimUids(const std::string& ns) {
    std::vector<std::string> uids;
    auto claims = Kube().Get("/api/v1/namespaces/" + ns + "/persistentvolumeclaims");
    if (!claims.ok()) return uids;
    for (const auto& claim : (*claims)["items"]) uids.push_back(claim["metadata"].value("uid", ""));
    std::sort(uids.begin(), uids.end());
    return uids;
}

std::string UidOf(const std::string& path) {
    auto object = Kube().Get(path);
    return object.ok() ? (*object)["metadata"].value("uid", "") : "";
}

// A ValidatingAdmissionPolicy (with its binding) that refuses every ResourceQuota written in
// a store namespace labelled storefleet.io/plan=`plan`: a fault made on purpose, so a store's
// convergence fails at its guardrails step. Returns once the API server enforces it.
class QuotaRefusal {
public:
    explicit QuotaRefusal(std::string plan) : name_("e2e-refuse-quota-" + std::move(plan)) {
        const std::string plan_label = name_.substr(std::string("e2e-refuse-quota-").size());
        const json policy = {
            {"apiVersion", "admissionregistration.k8s.io/v1"},
            {"kind", "ValidatingAdmissionPolicy"},
            {"metadata", {{"name", name_}}},
            {"spec",
             {{"failurePolicy", "Fail"},
              {"matchConstraints",
               {{"resourceRules", json::array({{{"apiGroups", {""}},
                                                {"apiVersions", {"v1"}},
                                                {"operations", {"CREATE", "UPDATE"}},
                                                {"resources", {"resourcequotas"}}}})}}},
              {"validations",
               json::array({{{"expression", "false"},
                             {"message", "refused on purpose by the e2e test"}}})}}}};
        const json binding = {
            {"apiVersion", "admissionregistration.k8s.io/v1"},
            {"kind", "ValidatingAdmissionPolicyBinding"},
            {"metadata", {{"name", name_}}},
            {"spec",
             {{"policyName", name_},
              {"validationActions", {"Deny"}},
              {"matchResources",
               {{"namespaceSelector", {{"matchLabels", {{"storefleet.io/plan", plan_label}}}}}}}}}};
        const std::string base = "/apis/admissionregistration.k8s.io/v1/";
        EXPECT_TRUE(Kube().Apply(base + "validatingadmissionpolicies/" + name_, policy).ok());
        EXPECT_TRUE(
            Kube().Apply(base + "validatingadmissionpolicybindings/" + name_, binding).ok());
        // A probe namespace with the label: a dry-run quota there is refused once the policy
        // is in force.
        probe_ = name_ + "-probe";
        EXPECT_TRUE(
            Kube()
                .Apply("/api/v1/namespaces/" + probe_,
                       {{"apiVersion", "v1"},
                        {"kind", "Namespace"},
                        {"metadata",
                         {{"name", probe_}, {"labels", {{"storefleet.io/plan", plan_label}}}}}})
                .ok());
        enforced_ = storefleet::test_support::WaitUntil(
            [&] { return Refused(); }, std::chrono::seconds(30), std::chrono::milliseconds(200));
    }
    ~QuotaRefusal() { Lift(); }
    QuotaRefusal(const QuotaRefusal&) = delete;
    QuotaRefusal& operator=(const QuotaRefusal&) = delete;
    [[nodiscard]] bool Enforced() const { return enforced_; }
    // Removes the policy and returns once the API server no longer enforces it.
    void Lift() {
        if (lifted_) return;
        lifted_ = true;
        const std::string base = "/apis/admissionregistration.k8s.io/v1/";
        (void)Kube().Delete(base + "validatingadmissionpolicybindings/" + name_);
        (void)Kube().Delete(base + "validatingadmissionpolicies/" + name_);
        EXPECT_TRUE(storefleet::test_support::WaitUntil(
            [&] { return !Refused(); }, std::chrono::seconds(30), std::chrono::milliseconds(200)))
            << "the admission policy was still enforced 30 s after its removal";
        (void)Kube().Delete("/api/v1/namespaces/" + probe_);
    }

private:
    // A dry-run quota in the probe namespace is refused by this policy.
    [[nodiscard]] bool Refused() const {
        const json quota = {{"apiVersion", "v1"},
                            {"kind", "ResourceQuota"},
                            {"metadata", {{"name", "probe"}}},
                            {"spec", {{"hard", {{"pods", "1"}}}}}};
        auto reply =
            Kube().Call("POST", "/api/v1/namespaces/" + probe_ + "/resourcequotas?dryRun=All",
                        quota.dump(), "application/json");
        return reply.ok() && reply->status >= 400 && reply->status < 500 &&
               reply->body.find("on purpose") != std::string::npos;
    }

    std::string name_;
    std::string probe_;
    bool enforced_ = false;
    bool lifted_ = false;
};

TEST(StoreLifecycleE2E, OneStoreFromPostToReadyToDeleted) {
    const std::string name = "e2e-one-" + std::to_string(std::time(nullptr) % 100000);
    const auto start = Clock::now();
    const std::string id = CreateStore(name);
    ASSERT_FALSE(id.empty());

    json store = WaitForStatus(id, "ready", std::chrono::seconds(180));
    const double ready_after = Seconds(Clock::now() - start);
    ASSERT_EQ(store.value("status", ""), "ready") << store.dump();
    std::cout << "[timing] one store POST -> Ready: " << ready_after << " s\n";
    const std::string host = name + ".demo.stores.localtest.me";
    EXPECT_EQ(store.value("url", ""), "http://" + host + "/");
    EXPECT_EQ(store.value("simulated", false), true);
    EXPECT_FALSE(store.value("note", "").empty())
        << "a simulated store must say so next to its URL";
    EXPECT_EQ(store.dump().find("password"), std::string::npos);

    // The cluster: namespace with guardrails, a deployed Helm release, pods Ready.
    const std::string ns = "store-" + id;
    auto namespace_object = Kube().Get("/api/v1/namespaces/" + ns);
    ASSERT_TRUE(namespace_object.ok());
    EXPECT_EQ((*namespace_object)["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
              "restricted");
    EXPECT_TRUE(Kube().Get("/api/v1/namespaces/" + ns + "/resourcequotas/store-quota").ok());
    EXPECT_TRUE(Kube().Get("/api/v1/namespaces/" + ns + "/limitranges/store-limits").ok());
    auto policies = Kube().Get("/apis/networking.k8s.io/v1/namespaces/" + ns + "/networkpolicies");
    ASSERT_TRUE(policies.ok());
    std::set<std::string> policy_names;
    for (const auto& policy : (*policies)["items"])
        policy_names.insert(policy["metadata"]["name"].get<std::string>());
    // default-deny, what the storefront may receive and send, and what a backup or restore
    // Job may reach (its store's database only: decision 14).
    EXPECT_EQ(policy_names, (std::set<std::string>{"default-deny", "allow-from-ingress-controller",
                                                   "allow-web-egress", "data-job-to-database"}));
    // The provisioner ran on its own ServiceAccount and bound its in-store role here, to itself.
    auto binding = Kube().Get("/apis/rbac.authorization.k8s.io/v1/namespaces/" + ns +
                              "/rolebindings/storefleet-provisioner");
    ASSERT_TRUE(binding.ok()) << "no RoleBinding storefleet-provisioner in " << ns;
    EXPECT_EQ((*binding)["roleRef"]["name"], "storefleet-provisioner-store");
    EXPECT_EQ((*binding)["subjects"][0]["name"], "storefleet-provisioner");
    EXPECT_EQ((*binding)["subjects"][0]["namespace"], "storefleet-system");
    auto releases = Kube().Get("/api/v1/namespaces/" + ns +
                               "/secrets?labelSelector=owner%3Dhelm%2Cname%3Dstore");
    ASSERT_TRUE(releases.ok());
    ASSERT_EQ((*releases)["items"].size(), 1U);
    EXPECT_EQ((*releases)["items"][0]["metadata"]["labels"]["status"], "deployed");
    auto pods = Kube().Get("/api/v1/namespaces/" + ns + "/pods");
    ASSERT_TRUE(pods.ok());
    int running = 0;
    for (const auto& pod : (*pods)["items"]) {
        const std::string phase = pod["status"].value("phase", "");
        EXPECT_TRUE(phase == "Running" || phase == "Succeeded")
            << pod["metadata"]["name"] << " " << phase;
        running += phase == "Running" ? 1 : 0;
    }
    EXPECT_GE(running, 2) << "WordPress and MariaDB";

    // The timeline, in Postgres and through the API.
    pqxx::connection db(Env("STOREFLEET_PG_URL"));
    pqxx::work txn(db);
    auto rows = txn.exec_params(
        "select status from read.store_events where store_id = $1 order by sequence, occurred_at, "
        "event_id",
        id);
    std::vector<std::string> statuses;
    for (const auto& row : rows) statuses.push_back(row[0].as<std::string>(""));
    ASSERT_GE(statuses.size(), 3U);
    EXPECT_EQ(statuses.front(), "requested");
    EXPECT_EQ(statuses.back(), "ready");
    auto events = Platform::Call("GET", "/api/v1/stores/" + id + "/events");
    EXPECT_EQ(events.code, 200);
    EXPECT_EQ(events.body.size(), statuses.size());
    txn.commit();

    // Delete: the namespace and the release go, the status becomes deleted.
    auto deleted = Platform::Call("DELETE", "/api/v1/stores/" + id);
    EXPECT_EQ(deleted.code, 202);
    const auto delete_start = Clock::now();
    store = WaitForStatus(id, "deleted", std::chrono::seconds(180));
    ASSERT_EQ(store.value("status", ""), "deleted") << store.dump();
    std::cout << "[timing] one store DELETE -> deleted: " << Seconds(Clock::now() - delete_start)
              << " s\n";
    auto gone = Kube().Call("GET", "/api/v1/namespaces/" + ns, "", "application/json");
    ASSERT_TRUE(gone.ok());
    EXPECT_EQ(gone->status, 404);
}

TEST(StoreLifecycleE2E, TwentyStoresAtOnce) {
    constexpr int kStores = 20;
    const std::string prefix = "e2e-many-" + std::to_string(std::time(nullptr) % 100000) + "-";
    const auto start = Clock::now();
    std::vector<std::string> ids;
    for (int i = 0; i < kStores; ++i) ids.push_back(CreateStore(prefix + std::to_string(i)));
    std::set<std::string> pending(ids.begin(), ids.end());
    ASSERT_EQ(pending.size(), static_cast<std::size_t>(kStores));
    std::vector<double> ready_times;
    const auto deadline = Clock::now() + std::chrono::seconds(300);
    while (!pending.empty() && Clock::now() < deadline) {
        auto list = Platform::Call("GET", "/api/v1/stores?limit=200");
        ASSERT_EQ(list.code, 200);
        for (const auto& item : list.body["items"]) {
            const std::string id = item.value("id", "");
            if (pending.count(id) == 0U) continue;
            ASSERT_NE(item.value("status", ""), "failed") << item.dump();
            if (item.value("status", "") == "ready") {
                pending.erase(id);
                ready_times.push_back(Seconds(Clock::now() - start));
            }
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    ASSERT_TRUE(pending.empty()) << pending.size() << " stores not ready in time";
    std::cout << "[timing] " << kStores << " stores POST -> all Ready: " << ready_times.back()
              << " s (first after " << ready_times.front() << " s)\n";

    for (const auto& id : ids)
        EXPECT_EQ(Platform::Call("DELETE", "/api/v1/stores/" + id).code, 202);
    const auto delete_start = Clock::now();
    for (const auto& id : ids) {
        auto store = WaitForStatus(id, "deleted", std::chrono::seconds(300));
        EXPECT_EQ(store.value("status", ""), "deleted") << id;
    }
    std::cout << "[timing] " << kStores
              << " stores DELETE -> all deleted: " << Seconds(Clock::now() - delete_start)
              << " s\n";
    for (const auto& id : ids) {
        auto gone = Kube().Call("GET", "/api/v1/namespaces/store-" + id, "", "application/json");
        ASSERT_TRUE(gone.ok());
        EXPECT_EQ(gone->status, 404) << id;
    }
}

// Day 2: a plan change resizes the store in place; suspend scales it to zero and keeps its
// Secret and volumes; resume brings it back; every change is a generation the API shows
// converged; a stale or missing precondition changes nothing.
TEST(StoreLifecycleE2E, PlanChangeSuspendAndResumeConvergeGenerationByGeneration) {
    const std::string name = "e2e-day2-" + std::to_string(std::time(nullptr) % 100000);
    const std::string id = CreateStore(name);
    ASSERT_FALSE(id.empty());
    json store = WaitForConverged(id, "ready", 1, std::chrono::seconds(180));
    ASSERT_EQ(store.value("status", ""), "ready") << store.dump();
    EXPECT_EQ(store.value("generation", 0), 1);
    EXPECT_EQ(store["condition"].value("state", ""), "in_sync") << store.dump();
    const std::string etag = store.value("desired_etag", "");
    ASSERT_EQ(etag, "\"g1\"");
    const std::string ns = "store-" + id;
    const std::string quota_path = "/api/v1/namespaces/" + ns + "/resourcequotas/store-quota";
    const std::string secret_uid = UidOf("/api/v1/namespaces/" + ns + "/secrets/store-credentials");
    const std::string namespace_uid = UidOf("/api/v1/namespaces/" + ns);
    const std::vector<std::string> claims = ClaimUids(ns);
    ASSERT_FALSE(secret_uid.empty());
    ASSERT_GE(claims.size(), 1U) << "a WooCommerce store keeps its data on claims";

    // No precondition: 428; a precondition of another generation: 412; neither changes it.
    EXPECT_EQ(PatchStore(id, {{"plan", "medium"}}, "").code, 428);
    EXPECT_EQ(PatchStore(id, {{"plan", "medium"}}, "\"g7\"").code, 412);
    EXPECT_EQ(PatchStore(id, {{"color", "blue"}}, etag).code, 400);
    EXPECT_EQ(DesiredEtag(id), etag) << "a refused change made no generation";

    // Plan change.
    auto start = Clock::now();
    auto changed = PatchStore(id, {{"plan", "medium"}}, etag);
    ASSERT_EQ(changed.code, 202) << changed.body.dump();
    EXPECT_EQ(changed.body.value("generation", 0), 2);
    EXPECT_EQ(changed.body["desired"].value("plan", ""), "medium");
    EXPECT_EQ(PatchStore(id, {{"plan", "large"}}, etag).code, 412)
        << "the tag read before the change is stale now";
    store = WaitForConverged(id, "ready", 2, std::chrono::seconds(180));
    ASSERT_EQ(store.value("observed_generation", 0), 2) << store.dump();
    std::cout << "[timing] plan change PATCH -> converged: " << Seconds(Clock::now() - start)
              << " s\n";
    EXPECT_EQ(store.value("plan", ""), "medium");
    EXPECT_EQ(store["condition"].value("state", ""), "in_sync");
    auto quota = Kube().Get(quota_path);
    ASSERT_TRUE(quota.ok());
    EXPECT_EQ((*quota)["spec"]["hard"].value("limits.memory", ""), "8Gi") << "medium: 2 x 4Gi";
    auto releases =
        Kube().Get("/api/v1/namespaces/" + ns +
                   "/secrets?labelSelector=owner%3Dhelm%2Cname%3Dstore%2Cstatus%3Ddeployed");
    ASSERT_TRUE(releases.ok());
    ASSERT_EQ((*releases)["items"].size(), 1U);
    EXPECT_EQ((*releases)["items"][0]["metadata"]["labels"].value("version", ""), "2")
        << "the plan change is the release's second revision";

    // Suspend: every workload at zero; the Secret, the volumes and the namespace stay.
    start = Clock::now();
    auto suspended = PatchStore(id, {{"suspended", true}}, store.value("desired_etag", ""));
    ASSERT_EQ(suspended.code, 202) << suspended.body.dump();
    EXPECT_EQ(suspended.body.value("generation", 0), 3);
    store = WaitForConverged(id, "suspended", 3, std::chrono::seconds(180));
    ASSERT_EQ(store.value("status", ""), "suspended") << store.dump();
    std::cout << "[timing] suspend PATCH -> suspended: " << Seconds(Clock::now() - start) << " s\n";
    EXPECT_EQ(store["desired"].value("suspended", false), true);
    auto deployments = Kube().Get("/apis/apps/v1/namespaces/" + ns + "/deployments");
    auto statefulsets = Kube().Get("/apis/apps/v1/namespaces/" + ns + "/statefulsets");
    ASSERT_TRUE(deployments.ok() && statefulsets.ok());
    EXPECT_GE((*deployments)["items"].size() + (*statefulsets)["items"].size(), 2U);
    EXPECT_EQ(ReplicasOf(*deployments) + ReplicasOf(*statefulsets), 0);
    EXPECT_EQ(UidOf("/api/v1/namespaces/" + ns + "/secrets/store-credentials"), secret_uid);
    EXPECT_EQ(UidOf("/api/v1/namespaces/" + ns), namespace_uid);
    EXPECT_EQ(ClaimUids(ns), claims) << "suspended: the same volumes";

    // Resume.
    start = Clock::now();
    auto resumed = PatchStore(id, {{"suspended", false}}, store.value("desired_etag", ""));
    ASSERT_EQ(resumed.code, 202) << resumed.body.dump();
    store = WaitForConverged(id, "ready", 4, std::chrono::seconds(180));
    ASSERT_EQ(store.value("status", ""), "ready") << store.dump();
    std::cout << "[timing] resume PATCH -> ready: " << Seconds(Clock::now() - start) << " s\n";
    deployments = Kube().Get("/apis/apps/v1/namespaces/" + ns + "/deployments");
    ASSERT_TRUE(deployments.ok());
    EXPECT_GE(ReplicasOf(*deployments), 1);
    EXPECT_EQ(UidOf("/api/v1/namespaces/" + ns + "/secrets/store-credentials"), secret_uid);
    EXPECT_EQ(ClaimUids(ns), claims) << "resumed: the same volumes";

    // A patch that changes nothing: 200, no new generation.
    auto same = PatchStore(id, {{"plan", "medium"}}, "*");
    EXPECT_EQ(same.code, 200) << same.body.dump();
    EXPECT_EQ(same.body.value("generation", 0), 4);

    // The timeline holds every change with who asked.
    auto events = Platform::Call("GET", "/api/v1/stores/" + id + "/events");
    ASSERT_EQ(events.code, 200);
    int changes = 0;
    for (const auto& event : events.body)
        changes += event.value("type", "") == "StoreChangeRequested" ? 1 : 0;
    EXPECT_EQ(changes, 3) << events.body.dump();

    EXPECT_EQ(Platform::Call("DELETE", "/api/v1/stores/" + id).code, 202);
    EXPECT_EQ(PatchStore(id, {{"plan", "small"}}, "*").code, 409) << "no change while deleting";
    store = WaitForStatus(id, "deleted", std::chrono::seconds(180));
    EXPECT_EQ(store.value("status", ""), "deleted");
}

// A store whose creation fails (its guardrails refused by an admission policy made on
// purpose) is Failed; once the cause is gone, POST .../retry runs its generation again and
// it ends Ready. A change that fails leaves a serving store degraded, not torn down; a
// retry converges it.
TEST(StoreLifecycleE2E, RetryTurnsAFailedStoreReadyAndADegradedOneInSync) {
    const std::string name = "e2e-retry-" + std::to_string(std::time(nullptr) % 100000);
    QuotaRefusal refusal("large");
    ASSERT_TRUE(refusal.Enforced()) << "the admission policy never took effect";
    const std::string id = CreateStore(name, "large");
    ASSERT_FALSE(id.empty());
    json store = WaitForStatus(id, "failed", std::chrono::seconds(180));
    ASSERT_EQ(store.value("status", ""), "failed") << store.dump();
    EXPECT_EQ(store["condition"].value("state", ""), "degraded") << store.dump();
    refusal.Lift();

    // The retry answer can come before intake has consumed the failure: retry until taken.
    const auto start = Clock::now();
    ASSERT_TRUE(storefleet::test_support::WaitUntil(
        [&] { return Platform::Call("POST", "/api/v1/stores/" + id + "/retry").code == 202; },
        std::chrono::seconds(30), std::chrono::milliseconds(500)));
    store = WaitForConverged(id, "ready", 1, std::chrono::seconds(180), false);
    ASSERT_EQ(store.value("status", ""), "ready") << store.dump();
    std::cout << "[timing] retry of a failed store -> ready: " << Seconds(Clock::now() - start)
              << " s\n";
    EXPECT_EQ(Platform::Call("POST", "/api/v1/stores/" + id + "/retry").code, 409)
        << "nothing to retry on a ready store";

    {
        QuotaRefusal medium("medium");
        ASSERT_TRUE(medium.Enforced());
        auto changed = PatchStore(id, {{"plan", "medium"}}, store.value("desired_etag", ""));
        ASSERT_EQ(changed.code, 202) << changed.body.dump();
        store = WaitForStatus(id, "degraded", std::chrono::seconds(180));
        ASSERT_EQ(store.value("status", ""), "degraded") << store.dump();
        EXPECT_EQ(store.value("observed_generation", 0), 1) << "it still serves generation 1";
        EXPECT_EQ(store["condition"].value("state", ""), "degraded");
        auto deployments = Kube().Get("/apis/apps/v1/namespaces/store-" + id + "/deployments");
        ASSERT_TRUE(deployments.ok());
        EXPECT_GE(ReplicasOf(*deployments), 1) << "a degraded store is not torn down";
    }
    ASSERT_TRUE(storefleet::test_support::WaitUntil(
        [&] { return Platform::Call("POST", "/api/v1/stores/" + id + "/retry").code == 202; },
        std::chrono::seconds(30), std::chrono::milliseconds(500)));
    store = WaitForConverged(id, "ready", 2, std::chrono::seconds(180), false);
    EXPECT_EQ(store.value("status", ""), "ready") << store.dump();
    EXPECT_EQ(store.value("plan", ""), "medium");

    EXPECT_EQ(Platform::Call("DELETE", "/api/v1/stores/" + id).code, 202);
    EXPECT_EQ(WaitForStatus(id, "deleted", std::chrono::seconds(180)).value("status", ""),
              "deleted");
}

// A PATCH racing a DELETE: the store ends deleted, its namespace gone, never half-changed.
TEST(StoreLifecycleE2E, APatchRacingADeleteEndsDeleted) {
    constexpr int kStores = 4;
    const std::string prefix = "e2e-race-" + std::to_string(std::time(nullptr) % 100000) + "-";
    std::vector<std::string> ids;
    for (int i = 0; i < kStores; ++i) ids.push_back(CreateStore(prefix + std::to_string(i)));
    for (const auto& id : ids) {
        auto store = WaitForConverged(id, "ready", 1, std::chrono::seconds(240));
        ASSERT_EQ(store.value("status", ""), "ready") << store.dump();
    }
    for (const auto& id : ids) {
        Reply patched;
        Reply deleted;
        std::thread patcher([&] {
            patched = PatchStore(id, {{"suspended", true}, {"plan", "large"}}, "*");
        });
        std::thread deleter([&] { deleted = Platform::Call("DELETE", "/api/v1/stores/" + id); });
        patcher.join();
        deleter.join();
        EXPECT_EQ(deleted.code, 202);
        EXPECT_TRUE(patched.code == 202 || patched.code == 409) << patched.code;
    }
    for (const auto& id : ids) {
        auto store = WaitForStatus(id, "deleted", std::chrono::seconds(240));
        EXPECT_EQ(store.value("status", ""), "deleted") << store.dump();
        auto gone = Kube().Call("GET", "/api/v1/namespaces/store-" + id, "", "application/json");
        ASSERT_TRUE(gone.ok());
        EXPECT_EQ(gone->status, 404) << id;
    }
}

TEST(StoreLifecycleE2E, BadRequestsAreRefusedAndChangeNothing) {
    EXPECT_EQ(Platform::Call("POST", "/api/v1/stores", R"({"name":"x"})").code, 400);
    auto unauthorized = Platform::Call("POST", "/api/v1/stores",
                                       R"({"name":"ok","engine":"woocommerce"})", "wrong-token");
    EXPECT_EQ(unauthorized.code, 401);
    EXPECT_EQ(unauthorized.body["code"], "unauthorized");
    auto created = Platform::Call("POST", "/api/v1/stores",
                                  R"({"name":"e2e-headers","engine":"woocommerce"})");
    ASSERT_EQ(created.code, 202);
    EXPECT_NE(created.headers.find("Location: /api/v1/stores/" + created.body.value("id", "")),
              std::string::npos)
        << created.headers;
    EXPECT_EQ(Platform::Call("DELETE", "/api/v1/stores/" + created.body.value("id", "")).code, 202);
    EXPECT_EQ(Platform::Call("DELETE", "/api/v1/stores/00000000-0000-4000-8000-000000000000").code,
              404);
    EXPECT_EQ(Platform::Call("GET", "/api/v1/stores/not-a-uuid").code, 404);
}

}  // namespace

int main(int argc, char** argv) {
    ::testing::InitGoogleTest(&argc, argv);
    if (RepoRoot().empty()) {
        std::cerr << "STOREFLEET_ROOT must name the repository (ctest sets it)\n";
        return 1;
    }
    Platform platform;
    Platform::instance = &platform;
    if (auto error = platform.Start(); !error.empty()) {
        std::cerr << "e2e: cannot start the platform: " << error << "\n";
        platform.Stop();
        return 1;
    }
    const int result = RUN_ALL_TESTS();
    platform.Stop();
    // Every case here must run: a skipped e2e case is a failure, not a pass.
    const auto* unit = ::testing::UnitTest::GetInstance();
    if (result == 0 && unit->skipped_test_count() > 0) {
        std::cerr << "e2e: " << unit->skipped_test_count() << " cases were skipped\n";
        return 1;
    }
    return result;
}
