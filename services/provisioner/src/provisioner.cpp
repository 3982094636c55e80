#include "provisioner.hpp"

#include <random>

#include "storefleet/common/log.hpp"

namespace storefleet::provisioner {
namespace {

using Clock = std::chrono::steady_clock;

Error Cancelled() { return Error::Permanent("cancelled", "cancelled"); }

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

StoreProvisioner::StoreProvisioner(kube::KubeApi& kube, HelmRunner& helm, StatusSink& sink,
                                   metrics::Registry& registry, ProvisionerOptions options,
                                   ReadinessWatcher* watcher)
    : kube_(kube),
      helm_(helm),
      sink_(sink),
      registry_(registry),
      options_(std::move(options)),
      watcher_(watcher) {}

template <typename Fn>
Status StoreProvisioner::Ensure(const std::string& step, const CancelToken& cancel,
                                Clock::time_point deadline, Fn&& attempt) {
    auto backoff = std::chrono::milliseconds(250);
    auto& retries = registry_.GetCounter("storefleet_provisioner_step_retries_total",
                                         "Retryable failures of a provisioning step.", {{"step", step}});
    for (;;) {
        if (cancel.Cancelled()) return Cancelled();
        Status status = attempt();
        if (status.ok() || !status.error().retryable()) return status;
        retries.Inc();
        if (Clock::now() + backoff > deadline) {
            return Error::Permanent("deadline", "step '" + step + "' kept failing until the deadline: " +
                                                    status.error().message);
        }
        log::Warn("step failed; retrying", {{"step", step}, {"error", status.error().message},
                                            {"backoff_ms", backoff.count()}});
        if (cancel.Sleep(Jittered(backoff))) return Cancelled();
        backoff = std::min(backoff * 2, std::chrono::milliseconds(10'000));
    }
}

void StoreProvisioner::Emit(const v1::Envelope& command, StatusUpdate update) {
    auto status = sink_.Emit(command, update);
    if (!status.ok()) {
        // The sink retries until shutdown; failing here means we are stopping. The command's
        // offset is then not committed, so it is replayed and the update emitted again.
        log::Warn("status not emitted", {{"store_id", command.store_id()}, {"step", update.step},
                                         {"error", status.error().message}});
    }
}

void StoreProvisioner::ObserveStep(const std::string& step, Clock::time_point since) {
    registry_
        .GetHistogram("storefleet_provisioner_step_seconds", "Time spent in each provisioning step.",
                      {{"step", step}})
        .Observe(std::chrono::duration<double>(Clock::now() - since).count());
}

Status StoreProvisioner::EnsureNamespace(const StoreSpec& spec, const std::string& ns) {
    auto applied = kube_.Apply("/api/v1/namespaces/" + ns, NamespaceObject(spec, ns));
    if (!applied.ok()) return applied.error();
    if (applied->value("status", nlohmann::json::object()).value("phase", "") == "Terminating") {
        return Error::Retryable("namespace_terminating",
                                "namespace " + ns + " from an earlier deletion is still terminating");
    }
    return Status::Ok();
}

Status StoreProvisioner::EnsureGuardrails(const StoreSpec& spec, const std::string& ns) {
    const std::string base = "/api/v1/namespaces/" + ns;
    if (auto r = kube_.Apply(base + "/resourcequotas/store-quota", ResourceQuotaObject(spec, ns)); !r.ok()) {
        return r.error();
    }
    if (auto r = kube_.Apply(base + "/limitranges/store-limits", LimitRangeObject(spec, ns)); !r.ok()) {
        return r.error();
    }
    for (const auto& policy : NetworkPolicyObjects(spec, ns, options_.ingress_namespace)) {
        const std::string path = "/apis/networking.k8s.io/v1/namespaces/" + ns + "/networkpolicies/" +
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

Result<Readiness> StoreProvisioner::CheckReadiness(const std::string& ns) {
    const std::string selector = "?labelSelector=app.kubernetes.io%2Finstance%3D" + std::string(kReleaseName);
    std::vector<std::pair<std::string, WorkloadState>> states;
    for (const auto& [kind, base] : {std::pair<std::string, std::string>{"deployments", "/apis/apps/v1"},
                                     {"statefulsets", "/apis/apps/v1"},
                                     {"jobs", "/apis/batch/v1"}}) {
        auto list = kube_.Get(base + "/namespaces/" + ns + "/" + kind + selector);
        if (!list.ok()) return list.error();
        for (const auto& item : (*list)["items"]) states.emplace_back(kind, EvaluateWorkload(kind, item));
    }
    return CombineWorkloads(ns, states);
}

Status StoreProvisioner::WaitUntilReady(const std::string& ns, const CancelToken& cancel,
                                        Clock::time_point deadline) {
    std::string last_wait;
    for (;;) {
        const bool watched = watcher_ != nullptr && watcher_->Synced();
        auto readiness = watched ? watcher_->Check(ns) : CheckReadiness(ns);
        if (!readiness.ok() && !readiness.error().retryable()) return readiness.error();
        if (readiness.ok()) {
            if (readiness->ready) return Status::Ok();
            last_wait = readiness->waiting_for;
        }
        if (Clock::now() > deadline) {
            return Error::Permanent("not_ready", "the store did not become ready in time; still waiting for " +
                                                     last_wait);
        }
        if (watched) {
            watcher_->WaitForChange(options_.readiness_poll);
            if (cancel.Cancelled()) return Cancelled();
        } else if (cancel.Sleep(options_.readiness_poll)) {
            return Cancelled();
        }
    }
}

Status StoreProvisioner::WaitUntilNamespaceGone(const std::string& ns, const CancelToken& cancel,
                                                Clock::time_point deadline) {
    for (;;) {
        auto response = kube_.Call("GET", "/api/v1/namespaces/" + ns);
        if (response.ok() && response->status == 404) return Status::Ok();
        if (Clock::now() > deadline) {
            return Error::Permanent("namespace_stuck", "namespace " + ns + " is still terminating; check its finalizers");
        }
        if (cancel.Sleep(options_.readiness_poll)) return Cancelled();
    }
}

Outcome StoreProvisioner::Provision(const v1::Envelope& command, const CancelToken& cancel) {
    const auto started = Clock::now();
    const auto deadline = started + options_.store_deadline;
    const std::string ns = NamespaceFor(command.store_id());
    auto fail = [&](const Error& error) {
        if (error.code == "cancelled") return Outcome::kCancelled;
        log::Error("store failed", {{"store_id", command.store_id()}, {"correlation_id", command.correlation_id()},
                                    {"error", error.message}});
        registry_.GetCounter("storefleet_provisioner_stores_total", "Stores finished, by outcome.",
                             {{"outcome", "failed"}}).Inc();
        Emit(command, {v1::STORE_STATUS_FAILED, "failed", error.message, "", "", ns});
        return Outcome::kFinished;
    };
    auto spec = SpecFromEvent(command);
    if (!spec.ok()) return fail(spec.error());
    const std::string chart = spec->engine == "medusa" ? options_.medusa_chart : options_.woocommerce_chart;
    if (chart.empty()) return fail(Error::Permanent("engine_unavailable", spec->engine + " stores are not offered here"));

    struct Step {
        const char* name;
        std::function<Status()> attempt;
    };
    const Step steps[] = {
        {"namespace", [&] { return EnsureNamespace(*spec, ns); }},
        {"guardrails", [&] { return EnsureGuardrails(*spec, ns); }},
        {"secret", [&] { return EnsureSecret(*spec, ns); }},
        {"helm", [&] { return helm_.UpgradeInstall(kReleaseName, ns, chart, ChartValues(*spec, options_.ingress_class)); }},
    };
    for (const auto& step : steps) {
        Emit(command, {v1::STORE_STATUS_PROVISIONING, step.name, "", "", "", ns});
        const auto step_start = Clock::now();
        if (auto status = Ensure(step.name, cancel, deadline, step.attempt); !status.ok()) return fail(status.error());
        ObserveStep(step.name, step_start);
    }
    Emit(command, {v1::STORE_STATUS_PROVISIONING, "readiness", "", "", "", ns});
    const auto ready_start = Clock::now();
    if (auto status = WaitUntilReady(ns, cancel, deadline); !status.ok()) return fail(status.error());
    ObserveStep("readiness", ready_start);

    const std::string url = options_.url_scheme + "://" + spec->host + "/";
    const std::string admin_url = url + (spec->engine == "medusa" ? "app" : "wp-admin/");
    Emit(command, {v1::STORE_STATUS_READY, "ready", "", url, admin_url, ns});
    registry_.GetCounter("storefleet_provisioner_stores_total", "Stores finished, by outcome.",
                         {{"outcome", "ready"}}).Inc();
    registry_.GetHistogram("storefleet_provisioner_store_seconds", "From command taken to store Ready.")
        .Observe(std::chrono::duration<double>(Clock::now() - started).count());
    log::Info("store ready", {{"store_id", command.store_id()}, {"correlation_id", command.correlation_id()},
                              {"duration_ms", std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count()}});
    return Outcome::kFinished;
}

Outcome StoreProvisioner::Deprovision(const v1::Envelope& command, const CancelToken& cancel) {
    const auto started = Clock::now();
    const auto deadline = started + options_.store_deadline;
    const std::string ns = NamespaceFor(command.store_id());
    auto fail = [&](const Error& error) {
        if (error.code == "cancelled") return Outcome::kCancelled;
        log::Error("store deletion failed", {{"store_id", command.store_id()}, {"error", error.message}});
        Emit(command, {v1::STORE_STATUS_FAILED, "deletion", error.message, "", "", ns});
        return Outcome::kFinished;
    };
    Emit(command, {v1::STORE_STATUS_DELETING, "helm-uninstall", "", "", "", ns});
    auto namespace_exists = kube_.Call("GET", "/api/v1/namespaces/" + ns);
    if (!(namespace_exists.ok() && namespace_exists->status == 404)) {
        if (auto status = Ensure("helm-uninstall", cancel, deadline, [&] { return helm_.Uninstall(kReleaseName, ns); });
            !status.ok()) {
            return fail(status.error());
        }
    }
    Emit(command, {v1::STORE_STATUS_DELETING, "namespace", "", "", "", ns});
    if (auto status = Ensure("namespace-delete", cancel, deadline,
                             [&] { return kube_.Delete("/api/v1/namespaces/" + ns); });
        !status.ok()) {
        return fail(status.error());
    }
    if (auto status = WaitUntilNamespaceGone(ns, cancel, deadline); !status.ok()) return fail(status.error());
    Emit(command, {v1::STORE_STATUS_DELETED, "deleted", "", "", "", ns});
    ObserveStep("deletion", started);
    log::Info("store deleted", {{"store_id", command.store_id()}, {"correlation_id", command.correlation_id()}});
    return Outcome::kFinished;
}

}  // namespace storefleet::provisioner
