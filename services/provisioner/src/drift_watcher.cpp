#include "drift_watcher.hpp"

#include <algorithm>
#include <random>

#include "provisioner.hpp"
#include "store_lease.hpp"
#include "storefleet/common/backoff.hpp"
#include "storefleet/common/log.hpp"
#include "storefleet/events/envelope.hpp"
#include "storefleet/events/status.hpp"

namespace storefleet::provisioner {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr const char* kStoreIdSelector = "labelSelector=storefleet.io%2Fstore-id";
constexpr const char* kReleaseSelector = "labelSelector=app.kubernetes.io%2Finstance%3Dstore";

struct Watched {
    const char* collection;
    const char* path;
    const char* selector;
};
// The drift watcher's own watches; Deployments and StatefulSets come from the readiness
// watcher's (ReadinessWatcher::Also).
constexpr Watched kWatched[] = {
    {"namespaces", "/api/v1/namespaces", kStoreIdSelector},
    {"networkpolicies", "/apis/networking.k8s.io/v1/networkpolicies", kStoreIdSelector},
    {"resourcequotas", "/api/v1/resourcequotas", kStoreIdSelector},
    {"limitranges", "/api/v1/limitranges", kStoreIdSelector},
    {"rolebindings", "/apis/rbac.authorization.k8s.io/v1/rolebindings", kStoreIdSelector},
    {"services", "/api/v1/services", kReleaseSelector},
    {"ingresses", "/apis/networking.k8s.io/v1/ingresses", kReleaseSelector},
};
constexpr std::size_t kKinds = std::size(kWatched) + 2;

std::string NamespaceOf(const std::string& collection, const json& object) {
    const auto& metadata = object["metadata"];
    return metadata.value(collection == "namespaces" ? "name" : "namespace", "");
}

std::string KeyOf(const std::string& kind, const json& object) {
    return kind + "/" + object["metadata"].value("name", "");
}

}  // namespace

DriftWatcher::DriftWatcher(kube::KubeApi& kube, const ShutdownFlag& shutdown, DriftOptions options)
    : kube_(kube), shutdown_(shutdown), options_(std::move(options)) {}

DriftWatcher::~DriftWatcher() {
    changed_.notify_all();
    for (auto& thread : threads_) {
        if (thread.joinable()) thread.join();
    }
}

ListWatchHandlers DriftWatcher::Handlers(const std::string& collection) {
    if (collection != "deployments" && collection != "statefulsets") return {};
    return {.list_begin = [this, collection] { ListBegin(collection); },
            .listed = [this, collection](const json& object) { Listed(collection, object); },
            .list_end = [this, collection] { ListEnd(collection); },
            .event = [this, collection](const std::string& type,
                                        const json& object) { Event(collection, type, object); }};
}

void DriftWatcher::Start() {
    for (const auto& watched : kWatched) {
        threads_.emplace_back([this, watched] {
            const std::string collection = watched.collection;
            RunListWatch(kube_, shutdown_, {collection, watched.path, watched.selector},
                         options_.watch_timeout,
                         {.list_begin = [&] { ListBegin(collection); },
                          .listed = [&](const json& object) { Listed(collection, object); },
                          .list_end = [&] { ListEnd(collection); },
                          .event = [&](const std::string& type,
                                       const json& object) { Event(collection, type, object); }},
                         "drift");
        });
    }
}

bool DriftWatcher::Synced() {
    std::lock_guard lock(mutex_);
    return synced_.size() >= kKinds;
}

void DriftWatcher::ListBegin(const std::string& collection) {
    std::lock_guard lock(mutex_);
    auto& before = listing_[collection];
    before.clear();
    if (collection == "namespaces") {
        for (const auto& [ns, store] : stores_) {
            if (!store.ns.is_null()) before.insert(ns + "\n");
        }
        return;
    }
    const auto kind = KindOfCollection(collection);
    if (!kind) return;
    const std::string prefix = *kind + "/";
    for (const auto& [ns, store] : stores_) {
        for (const auto& [key, facts] : store.objects) {
            if (key.rfind(prefix, 0) == 0) before.insert(ns + "\n" + key);
        }
    }
}

void DriftWatcher::Listed(const std::string& collection, const json& object) {
    std::lock_guard lock(mutex_);
    const std::string ns = NamespaceOf(collection, object);
    const auto kind = KindOfCollection(collection);
    listing_[collection].erase(ns + "\n" +
                               (collection == "namespaces" ? "" : KeyOf(*kind, object)));
    Put(collection, object);
}

void DriftWatcher::ListEnd(const std::string& collection) {
    std::lock_guard lock(mutex_);
    // What was known before the list and is not in it was deleted while no watch ran.
    for (const auto& gone : listing_[collection]) {
        const auto split = gone.find('\n');
        const std::string ns = gone.substr(0, split);
        const std::string key = gone.substr(split + 1);
        json object = {{"metadata", {{"namespace", ns}, {"name", ns}}}};
        if (!key.empty()) object["metadata"]["name"] = key.substr(key.find('/') + 1);
        Remove(collection, object);
    }
    listing_.erase(collection);
    // Once a kind is listed, what it lacks is judged too (a guardrail deleted while no
    // provisioner watched): every store is looked at again.
    if (synced_.insert(collection).second) {
        for (const auto& [ns, store] : stores_) MaybeQueueLocked(ns);
    }
    changed_.notify_all();
}

void DriftWatcher::Event(const std::string& collection, const std::string& type,
                         const json& object) {
    std::lock_guard lock(mutex_);
    if (type == "DELETED") {
        Remove(collection, object);
    } else {
        Put(collection, object);
    }
}

void DriftWatcher::Put(const std::string& collection, const json& object) {
    const std::string ns = NamespaceOf(collection, object);
    if (ns.empty()) return;
    auto& store = stores_[ns];
    if (collection == "namespaces") {
        store.ns = {{"metadata", object["metadata"]},
                    {"status", object.value("status", json::object())}};
        MaybeQueueLocked(ns);
        return;
    }
    const auto kind = KindOfCollection(collection);
    if (!kind) return;
    const std::string key = KeyOf(*kind, object);
    json facts;
    const auto spec = object.value("spec", json::object());
    if (collection == "deployments" || collection == "statefulsets") {
        facts = WorkloadFacts(object)["spec"];
    } else if (collection == "networkpolicies" || collection == "resourcequotas" ||
               collection == "limitranges") {
        facts = spec;
    }
    store.objects[key] = std::move(facts);
    store.deleted.erase(key);
    MaybeQueueLocked(ns);
}

void DriftWatcher::Remove(const std::string& collection, const json& object) {
    const std::string ns = NamespaceOf(collection, object);
    if (collection == "namespaces") {
        stores_.erase(ns);
        queued_.erase(ns);
        return;
    }
    auto it = stores_.find(ns);
    const auto kind = KindOfCollection(collection);
    if (it == stores_.end() || !kind) return;
    const std::string name = object["metadata"].value("name", "");
    const std::string key = *kind + "/" + name;
    it->second.objects.erase(key);
    it->second.deleted[key] = Drift{*kind, name, "deleted", *kind + " " + name + " was deleted"};
    MaybeQueueLocked(ns);
}

std::vector<Drift> DriftWatcher::CurrentLocked(const Store& store,
                                               const DriftRecord& record) const {
    std::vector<Drift> drifts;
    if (!record.exists || !record.converged) return drifts;
    auto add = [&](std::vector<Drift> more) {
        drifts.insert(drifts.end(), std::make_move_iterator(more.begin()),
                      std::make_move_iterator(more.end()));
    };
    if (!store.ns.is_null()) add(NamespaceDrift(store.ns));
    for (const auto& [key, drift] : store.deleted) {
        if (auto deleted = DeletedDrift(drift.kind, drift.name, record)) drifts.push_back(*deleted);
    }
    // A guardrail, an object of the release or the provisioner's RoleBinding that the lists
    // never had: deleted while no provisioner watched (or before this one started). Judged
    // only once its kind has been listed.
    for (const auto& expected :
         ExpectedObjects(record, options_.ingress_namespace, options_.rolebinding)) {
        const std::string key = expected.kind + "/" + expected.name;
        if (synced_.count(expected.collection) == 0U || store.objects.count(key) != 0U ||
            store.deleted.count(key) != 0U)
            continue;
        if (auto missing = MissingDrift(expected.kind, expected.name, record))
            drifts.push_back(*missing);
    }
    for (const auto& [key, facts] : store.objects) {
        const auto slash = key.find('/');
        const std::string kind = key.substr(0, slash);
        const json object = {{"metadata", {{"name", key.substr(slash + 1)}}}, {"spec", facts}};
        if (kind == "Deployment" || kind == "StatefulSet") {
            add(WorkloadDrift(kind, object, record));
        } else if (kind == "NetworkPolicy" || kind == "ResourceQuota" || kind == "LimitRange") {
            add(GuardrailDrift(kind, object, record, options_.ingress_namespace));
        }
    }
    drifts.insert(drifts.end(), store.extra.begin(), store.extra.end());
    return Relevant(std::move(drifts), options_.ignore, record);
}

void DriftWatcher::MaybeQueueLocked(const std::string& ns) {
    // Nothing is judged from a partial cache: at a start, every kind is listed first (a store
    // restarted after drift is then repaired once, for all of it).
    if (synced_.size() < kKinds) return;
    if (busy_.count(ns) != 0U) {
        changed_while_busy_.insert(ns);  // judged again once the worker is done with it
        return;
    }
    if (queued_.count(ns) != 0U) return;
    auto it = stores_.find(ns);
    if (it == stores_.end()) return;
    const DriftRecord record = DriftRecordFromNamespace(it->second.ns);
    if (EffectiveMode(options_.mode, record) == DriftMode::kOff) return;
    if (CurrentLocked(it->second, record).empty()) return;
    queued_[ns] = Clock::now() + options_.settle;
    changed_.notify_all();
}

bool DriftWatcher::Next(std::string& ns, std::vector<Drift>& drifts) {
    std::unique_lock lock(mutex_);
    while (!shutdown_.Triggered()) {
        auto best = queued_.end();
        for (auto it = queued_.begin(); it != queued_.end(); ++it) {
            if (best == queued_.end() || it->second < best->second) best = it;
        }
        const auto now = Clock::now();
        if (best == queued_.end() || best->second > now) {
            const auto until = best == queued_.end()
                                   ? now + std::chrono::seconds(1)
                                   : std::min(best->second, now + std::chrono::seconds(1));
            changed_.wait_until(lock, until);
            continue;
        }
        ns = best->first;
        queued_.erase(best);
        auto store = stores_.find(ns);
        if (store == stores_.end()) continue;
        drifts = CurrentLocked(store->second, DriftRecordFromNamespace(store->second.ns));
        if (drifts.empty()) continue;
        busy_.insert(ns);
        return true;
    }
    return false;
}

void DriftWatcher::Done(const std::string& ns, bool again) {
    std::lock_guard lock(mutex_);
    busy_.erase(ns);
    const bool changed = changed_while_busy_.erase(ns) != 0U;
    auto it = stores_.find(ns);
    if (it == stores_.end()) return;
    it->second.extra.clear();
    if (!again && !changed) return;
    MaybeQueueLocked(ns);
    // A repair that failed: tried again later, not at once.
    if (auto queued = queued_.find(ns); again && queued != queued_.end())
        queued->second = Clock::now() + 5 * options_.settle;
}

std::vector<Drift> DriftWatcher::Current(const std::string& ns, const DriftRecord& record) {
    std::lock_guard lock(mutex_);
    auto it = stores_.find(ns);
    if (it == stores_.end()) return {};
    return CurrentLocked(it->second, record);
}

DriftRecord DriftWatcher::Record(const std::string& ns) {
    std::lock_guard lock(mutex_);
    auto it = stores_.find(ns);
    return it == stores_.end() ? DriftRecord{} : DriftRecordFromNamespace(it->second.ns);
}

void DriftWatcher::Enqueue(const std::string& ns, std::vector<Drift> extra) {
    std::lock_guard lock(mutex_);
    auto it = stores_.find(ns);
    if (it == stores_.end()) return;
    it->second.extra = std::move(extra);
    MaybeQueueLocked(ns);
    if (auto queued = queued_.find(ns); queued != queued_.end()) queued->second = Clock::now();
}

bool DriftWatcher::Queued(const std::string& ns) {
    std::lock_guard lock(mutex_);
    return queued_.count(ns) != 0U;
}

std::vector<std::string> DriftWatcher::Stores() {
    std::lock_guard lock(mutex_);
    std::vector<std::string> out;
    for (const auto& [ns, store] : stores_) {
        if (!store.ns.is_null()) out.push_back(ns);
    }
    return out;
}

DriftRepairer::DriftRepairer(kube::KubeApi& kube, DriftWatcher& watcher, StoreLeases& leases,
                             StoreProvisioner& provisioner, kafka::EventPublisher& publisher,
                             metrics::Registry& registry, const ShutdownFlag& shutdown,
                             DriftOptions options)
    : kube_(kube),
      watcher_(watcher),
      leases_(leases),
      provisioner_(provisioner),
      publisher_(publisher),
      registry_(registry),
      shutdown_(shutdown),
      options_(std::move(options)) {}

DriftRepairer::~DriftRepairer() {
    for (auto& thread : threads_) {
        if (thread.joinable()) thread.join();
    }
}

void DriftRepairer::Start() {
    for (std::size_t i = 0; i < std::max<std::size_t>(1, options_.max_repairs); ++i)
        threads_.emplace_back([this] { Worker(); });
    if (options_.resync.count() > 0) threads_.emplace_back([this] { SafetyNet(); });
}

void DriftRepairer::Worker() {
    std::string ns;
    std::vector<Drift> drifts;
    while (watcher_.Next(ns, drifts)) {
        bool again = true;
        try {
            again = Handle(ns);
        } catch (const std::exception& error) {
            log::Error("drift handling failed", {{"namespace", ns}, {"error", error.what()}});
        }
        watcher_.Done(ns, again);
    }
}

bool DriftRepairer::Handle(const std::string& ns) {
    const DriftRecord cached = watcher_.Record(ns);
    if (EffectiveMode(options_.mode, cached) == DriftMode::kOff || cached.store_id.empty())
        return false;
    CancelToken cancel(shutdown_);
    // As a command does: one runner per store. A command converging it holds the lease, and
    // once we hold it the namespace says whether it converged since.
    auto held = leases_.Acquire(cached.store_id, cancel);
    if (!held.ok()) return !shutdown_.Triggered();
    auto fresh = kube_.Call("GET", "/api/v1/namespaces/" + ns);
    if (!fresh.ok()) return true;
    if (fresh->status != 200) return fresh->status != 404;
    const json live_ns = json::parse(fresh->body, nullptr, false);
    const DriftRecord record = DriftRecordFromNamespace(live_ns);
    const DriftMode mode = EffectiveMode(options_.mode, record);
    // A command converging the store writes its namespace when done: that event queues it again.
    if (mode == DriftMode::kOff || !record.converged) return false;
    auto confirmed = Confirm(ns, live_ns, record, watcher_.Current(ns, record));
    if (!confirmed.ok()) return true;  // not confirmable now (the API did not answer): later
    const std::vector<Drift> drifts = std::move(*confirmed);
    // Only in a lagging cache: its events are on their way.
    if (drifts.empty()) return false;
    std::vector<Drift> unrepairable;
    std::copy_if(drifts.begin(), drifts.end(), std::back_inserter(unrepairable),
                 [](const Drift& drift) { return !IsRepairable(drift); });
    const bool repairs = mode == DriftMode::kRepair && unrepairable.size() < drifts.size();
    auto count = [&](const std::string& action) {
        for (const auto& drift : drifts) {
            const std::string what = IsRepairable(drift) ? action : "unrepairable";
            registry_
                .GetCounter("storefleet_provisioner_drift_total",
                            "Drift found in converged stores, by kind and what was done.",
                            {{"kind", drift.kind}, {"action", what}})
                .Inc();
        }
    };
    std::string reason;
    std::string out_of_sync;
    bool failed = false;
    if (!repairs) {
        reason = DriftText(drifts, mode == DriftMode::kRepair ? DriftMode::kWarn : mode);
        // Said already (by this replica or another, before a restart or not); nothing since.
        if (record.reported == DriftDigest(reason)) return false;
        out_of_sync = reason;
        count("reported");
        log::Warn(
            "store drifts; not repaired",
            {{"store_id", record.store_id}, {"mode", DriftModeName(mode)}, {"drift", reason}});
    } else {
        const auto started = Clock::now();
        auto repaired = provisioner_.RepairDrift(record, drifts, cancel);
        if (!repaired.ok()) {
            if (repaired.error().code == "cancelled") return false;
            failed = true;
            reason = DriftText(drifts, DriftMode::kWarn) + "; the repair failed";
            out_of_sync = reason;
            count("failed");
            log::Error("drift repair failed", {{"store_id", record.store_id},
                                               {"drift", reason},
                                               {"error", repaired.error().message}});
            // Tried again later; reported once.
            if (record.reported == DriftDigest(reason)) return true;
        } else {
            reason = DriftText(drifts, DriftMode::kRepair);
            out_of_sync = unrepairable.empty() ? "" : DriftText(unrepairable, DriftMode::kRepair);
            count("repaired");
            const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
            registry_
                .GetHistogram("storefleet_provisioner_drift_repair_seconds",
                              "Time a drift repair took, lease to repaired.")
                .Observe(seconds);
            log::Info("store drift repaired",
                      {{"store_id", record.store_id},
                       {"drift", reason},
                       {"duration_ms", static_cast<int64_t>(seconds * 1000)}});
        }
    }
    if (auto published = Publish(record, reason, out_of_sync, cancel); !published.ok()) {
        log::Warn("drift status not published",
                  {{"store_id", record.store_id}, {"error", published.error().message}});
    }
    // A failed repair is tried again. A repair done or a drift reported is not: what the watches
    // see next (the repair's own changes, or another drift) decides, never a loop of repairs.
    return failed;
}

Status DriftRepairer::Publish(const DriftRecord& record, const std::string& reason,
                              const std::string& drift, const CancelToken& cancel) {
    // Without the offset of the command it converged with, the event cannot be ordered among
    // the store's own (a store converged before drift repair existed): logged only.
    if (record.command_offset < 0)
        return Error::Permanent("unordered", "the store records no observed command offset");
    const std::string ns = NamespaceFor(record.store_id);
    const uint64_t n = record.drift_events;
    // The count first: a crash after it skips a sequence, never reuses one.
    const json patch = {
        {"metadata", {{"annotations", {{kDriftEventsAnnotation, std::to_string(n + 1)}}}}}};
    auto patched =
        kube_.Call("PATCH", "/api/v1/namespaces/" + ns + "?fieldManager=storefleet-observed",
                   patch.dump(), "application/merge-patch+json");
    if (!patched.ok()) return patched.error();
    if (patched->status != 200)
        return kube::ApiError("PATCH", "/api/v1/namespaces/" + ns, *patched);
    auto event = events::NewEnvelope(record.tenant_id, record.store_id,
                                     "drift-" + record.store_id + "-" + std::to_string(n));
    auto* changed = event.mutable_store_status_changed();
    const bool suspended = record.suspended.value_or(false);
    changed->set_status(suspended ? v1::STORE_STATUS_SUSPENDED : v1::STORE_STATUS_READY);
    changed->set_step("drift");
    changed->set_reason(reason);
    changed->set_namespace_(ns);
    changed->set_sequence(DriftSequence(record.command_offset, n));
    changed->set_generation(record.observed_generation);
    changed->set_observed_generation(record.observed_generation);
    changed->set_engine_name(record.engine);
    changed->set_drift(drift);
    events::SetTypeFromPayload(event);
    const std::vector<kafka::OutgoingMessage> batch = {
        {events::kStatusTopic, record.store_id, events::Encode(event), {}}};
    Backoff backoff(std::chrono::milliseconds(200), std::chrono::milliseconds(5000));
    for (;;) {
        auto status = publisher_.PublishAndWait(batch, std::chrono::seconds(10));
        if (status.ok()) break;
        if (cancel.Sleep(backoff.Next())) return Error::Permanent("cancelled", "cancelled");
    }
    // What the store was last said to be, once it is said: a crash before this reports it
    // again, never not at all.
    const json reported = {
        {"metadata", {{"annotations", {{kDriftReportedAnnotation, DriftDigest(drift)}}}}}};
    auto marked =
        kube_.Call("PATCH", "/api/v1/namespaces/" + ns + "?fieldManager=storefleet-observed",
                   reported.dump(), "application/merge-patch+json");
    if (!marked.ok()) return marked.error();
    if (marked->status != 200) return kube::ApiError("PATCH", "/api/v1/namespaces/" + ns, *marked);
    return Status::Ok();
}

Result<std::vector<Drift>> DriftRepairer::Confirm(const std::string& ns, const json& live_ns,
                                                  const DriftRecord& record,
                                                  std::vector<Drift> drifts) {
    std::map<std::string, json> live;  // "Kind/name" -> the object now (null: none)
    std::vector<Drift> confirmed;
    for (auto& drift : drifts) {
        json object;
        if (drift.kind == "Namespace") {
            object = live_ns;
        } else if (const auto path = CollectionPath(drift.kind, ns)) {
            const std::string key = drift.kind + "/" + drift.name;
            if (auto known = live.find(key); known != live.end()) {
                object = known->second;
            } else {
                // A list by name: the provisioner may list these kinds in every namespace,
                // but GET only some of them in a store's (decision 0009).
                auto got =
                    kube_.Call("GET", *path + "?fieldSelector=metadata.name%3D" + drift.name);
                if (!got.ok()) return got.error();
                if (got->status != 200) return kube::ApiError("GET", *path, *got);
                const auto list = json::parse(got->body, nullptr, false);
                const auto items =
                    list.is_object() ? list.value("items", json::array()) : json::array();
                object = items.empty() ? json() : items[0];
                live[key] = object;
            }
        } else {
            confirmed.push_back(std::move(drift));  // the safety net's own finding, just made
            continue;
        }
        if (StillDrifts(drift, object, record, options_.ingress_namespace))
            confirmed.push_back(std::move(drift));
    }
    return confirmed;
}

int DriftRepairer::Resync(const std::string& ns) {
    auto got = kube_.Call("GET", "/api/v1/namespaces/" + ns);
    if (!got.ok() || got->status != 200) return 1;
    const json live_ns = json::parse(got->body, nullptr, false);
    const DriftRecord record = DriftRecordFromNamespace(live_ns);
    if (!record.converged || EffectiveMode(options_.mode, record) == DriftMode::kOff) return 1;
    int made = 2;
    // A store converged without the release's record (before it existed, or the helm agent did
    // not answer then): read once from Helm's release record and written on the namespace, so
    // its chart objects are judged from then on (one agent call, one API request by it, one
    // PATCH; once per store). Its namespace event queues it with the record.
    if (record.release.is_null()) {
        CancelToken cancel(shutdown_);
        const std::string version = live_ns["metadata"].value("resourceVersion", std::string());
        auto recorded = provisioner_.RecordRelease(ns, record.observed_generation, version, cancel);
        if (recorded.ok() || recorded.error().code != "unsupported") made += 2;
        if (!recorded.ok() && recorded.error().code != "unsupported") {
            log::Info("release objects not recorded for drift yet",
                      {{"namespace", ns}, {"error", recorded.error().message}});
        }
    }
    std::vector<Drift> extra;
    // Secrets are never watched cluster-wide (decision 0009): the credentials Secret by name.
    auto secret = kube_.Call("GET", "/api/v1/namespaces/" + ns + "/secrets/" + kCredentialsSecret);
    if (secret.ok() && secret->status == 404) {
        if (auto deleted = DeletedDrift("Secret", kCredentialsSecret, record))
            extra.push_back(*deleted);
    }
    extra = Relevant(std::move(extra), options_.ignore, record);
    watcher_.Enqueue(ns, std::move(extra));
    return made;
}

void DriftRepairer::SafetyNet() {
    std::mt19937 random(std::random_device{}());
    auto& requests = registry_.GetCounter("storefleet_provisioner_drift_resync_requests_total",
                                          "API requests made by the drift safety net.");
    auto& compared = registry_.GetCounter("storefleet_provisioner_drift_resync_stores_total",
                                          "Stores compared by the drift safety net.");
    auto& comparison_seconds =
        registry_.GetHistogram("storefleet_provisioner_drift_resync_seconds",
                               "Time one safety-net comparison of a store took (its API calls).");
    // Nothing until the watches have listed: a store they have not seen yet is no drift.
    while (!shutdown_.Triggered() && !watcher_.Synced()) shutdown_.WaitFor(std::chrono::seconds(1));
    // A first round starts at a random point of the period, so replicas started together
    // do not compare in step.
    std::uniform_real_distribution<double> start(0.0, 1.0);
    shutdown_.WaitFor(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::duration<double>(
            start(random) * 0.1 * static_cast<double>(options_.resync.count()))));
    while (!shutdown_.Triggered()) {
        auto stores = watcher_.Stores();
        if (stores.empty()) {
            shutdown_.WaitFor(std::chrono::seconds(10));
            continue;
        }
        std::shuffle(stores.begin(), stores.end(), random);
        // Spread over the period, never faster than resync_rate stores a second.
        const double spacing = std::max(
            static_cast<double>(options_.resync.count()) / static_cast<double>(stores.size()),
            1.0 / std::max(options_.resync_rate, 0.001));
        std::uniform_real_distribution<double> jitter(0.8, 1.2);
        const auto round_start = Clock::now();
        int64_t round_requests = 0;
        for (const auto& ns : stores) {
            if (shutdown_.Triggered()) break;
            const auto compare_start = Clock::now();
            const int made = Resync(ns);
            comparison_seconds.Observe(
                std::chrono::duration<double>(Clock::now() - compare_start).count());
            round_requests += made;
            requests.Inc(made);
            compared.Inc();
            shutdown_.WaitFor(
                std::chrono::milliseconds(static_cast<int64_t>(spacing * jitter(random) * 1000.0)));
        }
        log::Info("drift safety net round done",
                  {{"stores", static_cast<int64_t>(stores.size())},
                   {"requests", round_requests},
                   {"seconds",
                    std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - round_start)
                        .count()}});
    }
}

}  // namespace storefleet::provisioner
