#include "store_lease.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <ctime>
#include <optional>
#include <random>
#include <vector>

#include "storefleet/common/backoff.hpp"
#include "storefleet/common/log.hpp"

namespace storefleet::provisioner {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

Error Cancelled() { return Error::Permanent("cancelled", "cancelled"); }

std::string RandomSuffix() {
    std::random_device random;
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (int i = 0; i < 8; ++i) out += kHex[random() % 16];
    return out;
}

std::string Hostname() {
    char name[256] = {};
    if (gethostname(name, sizeof(name) - 1) != 0) return "provisioner";
    return name;
}

std::string HolderOf(const json& lease) {
    return lease.value("spec", json::object()).value("holderIdentity", "");
}

}  // namespace

std::string MicroTimeNow() {
    const auto now = std::chrono::system_clock::now();
    const auto micros =
        std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count();
    const auto seconds = static_cast<std::time_t>(micros / 1'000'000);
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char text[64];
    std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%S", &utc);
    char full[80];
    std::snprintf(full, sizeof(full), "%s.%06lldZ", text,
                  static_cast<long long>(micros % 1'000'000));
    return full;
}

StoreLeases::StoreLeases(kube::KubeApi& kube, LeaseOptions options, metrics::Registry& registry)
    : kube_(kube),
      options_(std::move(options)),
      held_gauge_(registry.GetGauge("storefleet_provisioner_store_leases_held",
                                    "Store leases this process holds.")),
      lost_(registry.GetCounter("storefleet_provisioner_store_leases_lost_total",
                                "Store leases lost while a command ran (it stopped and retried).")),
      takeovers_(
          registry.GetCounter("storefleet_provisioner_store_lease_takeovers_total",
                              "Store leases taken over from a holder that stopped renewing.")),
      waits_(registry.GetCounter("storefleet_provisioner_store_lease_waits_total",
                                 "Times a command waited for another runner's store lease.")),
      renew_round_seconds_(
          registry.GetHistogram("storefleet_provisioner_lease_renew_round_seconds",
                                "Time one round took to renew every held store lease.")) {
    options_.renew_parallelism = std::max<std::size_t>(1, options_.renew_parallelism);
    const std::string base = options_.instance_id.empty()
                                 ? Hostname() + "-" + std::to_string(getpid())
                                 : options_.instance_id;
    identity_ = base + "/" + RandomSuffix();
}

StoreLeases::~StoreLeases() { Stop(); }

Status StoreLeases::EnsureNamespace() {
    const json ns = {{"apiVersion", "v1"},
                     {"kind", "Namespace"},
                     {"metadata",
                      {{"name", options_.lease_namespace},
                       {"labels", {{"app.kubernetes.io/managed-by", "storefleet"}}}}}};
    auto applied = kube_.Apply("/api/v1/namespaces/" + options_.lease_namespace, ns);
    if (!applied.ok()) return applied.error();
    return Status::Ok();
}

Status StoreLeases::WaitForNamespace(const ShutdownFlag& shutdown) {
    Backoff backoff(std::chrono::milliseconds(500), std::chrono::milliseconds(5000));
    for (;;) {
        auto ensured = EnsureNamespace();
        if (ensured.ok() || !ensured.error().retryable()) return ensured;
        log::Warn("cannot ensure the lease namespace; retrying",
                  {{"namespace", options_.lease_namespace}, {"error", ensured.error().message}});
        if (shutdown.WaitFor(backoff.Next())) return Cancelled();
    }
}

void StoreLeases::Start() {
    keeper_ = std::thread([this] { KeeperLoop(); });
}

void StoreLeases::Stop() {
    stop_.Trigger();
    if (keeper_.joinable()) keeper_.join();
}

std::string StoreLeases::LeasePath(const std::string& store_id) const {
    return "/apis/coordination.k8s.io/v1/namespaces/" + options_.lease_namespace +
           "/leases/store-" + store_id;
}

json StoreLeases::NewLease(const std::string& store_id) const {
    const std::string now = MicroTimeNow();
    return {{"apiVersion", "coordination.k8s.io/v1"},
            {"kind", "Lease"},
            {"metadata",
             {{"name", "store-" + store_id},
              {"namespace", options_.lease_namespace},
              {"labels",
               {{"app.kubernetes.io/managed-by", "storefleet"},
                {"storefleet.io/store-id", store_id}}}}},
            {"spec",
             {{"holderIdentity", identity_},
              {"leaseDurationSeconds", options_.duration.count()},
              {"acquireTime", now},
              {"renewTime", now},
              {"leaseTransitions", 0}}}};
}

bool StoreLeases::MayTakeOver(const std::string& holder) const {
    if (holder.empty() || holder == identity_) return true;
    // An earlier run of this very replica: it is gone (Kafka admits one member per
    // instance id), so its stores are ours to resume at once.
    if (options_.instance_id.empty()) return false;
    const std::string prefix = options_.instance_id + "/";
    return holder.rfind(prefix, 0) == 0;
}

Result<std::unique_ptr<StoreLeases::Held>> StoreLeases::Acquire(const std::string& store_id,
                                                                const CancelToken& cancel) {
    const std::string collection =
        "/apis/coordination.k8s.io/v1/namespaces/" + options_.lease_namespace + "/leases";
    const std::string path = LeasePath(store_id);
    std::string observed_version;
    Clock::time_point observed_at{};
    Backoff backoff(std::chrono::milliseconds(200), std::chrono::milliseconds(5000));
    bool waiting_logged = false;
    if (!Claim(store_id, cancel)) return Cancelled();
    // Every way out but holding gives the claim back.
    struct ClaimGuard {
        StoreLeases* owner = nullptr;
        const std::string& store_id;
        bool keep = false;
        ~ClaimGuard() {
            if (!keep) owner->Unclaim(store_id);
        }
    } claim{this, store_id};
    Clock::time_point sent{};
    auto hold = [&](json object) -> std::unique_ptr<Held> {
        std::lock_guard lock(mutex_);
        held_[store_id] = Entry{std::move(object), &cancel, sent, next_serial_++};
        held_gauge_.Set(static_cast<double>(held_.size()));
        claim.keep = true;
        return std::make_unique<Held>(*this, store_id);
    };
    auto retry_later = [&]() -> bool { return !cancel.Sleep(backoff.Next()); };
    for (;;) {
        if (cancel.Cancelled()) return Cancelled();
        // The common case is a store nobody holds: one request.
        sent = Clock::now();
        auto created = kube_.Call("POST", collection, NewLease(store_id).dump());
        if (!created.ok()) {
            if (!created.error().retryable()) return created.error();
            if (!retry_later()) return Cancelled();
            continue;
        }
        if (created->status == 201) return hold(json::parse(created->body));
        if (created->status != 409) {
            auto error = kube::ApiError("POST", collection, *created);
            if (!error.retryable()) return error;
            if (!retry_later()) return Cancelled();
            continue;
        }
        auto current = kube_.Call("GET", path);
        if (!current.ok() || (current->status != 200 && current->status != 404)) {
            if (current.ok() && !kube::ApiError("GET", path, *current).retryable()) {
                return kube::ApiError("GET", path, *current);
            }
            if (!retry_later()) return Cancelled();
            continue;
        }
        if (current->status == 404) continue;  // released meanwhile: create it
        json lease = json::parse(current->body);
        const std::string holder = HolderOf(lease);
        const std::string version = lease["metadata"].value("resourceVersion", "");
        bool take = MayTakeOver(holder);
        if (!take) {
            if (version != observed_version) {
                observed_version = version;
                observed_at = Clock::now();
            } else if (Clock::now() - observed_at >= options_.duration) {
                take = true;  // unchanged for a whole lease duration: its holder stopped renewing
                takeovers_.Inc();
                log::Warn("taking over a store lease its holder stopped renewing",
                          {{"store_id", store_id}, {"holder", holder}});
            }
        }
        if (take) {
            const std::string now = MicroTimeNow();
            auto& spec = lease["spec"];
            if (HolderOf(lease) != identity_) {
                spec["leaseTransitions"] = spec.value("leaseTransitions", 0) + 1;
                spec["acquireTime"] = now;
            }
            spec["holderIdentity"] = identity_;
            spec["leaseDurationSeconds"] = options_.duration.count();
            spec["renewTime"] = now;
            sent = Clock::now();
            auto updated = kube_.Call("PUT", path, lease.dump());
            if (updated.ok() && updated->status == 200) return hold(json::parse(updated->body));
            if (updated.ok() && updated->status == 409)
                continue;  // someone moved first: look again
            if (!retry_later()) return Cancelled();
            continue;
        }
        if (!waiting_logged) {
            waits_.Inc();
            log::Info("waiting for another runner's store lease",
                      {{"store_id", store_id}, {"holder", holder}});
            waiting_logged = true;
        }
        if (cancel.Sleep(options_.poll)) return Cancelled();
    }
}

bool StoreLeases::Claim(const std::string& store_id, const CancelToken& cancel) {
    bool waiting_logged = false;
    for (;;) {
        {
            std::lock_guard lock(mutex_);
            if (claimed_.insert(store_id).second) return true;
        }
        if (!waiting_logged) {
            // A task of this process still acts on the store (e.g. one that outlived a revoke's
            // drain timeout): never two at once, never one releasing the other's lease.
            waits_.Inc();
            log::Info("waiting for this process's earlier task of the store",
                      {{"store_id", store_id}});
            waiting_logged = true;
        }
        if (cancel.Sleep(std::min(options_.poll, std::chrono::milliseconds(100)))) return false;
    }
}

void StoreLeases::Unclaim(const std::string& store_id) {
    std::lock_guard lock(mutex_);
    claimed_.erase(store_id);
}

void StoreLeases::Release(const std::string& store_id) {
    json object;
    {
        std::lock_guard lock(mutex_);
        auto it = held_.find(store_id);
        if (it == held_.end()) {
            claimed_.erase(store_id);  // lost while the task ran: nothing of ours to delete
            return;
        }
        object = std::move(it->second.object);
        held_.erase(it);
        held_gauge_.Set(static_cast<double>(held_.size()));
    }
    // Claimed until the lease is gone, so no task of ours takes it meanwhile: a lease held by
    // our identity below is the one this task wrote.
    const std::string path = LeasePath(store_id);
    for (int attempt = 0; attempt < 3; ++attempt) {
        // Delete only the version we wrote: never a lease someone else took meanwhile.
        const json options = {
            {"apiVersion", "v1"},
            {"kind", "DeleteOptions"},
            {"preconditions",
             {{"resourceVersion", object["metadata"].value("resourceVersion", "")}}}};
        auto deleted = kube_.Call("DELETE", path, options.dump());
        if (!deleted.ok())
            break;  // it expires by itself; we will take it over at once if we need it again
        if (deleted->status == 200 || deleted->status == 202 || deleted->status == 404) break;
        if (deleted->status != 409) break;
        // Renewed by the keeper after we copied it: delete the newer version if still ours.
        auto current = kube_.Call("GET", path);
        if (!current.ok() || current->status != 200) break;
        object = json::parse(current->body);
        if (HolderOf(object) != identity_) break;
    }
    Unclaim(store_id);
}

void StoreLeases::Renew(const std::string& store_id, json object, uint64_t serial) {
    object["spec"]["renewTime"] = MicroTimeNow();
    const std::string path = LeasePath(store_id);
    const auto sent = Clock::now();
    auto renewed = kube_.Call("PUT", path, object.dump());
    bool lost = false;
    std::optional<json> fresh;
    if (renewed.ok() && renewed->status == 200) {
        fresh = json::parse(renewed->body);
    } else if (renewed.ok() && (renewed->status == 409 || renewed->status == 404)) {
        // Changed under us: still ours only if we are the holder.
        auto current = kube_.Call("GET", path);
        if (current.ok() && current->status == 200) {
            auto lease = json::parse(current->body);
            if (HolderOf(lease) == identity_) {
                fresh = lease;
            } else {
                lost = true;
            }
        } else if (current.ok() && current->status == 404) {
            lost = true;
        }
    }
    std::lock_guard lock(mutex_);
    auto it = held_.find(store_id);
    if (it == held_.end() || it->second.serial != serial)
        return;  // released (and maybe held anew) meanwhile
    if (fresh) {
        it->second.object = std::move(*fresh);
        it->second.renew_sent = sent;
        return;
    }
    if (!lost) return;  // not proven either way: StopOverdue decides by the clock
    lost_.Inc();
    log::Warn("store lease taken by another runner; the command stops and will retry",
              {{"store_id", store_id}});
    it->second.cancel->Cancel(CancelToken::Reason::kLeaseLost);
    held_.erase(it);
    held_gauge_.Set(static_cast<double>(held_.size()));
}

void StoreLeases::RenewAll() {
    struct Job {
        std::string store_id;
        json object;
        uint64_t serial;
    };
    std::vector<Job> jobs;
    {
        std::lock_guard lock(mutex_);
        for (const auto& [store_id, entry] : held_)
            jobs.push_back({store_id, entry.object, entry.serial});
    }
    const auto started = Clock::now();
    std::atomic<std::size_t> next{0};
    auto work = [&] {
        for (std::size_t i = next++; i < jobs.size(); i = next++) {
            Renew(jobs[i].store_id, std::move(jobs[i].object), jobs[i].serial);
        }
    };
    std::vector<std::thread> helpers;
    const std::size_t threads = std::min(options_.renew_parallelism, jobs.size());
    for (std::size_t t = 1; t < threads; ++t) helpers.emplace_back(work);
    work();
    for (auto& helper : helpers) helper.join();
    if (!jobs.empty())
        renew_round_seconds_.Observe(std::chrono::duration<double>(Clock::now() - started).count());
}

void StoreLeases::StopOverdue() {
    // A taker may start a whole duration after our last successful write; stop a third of a
    // duration before that, so the command has time to wind down.
    const auto stop_after = options_.duration * 2 / 3;
    const auto now = Clock::now();
    std::lock_guard lock(mutex_);
    for (auto it = held_.begin(); it != held_.end();) {
        if (now - it->second.renew_sent < stop_after) {
            ++it;
            continue;
        }
        lost_.Inc();
        log::Warn("store lease not renewed in time; the command stops and will retry",
                  {{"store_id", it->first}});
        it->second.cancel->Cancel(CancelToken::Reason::kLeaseLost);
        it = held_.erase(it);
        held_gauge_.Set(static_cast<double>(held_.size()));
    }
}

void StoreLeases::KeeperLoop() {
    // Renewals run on their own thread, so a slow round never delays StopOverdue.
    const auto period =
        std::chrono::duration_cast<std::chrono::milliseconds>(options_.duration) / 3;
    const auto tick = std::min(std::chrono::milliseconds(250), period / 4);
    std::atomic<bool> round_running{false};
    std::thread round;
    auto next_round = Clock::now() + period;
    while (!stop_.WaitFor(tick)) {
        StopOverdue();
        if (Clock::now() < next_round || round_running.load()) continue;
        if (round.joinable()) round.join();
        next_round = Clock::now() + period;
        round_running = true;
        round = std::thread([this, &round_running] {
            RenewAll();
            round_running = false;
        });
    }
    if (round.joinable()) round.join();
}

}  // namespace storefleet::provisioner
