#include "provisioner.hpp"

#include <algorithm>
#include <filesystem>
#include <random>
#include <set>

#include "storefleet/common/backoff.hpp"
#include "storefleet/common/ids.hpp"
#include "storefleet/common/log.hpp"
#include "storefleet/events/envelope.hpp"

namespace storefleet::provisioner {
namespace {

using Clock = std::chrono::steady_clock;

Error Cancelled() { return Error::Permanent("cancelled", "cancelled"); }

// A command that stopped because it was cancelled: retried here when its lease was lost,
// otherwise left to whoever runs it next (or committed, when superseded).
CommandOutcome StoppedOutcome(const CancelToken& cancel) {
    return cancel.Why() == CancelToken::Reason::kLeaseLost ? CommandOutcome::kRetry
                                                           : CommandOutcome::kCancelled;
}

std::chrono::milliseconds Jittered(std::chrono::milliseconds base) {
    thread_local std::mt19937 random(std::random_device{}());
    std::uniform_int_distribution<int64_t> spread(0, base.count() / 2);
    return base + std::chrono::milliseconds(spread(random));
}

}  // namespace

bool CancelToken::Sleep(std::chrono::milliseconds duration) const {
    const auto until = Clock::now() + duration;
    while (Clock::now() < until) {
        if (Cancelled()) return true;
        if (shutdown_.WaitFor(std::min<std::chrono::milliseconds>(
                std::chrono::milliseconds(100),
                std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now())))) {
            return true;
        }
    }
    return Cancelled();
}

StoreProvisioner::StoreProvisioner(kube::KubeApi& kube, HelmRunner& helm, StatusPublisher& statuses,
                                   metrics::Registry& registry, ProvisionerOptions options,
                                   ReadinessWatcher* watcher)
    : kube_(kube),
      helm_(helm),
      statuses_(statuses),
      registry_(registry),
      options_(std::move(options)),
      watcher_(watcher) {}

template <typename Fn>
Status StoreProvisioner::Ensure(const std::string& step, const CancelToken& cancel,
                                Clock::time_point deadline, Fn&& attempt) {
    Backoff backoff(std::chrono::milliseconds(250), std::chrono::milliseconds(10'000));
    auto& retries =
        registry_.GetCounter("storefleet_provisioner_step_retries_total",
                             "Retryable failures of a provisioning step.", {{"step", step}});
    for (;;) {
        if (cancel.Cancelled()) return Cancelled();
        Status status = attempt();
        if (status.ok() || !status.error().retryable()) return status;
        retries.Inc();
        const auto wait = backoff.Next();
        if (Clock::now() + wait > deadline) {
            return Error::Permanent(
                "deadline",
                "step '" + step + "' kept failing until the deadline: " + status.error().message);
        }
        log::Warn(
            "step failed; retrying",
            {{"step", step}, {"error", status.error().message}, {"backoff_ms", wait.count()}});
        if (cancel.Sleep(Jittered(wait))) return Cancelled();
    }
}

Status StoreProvisioner::Emit(const Command& command, const CancelToken& cancel,
                              StatusUpdate update) {
    auto status = statuses_.Publish(command, update, cancel);
    if (!status.ok()) {
        // The publisher retries until the command is cancelled (shutdown, revoke, lease lost); the
        // command then stops without its offset committed (or is retried), so the update is
        // emitted again by whoever runs it next, with the same event id.
        log::Warn("status not emitted", {{"store_id", command.envelope.store_id()},
                                         {"step", update.step},
                                         {"error", status.error().message}});
    }
    return status;
}

void StoreProvisioner::ObserveStep(const std::string& step, Clock::time_point since) {
    registry_
        .GetHistogram("storefleet_provisioner_step_seconds",
                      "Time spent in each provisioning step.", {{"step", step}})
        .Observe(std::chrono::duration<double>(Clock::now() - since).count());
}

Result<StoreRecord> StoreProvisioner::ReadRecord(const std::string& ns) {
    const std::string path = "/api/v1/namespaces/" + ns;
    auto response = kube_.Call("GET", path);
    if (!response.ok()) return response.error();
    if (response->status == 404) return StoreRecord{};
    if (response->status != 200) return kube::ApiError("GET", path, *response);
    auto object = nlohmann::json::parse(response->body, nullptr, false);
    if (!object.is_object())
        return Error::Retryable("k8s_unavailable", "namespace " + ns + " answered no object");
    return RecordFromNamespace(object);
}

Status StoreProvisioner::EnsureNamespace(const StoreSpec& spec, const std::string& ns,
                                         const CancelToken& cancel) {
    auto applied = kube_.Apply("/api/v1/namespaces/" + ns, NamespaceObject(spec, ns));
    if (!applied.ok()) return applied.error();
    if (applied->value("status", nlohmann::json::object()).value("phase", "") == "Terminating") {
        return Error::Retryable(
            "namespace_terminating",
            "namespace " + ns + " from an earlier deletion is still terminating");
    }
    return EnsureAccess(spec.store_id, ns, cancel);
}

Status StoreProvisioner::EnsureAccess(const std::string& store_id, const std::string& ns,
                                      const CancelToken& cancel) {
    if (options_.identity.name.empty()) return Status::Ok();
    // The provisioner's in-store verbs exist only through this binding (charts/storefleet binds
    // the in-store ClusterRole nowhere else), so it comes before anything else in the namespace.
    const std::string path = "/apis/rbac.authorization.k8s.io/v1/namespaces/" + ns +
                             "/rolebindings/" + options_.identity.name;
    if (auto bound = kube_.Apply(path, RoleBindingObject(store_id, ns, options_.identity));
        !bound.ok()) {
        return bound.error();
    }
    // The RBAC authorizer learns of a new RoleBinding through its watch cache, a moment later;
    // until then the first write (or Helm's first call) would be refused with 403. Ask the API
    // server itself (SelfSubjectAccessReview: every authenticated user may) until it says yes.
    const std::string review_path = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews";
    const auto until = Clock::now() + options_.access_wait;
    Backoff backoff(std::chrono::milliseconds(20), std::chrono::milliseconds(500));
    for (int asked = 1;; ++asked) {
        auto review = kube_.Call("POST", review_path, AccessReviewObject(ns).dump());
        if (!review.ok()) return review.error();
        if (review->status != 200 && review->status != 201)
            return kube::ApiError("POST", review_path, *review);
        const auto answer = nlohmann::json::parse(review->body, nullptr, false);
        const auto status = answer.is_object() ? answer.value("status", nlohmann::json::object())
                                               : nlohmann::json::object();
        if (status.value("allowed", false)) {
            if (asked > 1)
                log::Info("store RoleBinding in effect",
                          {{"store_id", store_id}, {"namespace", ns}, {"reviews", asked}});
            return Status::Ok();
        }
        const auto wait = backoff.Next();
        if (Clock::now() + wait > until) {
            return Error::Permanent("k8s_forbidden",
                                    "RoleBinding " + ns + "/" + options_.identity.name +
                                        " to ClusterRole " + options_.identity.store_role +
                                        " is not in effect after " +
                                        std::to_string(options_.access_wait.count()) + " ms (" +
                                        status.value("reason", std::string("no reason given")) +
                                        "); does that ClusterRole exist?");
        }
        if (cancel.Sleep(wait)) return Cancelled();
    }
}

Status StoreProvisioner::EnsureGuardrails(const StoreSpec& spec, const std::string& ns) {
    const std::string base = "/api/v1/namespaces/" + ns;
    if (auto r = kube_.Apply(base + "/resourcequotas/store-quota", ResourceQuotaObject(spec, ns));
        !r.ok()) {
        return r.error();
    }
    if (auto r = kube_.Apply(base + "/limitranges/store-limits", LimitRangeObject(spec, ns));
        !r.ok()) {
        return r.error();
    }
    for (const auto& policy : NetworkPolicyObjects(spec, ns, options_.ingress_namespace)) {
        const std::string path = "/apis/networking.k8s.io/v1/namespaces/" + ns +
                                 "/networkpolicies/" +
                                 policy["metadata"]["name"].get<std::string>();
        if (auto r = kube_.Apply(path, policy); !r.ok()) return r.error();
    }
    return Status::Ok();
}

Status StoreProvisioner::EnsureSecret(const StoreSpec& spec, const std::string& ns) {
    // Created once and never replaced: a replayed command must not rotate credentials the
    // store's database was initialised with.
    const std::string path = "/api/v1/namespaces/" + ns + "/secrets";
    auto existing = kube_.Call("GET", path + "/" + kCredentialsSecret);
    if (!existing.ok()) return existing.error();
    if (existing->status == 200) return Status::Ok();
    if (existing->status != 404) return kube::ApiError("GET", path, *existing);
    auto created = kube_.Call("POST", path, CredentialsSecretObject(spec, ns).dump());
    if (!created.ok()) return created.error();
    if (created->status == 201 || created->status == 409) return Status::Ok();
    return kube::ApiError("POST", path, *created);
}

Status StoreProvisioner::RepairDrift(const DriftRecord& record, const std::vector<Drift>& drifts,
                                     const CancelToken& cancel) {
    const std::string ns = NamespaceFor(record.store_id);
    const StoreSpec spec = SpecFromRecord(record);
    bool guardrails = false;
    bool release = false;
    bool namespace_labels = false;
    for (const auto& drift : drifts) {
        if (!IsRepairable(drift)) continue;
        if (drift.kind == "Namespace") {
            namespace_labels = true;
        } else if (drift.kind == "ResourceQuota" || drift.kind == "LimitRange" ||
                   drift.kind == "NetworkPolicy") {
            guardrails = true;
        } else if (drift.kind != "RoleBinding") {
            release = true;  // the chart's objects: Deployment, StatefulSet, Service, Ingress
        }
    }
    const auto deadline = Clock::now() + options_.store_deadline;
    if (namespace_labels) {
        if (auto s = Ensure("drift-namespace", cancel, deadline,
                            [&]() -> Status {
                                auto applied = kube_.Apply("/api/v1/namespaces/" + ns,
                                                           NamespaceObject(spec, ns));
                                return applied.ok() ? Status::Ok() : Status(applied.error());
                            });
            !s.ok()) {
            return s;
        }
    }
    if (auto s = Ensure("drift-access", cancel, deadline,
                        [&] { return EnsureAccess(record.store_id, ns, cancel); });
        !s.ok()) {
        return s;
    }
    if (guardrails) {
        if (auto s = Ensure("drift-guardrails", cancel, deadline,
                            [&] { return EnsureGuardrails(spec, ns); });
            !s.ok()) {
            return s;
        }
    }
    if (release) {
        if (auto s = Ensure("drift-helm", cancel, deadline,
                            [&] { return helm_.Repair(kReleaseName, ns, cancel); });
            !s.ok()) {
            return s;
        }
    }
    return Status::Ok();
}

Result<nlohmann::json> StoreProvisioner::ReleaseRecord(const std::string& ns, uint64_t generation,
                                                       const CancelToken& cancel) {
    auto manifest = helm_.ReleaseManifest(kReleaseName, ns, cancel);
    if (!manifest.ok()) return manifest.error();
    auto record = ReleaseExpectation(*manifest, generation, ns);
    if (record.is_null())
        return Error::Retryable("helm_manifest", "the helm agent's manifest lists no objects");
    return record;
}

Status StoreProvisioner::RecordRelease(const std::string& ns, uint64_t generation,
                                       const std::string& resource_version,
                                       const CancelToken& cancel) {
    auto record = ReleaseRecord(ns, generation, cancel);
    if (!record.ok()) return record.error();
    const nlohmann::json patch = {
        {"metadata",
         {{"resourceVersion", resource_version},
          {"annotations", {{kReleaseObjectsAnnotation, record->dump()}}}}}};
    const std::string path = "/api/v1/namespaces/" + ns;
    auto patched = kube_.Call("PATCH", path + "?fieldManager=storefleet-observed", patch.dump(),
                              "application/merge-patch+json");
    if (!patched.ok()) return patched.error();
    if (patched->status != 200) return kube::ApiError("PATCH", path, *patched);
    return Status::Ok();
}

Result<Readiness> StoreProvisioner::CheckReadiness(const std::string& ns, bool suspended) {
    const std::string selector =
        "?labelSelector=app.kubernetes.io%2Finstance%3D" + std::string(kReleaseName);
    std::vector<std::pair<std::string, WorkloadState>> states;
    for (const auto& [kind, base] :
         {std::pair<std::string, std::string>{"deployments", "/apis/apps/v1"},
          {"statefulsets", "/apis/apps/v1"},
          {"jobs", "/apis/batch/v1"}}) {
        auto list = kube_.Get(base + "/namespaces/" + ns + "/" + kind + selector);
        if (!list.ok()) return list.error();
        for (const auto& item : (*list)["items"])
            states.emplace_back(kind, EvaluateWorkload(kind, item));
    }
    return CombineWorkloads(ns, states, suspended);
}

Status StoreProvisioner::WaitUntilReady(const std::string& ns, bool suspended, bool use_watcher,
                                        const CancelToken& cancel, Clock::time_point deadline) {
    std::string last_wait;
    for (;;) {
        const bool watched = use_watcher && watcher_ != nullptr && watcher_->Synced();
        auto readiness = watched ? watcher_->Check(ns, suspended) : CheckReadiness(ns, suspended);
        if (!readiness.ok() && !readiness.error().retryable()) return readiness.error();
        if (readiness.ok()) {
            if (readiness->ready) return Status::Ok();
            last_wait = readiness->waiting_for;
        }
        if (Clock::now() > deadline) {
            return Error::Permanent(
                "not_ready", std::string(suspended ? "the store did not stop in time"
                                                   : "the store did not become ready in time") +
                                 "; still waiting for " + last_wait);
        }
        if (watched) {
            watcher_->WaitForChange(options_.readiness_poll);
            if (cancel.Cancelled()) return Cancelled();
        } else if (cancel.Sleep(options_.readiness_poll)) {
            return Cancelled();
        }
    }
}

namespace {

// What keeps a terminating namespace: its conditions that hold and its finalizers, in
// words an operator can act on.
std::string DescribeTerminating(const nlohmann::json& ns) {
    std::string out;
    const auto status = ns.value("status", nlohmann::json::object());
    for (const auto& condition : status.value("conditions", nlohmann::json::array())) {
        if (condition.value("status", "") != "True") continue;
        const std::string message = condition.value("message", condition.value("type", ""));
        if (message.empty()) continue;
        if (!out.empty()) out += "; ";
        out += message;
    }
    std::string finalizers;
    for (const auto* where : {"spec", "metadata"}) {
        for (const auto& finalizer : ns.value(where, nlohmann::json::object())
                                         .value("finalizers", nlohmann::json::array())) {
            if (!finalizers.empty()) finalizers += ", ";
            finalizers += finalizer.get<std::string>();
        }
    }
    if (!finalizers.empty())
        out += (out.empty() ? "" : "; ") + std::string("namespace finalizers: ") + finalizers;
    return out.empty() ? "no condition reported yet" : out;
}

}  // namespace

Status StoreProvisioner::WaitUntilNamespaceGone(const Command& command, const std::string& ns,
                                                const CancelToken& cancel,
                                                Clock::time_point deadline) {
    const auto started = Clock::now();
    auto wait = options_.readiness_poll;
    std::string reported;
    uint32_t reports = 0;
    std::string holders = "its state could not be read";
    for (;;) {
        auto response = kube_.Call("GET", "/api/v1/namespaces/" + ns);
        if (response.ok() && response->status == 404) return Status::Ok();
        if (response.ok() && response->status == 200) {
            holders = DescribeTerminating(nlohmann::json::parse(response->body, nullptr, false));
            const auto waited =
                std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - started);
            // Still deleting, but say what holds it so an operator can act.
            if (waited >= options_.namespace_stuck_after && holders != reported && reports < 255) {
                reported = holders;
                ++reports;
                log::Warn("store namespace is stuck terminating",
                          {{"store_id", command.envelope.store_id()},
                           {"namespace", ns},
                           {"holders", holders}});
                // The tenant gets plain words; what holds it (API-server text) stays in the log.
                auto emitted = Emit(command, cancel,
                                    {v1::STORE_STATUS_DELETING, "namespace",
                                     "the store's resources are still being removed after " +
                                         std::to_string(waited.count()) +
                                         "s; the platform's operators have the details in its logs",
                                     "", "", ns, 4, reports});
                if (!emitted.ok()) return Cancelled();
            }
        }
        if (Clock::now() > deadline) {
            log::Error("store namespace still terminating at the deadline",
                       {{"store_id", command.envelope.store_id()},
                        {"namespace", ns},
                        {"holders", holders}});
            return Error::Permanent(
                "namespace_stuck",
                "the store's resources could not all be removed in time; the platform's operators "
                "have the details in its logs; delete the store again later");
        }
        if (cancel.Sleep(Jittered(wait))) return Cancelled();
        // Poll briskly while a deletion is normal; back off once it is stuck.
        if (Clock::now() - started >= options_.namespace_stuck_after) {
            wait = std::min(wait * 3 / 2, std::chrono::milliseconds(10'000));
        }
    }
}

std::string TenantReason(const Error& error, const std::string& step) {
    // Our own sentences about the tenant's own store: shown as they are.
    static const std::set<std::string> kPlain = {"not_ready",
                                                 "setup_failed",
                                                 "namespace_stuck",
                                                 "bad_command",
                                                 "namespace_terminating",
                                                 "engine_unavailable",
                                                 "placement_unavailable",
                                                 "chart_version_unavailable"};
    if (kPlain.count(error.code) != 0U) return error.message;
    const std::string where =
        " (step " + step + "); the platform's operators have the details in its logs";
    if (error.code.rfind("helm", 0) == 0) return "installing the store's software failed" + where;
    if (error.code == "k8s_forbidden")
        return "the platform is not allowed to create this store's resources" + where;
    if (error.code == "k8s_rejected" || error.code == "conflict") {
        return "the cluster refused one of the store's resources" + where;
    }
    if (error.code == "k8s_unavailable" || error.code == "k8s_unreachable") {
        return "the cluster could not be reached" + where;
    }
    if (error.code == "deadline")
        return "the store could not be set up before its deadline" + where;
    return "setting up the store failed" + where;
}

CommandOutcome StoreProvisioner::Provision(const Command& cmd, const CancelToken& cancel,
                                           AdmissionPermit& permit) {
    const v1::Envelope& command = cmd.envelope;
    const auto started = Clock::now();
    const auto deadline = started + options_.store_deadline;
    const std::string ns = NamespaceFor(command.store_id());
    const uint64_t generation = events::CommandGeneration(command);
    // What the namespace said before this command changed anything (decides Degraded).
    StoreRecord record;
    // Step k announces itself with index 2k, fails with 2k+1; ready is 12.
    uint32_t step_index = 0;
    std::string step_name = "request";
    // The store chart's version this command installs, on each of its statuses.
    std::string chart_version;
    auto fail = [&](const Error& error) {
        if (error.code == "cancelled") return StoppedOutcome(cancel);
        const v1::StoreStatus status = FailureStatus(generation, record);
        const bool degraded = status == v1::STORE_STATUS_DEGRADED;
        // The raw text (Helm's, the API server's) goes to the log; the tenant gets plain words.
        log::Error(degraded ? "store change failed; the store is degraded" : "store failed",
                   {{"store_id", command.store_id()},
                    {"correlation_id", command.correlation_id()},
                    {"generation", generation},
                    {"step", step_name},
                    {"code", error.code},
                    {"error", error.message}});
        registry_
            .GetCounter("storefleet_provisioner_stores_total", "Stores finished, by outcome.",
                        {{"outcome", degraded ? "degraded" : "failed"}})
            .Inc();
        const std::string reason =
            degraded ? "the change could not be applied and the store keeps running as it was: " +
                           TenantReason(error, step_name)
                     : TenantReason(error, step_name);
        if (!Emit(cmd, cancel,
                  {status, degraded ? "degraded" : "failed", reason, "", "", ns, step_index + 1, 0,
                   0, chart_version})
                 .ok()) {
            return StoppedOutcome(cancel);
        }
        return CommandOutcome::kFinished;
    };
    auto spec = SpecFromEvent(command);
    if (!spec.ok()) return fail(spec.error());

    // The store's record, read before anything is written or emitted: a stale or converged
    // command leaves no trace (a replay of a converged store costs this one GET).
    step_name = "namespace";
    if (auto read = Ensure("namespace", cancel, deadline,
                           [&]() -> Status {
                               auto found = ReadRecord(ns);
                               if (!found.ok()) return found.error();
                               record = *found;
                               return Status::Ok();
                           });
        !read.ok()) {
        return fail(read.error());
    }
    if (const auto decision = Decide(*spec, record); decision != Convergence::kConverge) {
        log::Info(decision == Convergence::kStale
                      ? "stale store command: a newer generation started"
                      : "store already converged to this generation",
                  {{"store_id", command.store_id()},
                   {"correlation_id", command.correlation_id()},
                   {"generation", generation},
                   {"started_generation", record.generation},
                   {"observed_generation", record.observed_generation}});
        registry_
            .GetCounter("storefleet_provisioner_commands_skipped_total",
                        "Store commands that changed nothing: stale or already converged.",
                        {{"why", decision == Convergence::kStale ? "stale" : "converged"}})
            .Inc();
        return CommandOutcome::kFinished;
    }
    step_name = "request";

    if (!options_.charts.Offers(spec->engine))
        return fail(
            Error::Permanent("engine_unavailable", spec->engine + " stores are not offered here"));
    const events::ChartVersion* chart_entry =
        options_.charts.Find(spec->engine, spec->chart_version);
    if (chart_entry == nullptr) {
        std::string offered;
        for (const auto& version : options_.charts.Versions(spec->engine))
            offered += (offered.empty() ? "" : ", ") + version;
        return fail(Error::Permanent("chart_version_unavailable",
                                     spec->engine + " chart version " + spec->chart_version +
                                         " is not installed on this platform (it has " + offered +
                                         ")"));
    }
    chart_version = chart_entry->version;
    const std::string& chart = chart_entry->dir;
    // placement real-node: the chart's own values-real-node.yaml (node selector, toleration,
    // the node's local images) goes under the store's values.
    std::vector<std::string> values_files;
    if (spec->real_node) {
        const std::string real_node_values = chart + "/values-real-node.yaml";
        if (!options_.real_node) {
            return fail(Error::Permanent("placement_unavailable",
                                         "this platform has no real node; ask for placement any"));
        }
        if (!std::filesystem::exists(real_node_values)) {
            return fail(Error::Permanent("placement_unavailable",
                                         spec->engine + " stores cannot run on the real node"));
        }
        values_files.push_back(real_node_values);
    }

    struct Step {
        const char* name;
        std::function<Status()> attempt;
    };
    const Step steps[] = {
        {"namespace", [&] { return EnsureNamespace(*spec, ns, cancel); }},
        {"guardrails", [&] { return EnsureGuardrails(*spec, ns); }},
        {"secret", [&] { return EnsureSecret(*spec, ns); }},
        {"helm",
         [&] {
             return helm_.UpgradeInstall(kReleaseName, ns, chart, values_files,
                                         ChartValues(*spec, options_.ingress_class), cancel);
         }},
    };
    for (const auto& step : steps) {
        step_index += 2;
        step_name = step.name;
        if (auto emitted = Emit(cmd, cancel,
                                {v1::STORE_STATUS_PROVISIONING, step.name, "", "", "", ns,
                                 step_index, 0, 0, chart_version});
            !emitted.ok())
            return fail(emitted.error());
        const auto step_start = Clock::now();
        if (auto status = Ensure(step.name, cancel, deadline, step.attempt); !status.ok())
            return fail(status.error());
        ObserveStep(step.name, step_start);
    }
    step_index += 2;
    step_name = "readiness";
    // The API-heavy part is done: waiting for pods is a shared watch, so this store's
    // admission permit goes to the next one.
    permit.Release();
    if (auto emitted = Emit(cmd, cancel,
                            {v1::STORE_STATUS_PROVISIONING, "readiness", "", "", "", ns, step_index,
                             0, 0, chart_version});
        !emitted.ok())
        return fail(emitted.error());
    const auto ready_start = Clock::now();
    // A store that never converged has no workloads the watch could hold as they were.
    const bool use_watcher = record.observed_generation == 0;
    if (auto status = WaitUntilReady(ns, spec->suspended, use_watcher, cancel, deadline);
        !status.ok())
        return fail(status.error());
    ObserveStep("readiness", ready_start);

    const std::string url = options_.url_scheme + "://" + spec->host + "/";
    const std::string admin_url = url + (spec->engine == "medusa" ? "app" : "wp-admin/");
    const v1::StoreStatus converged =
        spec->suspended ? v1::STORE_STATUS_SUSPENDED : v1::STORE_STATUS_READY;
    if (auto emitted = Emit(cmd, cancel,
                            {converged, spec->suspended ? "suspended" : "ready", "", url, admin_url,
                             ns, 12, 0, generation, chart_version});
        !emitted.ok())
        return fail(emitted.error());
    // Only after the status went out: a crash before this line runs the command again.
    step_name = "observed-generation";
    // What drift judges the release's objects against, recorded with the generation (read from
    // Helm's release record, never from a watch cache that may lag; ADR 0012). Null removes an
    // older generation's record.
    nlohmann::json observed = ObservedGenerationPatch(generation, cmd.offset);
    const auto release_record = ReleaseRecord(ns, generation, cancel);
    if (!release_record.ok() && release_record.error().code != "unsupported" &&
        release_record.error().code != "cancelled") {
        log::Warn(
            "release manifest not read: the store's chart objects are not judged for drift "
            "until the safety net records them",
            {{"store_id", command.store_id()}, {"error", release_record.error().message}});
    }
    observed["metadata"]["annotations"][kReleaseObjectsAnnotation] =
        release_record.ok() ? nlohmann::json(release_record->dump()) : nlohmann::json();
    if (auto recorded = Ensure("observed-generation", cancel, deadline,
                               [&]() -> Status {
                                   const std::string path = "/api/v1/namespaces/" + ns;
                                   auto patched = kube_.Call(
                                       "PATCH", path + "?fieldManager=storefleet-observed",
                                       observed.dump(), "application/merge-patch+json");
                                   if (!patched.ok()) return patched.error();
                                   if (patched->status != 200)
                                       return kube::ApiError("PATCH", path, *patched);
                                   return Status::Ok();
                               });
        !recorded.ok()) {
        if (recorded.error().code == "cancelled") return StoppedOutcome(cancel);
        // The store did converge and said so; without the annotation a replay of this command
        // converges it again (Helm unchanged), which is harmless.
        log::Error("store converged but its observed generation was not recorded",
                   {{"store_id", command.store_id()},
                    {"generation", generation},
                    {"error", recorded.error().message}});
    }
    registry_
        .GetCounter("storefleet_provisioner_stores_total", "Stores finished, by outcome.",
                    {{"outcome", spec->suspended ? "suspended" : "ready"}})
        .Inc();
    // Creates only: these measure how long a new store takes.
    if (command.has_store_requested()) {
        registry_
            .GetHistogram("storefleet_provisioner_store_seconds",
                          "From command taken to store Ready.")
            .Observe(std::chrono::duration<double>(Clock::now() - started).count());
    }
    // POST to Ready, what a tenant waits: the command's occurred_at is when intake accepted
    // the POST (another host's clock, so never below zero). Charted by the Grafana dashboard.
    if (command.has_store_requested() && command.has_occurred_at()) {
        const double requested_at = static_cast<double>(command.occurred_at().seconds()) +
                                    static_cast<double>(command.occurred_at().nanos()) / 1e9;
        const double now =
            std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
                .count();
        registry_
            .GetHistogram("storefleet_store_post_to_ready_seconds",
                          "From the POST that asked for a store to Ready.")
            .Observe(std::max(0.0, now - requested_at));
    }
    log::Info(
        spec->suspended ? "store suspended" : "store ready",
        {{"store_id", command.store_id()},
         {"correlation_id", command.correlation_id()},
         {"generation", generation},
         {"duration_ms",
          std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count()}});
    return CommandOutcome::kFinished;
}

CommandOutcome StoreProvisioner::Deprovision(const Command& cmd, const CancelToken& cancel) {
    const v1::Envelope& command = cmd.envelope;
    const auto started = Clock::now();
    const auto deadline = started + options_.store_deadline;
    const std::string ns = NamespaceFor(command.store_id());
    // helm-uninstall is step 1 (index 2), namespace step 2 (index 4), deleted 6; a failure
    // at step k is 2k+1.
    uint32_t step_index = 0;
    auto fail = [&](const Error& error) {
        if (error.code == "cancelled") return StoppedOutcome(cancel);
        log::Error(
            "store deletion failed",
            {{"store_id", command.store_id()}, {"code", error.code}, {"error", error.message}});
        if (!Emit(cmd, cancel,
                  {v1::STORE_STATUS_FAILED, "deletion", TenantReason(error, "deletion"), "", "", ns,
                   step_index + 1, 0})
                 .ok()) {
            return StoppedOutcome(cancel);
        }
        return CommandOutcome::kFinished;
    };
    // The namespace name comes from the id: anything but a UUID could name another namespace.
    if (!IsUuid(command.store_id()))
        return fail(Error::Permanent("bad_command", "store id is not a UUID"));
    step_index = 2;
    if (auto emitted =
            Emit(cmd, cancel,
                 {v1::STORE_STATUS_DELETING, "helm-uninstall", "", "", "", ns, step_index, 0});
        !emitted.ok())
        return fail(emitted.error());
    auto namespace_exists = kube_.Call("GET", "/api/v1/namespaces/" + ns);
    if (!(namespace_exists.ok() && namespace_exists->status == 404)) {
        // A store made before the provisioner bound itself per namespace has no RoleBinding yet;
        // without it Helm may not read its release there. Best effort: in a namespace already
        // terminating it cannot be created, and Helm's own error then says what failed.
        if (auto access = EnsureAccess(command.store_id(), ns, cancel); !access.ok()) {
            if (access.error().code == "cancelled") return fail(access.error());
            log::Warn("store RoleBinding not ensured before uninstall",
                      {{"store_id", command.store_id()},
                       {"namespace", ns},
                       {"error", access.error().message}});
        }
        // From here the store's objects go: tell the drift watch it is the deletion's doing
        // (ADR 0012). Best effort: a namespace already terminating says so itself.
        const nlohmann::json deleting = {
            {"metadata", {{"annotations", {{kDeletingAnnotation, "true"}}}}}};
        if (auto marked = kube_.Call(
                "PATCH", "/api/v1/namespaces/" + ns + "?fieldManager=storefleet-observed",
                deleting.dump(), "application/merge-patch+json");
            !marked.ok() || (marked->status != 200 && marked->status != 404)) {
            log::Warn("store namespace not marked deleting",
                      {{"store_id", command.store_id()}, {"namespace", ns}});
        }
        if (auto status = Ensure("helm-uninstall", cancel, deadline,
                                 [&] { return helm_.Uninstall(kReleaseName, ns, cancel); });
            !status.ok()) {
            return fail(status.error());
        }
    }
    step_index = 4;
    if (auto emitted = Emit(
            cmd, cancel, {v1::STORE_STATUS_DELETING, "namespace", "", "", "", ns, step_index, 0});
        !emitted.ok())
        return fail(emitted.error());
    if (auto status = Ensure("namespace-delete", cancel, deadline,
                             [&] { return kube_.Delete("/api/v1/namespaces/" + ns); });
        !status.ok()) {
        return fail(status.error());
    }
    if (auto status = WaitUntilNamespaceGone(cmd, ns, cancel, deadline); !status.ok())
        return fail(status.error());
    if (auto emitted =
            Emit(cmd, cancel, {v1::STORE_STATUS_DELETED, "deleted", "", "", "", ns, 6, 0});
        !emitted.ok())
        return fail(emitted.error());
    ObserveStep("deletion", started);
    log::Info("store deleted",
              {{"store_id", command.store_id()}, {"correlation_id", command.correlation_id()}});
    return CommandOutcome::kFinished;
}

Status StoreProvisioner::ReportGivenUp(const Command& cmd, int attempts,
                                       const CancelToken& cancel) {
    const v1::Envelope& command = cmd.envelope;
    if (events::IsDataCommand(command)) {
        // The store itself is as it was: only the backup or restore failed.
        return statuses_.PublishData(
            cmd,
            {"failed",
             "the platform failed " + std::to_string(attempts) +
                 " times to run it; the platform's operators have the details in its logs",
             0, 0, kGivenUpStepIndex},
            cancel);
    }
    const bool deletion = command.has_store_deletion_requested();
    const std::string ns = NamespaceFor(command.store_id());
    // A change of a store that had converged is Degraded: it keeps serving. Best effort: a
    // record that cannot be read now reports Failed, as before generations.
    v1::StoreStatus status = v1::STORE_STATUS_FAILED;
    if (command.has_store_change_requested() && IsUuid(command.store_id())) {
        if (auto record = ReadRecord(ns); record.ok())
            status = FailureStatus(events::CommandGeneration(command), *record);
    }
    const bool degraded = status == v1::STORE_STATUS_DEGRADED;
    std::string reason;
    if (deletion) {
        reason = "deleting the store failed " + std::to_string(attempts) +
                 " times; ask to delete it again; the platform's operators have the details in "
                 "its logs";
    } else if (degraded) {
        reason = "applying the change failed " + std::to_string(attempts) +
                 " times and the store keeps running as it was; the platform's operators have "
                 "the details in its logs";
    } else {
        reason = "setting up the store failed " + std::to_string(attempts) +
                 " times; the platform's operators have the details in its logs";
    }
    // The last index of the command's steps: it sorts after everything the attempts emitted
    // and before the store's next command.
    const StatusUpdate update{status,
                              deletion ? "deletion" : (degraded ? "degraded" : "failed"),
                              reason,
                              "",
                              "",
                              ns,
                              kGivenUpStepIndex,
                              0};
    return Emit(cmd, cancel, update);
}

}  // namespace storefleet::provisioner
