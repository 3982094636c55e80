#include "projection.hpp"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <map>
#include <utility>

#include "storefleet/common/ids.hpp"
#include "storefleet/events/envelope.hpp"
#include "storefleet/events/status.hpp"

namespace storefleet::projector {
namespace {

// Times that make sense for an event: from 2000-01-01 to before 2200-01-01. Anything else
// is a broken producer clock or a broken message. The bound also keeps microseconds below
// 2^53, so the SQL's bigint * interval arithmetic (in double precision) stays exact.
constexpr int64_t kMinMicros = 946'684'800'000'000;
constexpr int64_t kMaxMicros = 7'258'118'400'000'000;

Error Invalid(const std::string& code, const std::string& message) {
    return Error::Permanent(code, message);
}

// Postgres text cannot hold NUL; one in a message would fail its batch on every retry.
std::string Text(const std::string& value) {
    std::string out = value;
    out.erase(std::remove(out.begin(), out.end(), '\0'), out.end());
    return out;
}

std::string EngineOf(v1::Engine engine) {
    return engine == v1::ENGINE_UNSPECIFIED ? "" : events::EngineName(engine);
}

// Facts fill in from every event, applied or stale (see Decide). A StoreRequested is the
// authority on the store's own facts and on its creation time; other events fill gaps.
void FillFacts(StoreRow& row, const StoreEffect& change) {
    const bool authoritative = change.kind == StoreEffect::Kind::kRequested;
    auto fill = [](std::string& field, const std::string& value, bool overwrite) {
        if (!value.empty() && (overwrite || field.empty())) field = value;
    };
    fill(row.name, change.name, authoritative);
    fill(row.engine, change.engine, authoritative);
    fill(row.host, change.host, authoritative);
    fill(row.url, change.url, false);
    fill(row.admin_url, change.admin_url, false);
    fill(row.k8s_namespace, change.k8s_namespace, false);
    row.simulated = row.simulated || change.simulated;
    // A store exists from the moment it was requested, even if we heard of it later (on
    // another machine's clock, which may be ahead or behind); until the request is seen,
    // from the earliest event seen. Minimums, so any order of arrival gives the same.
    if (authoritative && !row.request_seen) {
        row.created_at_us = change.occurred_at_us;
        row.request_seen = true;
    } else if (authoritative || !row.request_seen) {
        row.created_at_us = std::min(row.created_at_us, change.occurred_at_us);
    }
}

// The desired state of the command with the highest generation (see Decide): a max over
// the set of commands, so the order they are read in does not matter.
void ApplyDesired(StoreRow& row, const StoreEffect& change) {
    if (change.generation > row.generation) {
        row.generation = change.generation;
        if (!change.plan.empty()) row.plan = change.plan;
        row.suspended = change.suspended;
        row.admin_email = change.admin_email;
        row.chart_version = change.chart_version;
    } else if (change.generation == row.generation) {
        if (row.plan.empty()) row.plan = change.plan;
        if (row.admin_email.empty()) row.admin_email = change.admin_email;
        if (row.chart_version.empty()) row.chart_version = change.chart_version;
        row.suspended = row.suspended || change.suspended;
    }
}

// The chart version of the newest converged report that names one (see Decide): a max by
// sequence over the set of such reports, so the order they are read in does not matter.
void ApplyObservedChart(StoreRow& row, const StoreEffect& change) {
    if (change.observed_chart_version.empty() || change.sequence <= 0) return;
    if (change.sequence > row.observed_chart_sequence) {
        row.observed_chart_version = change.observed_chart_version;
        row.observed_chart_sequence = change.sequence;
    }
}

bool IsCommandWithDesiredState(const StoreEffect& change) {
    return change.kind == StoreEffect::Kind::kRequested ||
           change.kind == StoreEffect::Kind::kChangeRequested;
}

// A change request describes itself in the timeline's step and reason: "generation 3,
// requested by ops: plan medium, suspended true", or "retry of generation 3, requested by
// ops".
std::string DescribeChange(const v1::StoreChangeRequested& request) {
    const std::string by = Text(request.requested_by()).empty()
                               ? std::string()
                               : ", requested by " + Text(request.requested_by());
    if (request.retry()) return "retry of generation " + std::to_string(request.generation()) + by;
    std::string out = "generation " + std::to_string(request.generation()) + by;
    const char* separator = ": ";
    for (const auto& field : request.changed()) {
        std::string value;
        if (field == "plan") {
            value = Text(request.desired().plan());
        } else if (field == "suspended") {
            value = request.desired().suspended() ? "true" : "false";
        } else if (field == "admin_email") {
            value = Text(request.desired().admin_email());
        } else if (field == "chart_version") {
            value = Text(request.desired().chart_version());
        } else {
            continue;  // a field this build does not know: named by the command, not shown
        }
        out += separator + Text(field) + " " + value;
        separator = ", ";
    }
    return out;
}

std::string RequestedBy(const std::string& who) {
    return Text(who).empty() ? std::string() : ", requested by " + Text(who);
}

// "backup 3f2a... completed: 48213 bytes in 2.4 s", "restore 9c1e... of backup 3f2a... failed:
// <reason>".
std::string DescribeData(const v1::StoreBackupStatusChanged& data) {
    std::string out = Text(data.operation()) + " " + Text(data.operation_id());
    if (data.operation() == "restore") out += " of backup " + Text(data.backup_id());
    out += " " + Text(data.state());
    if (data.state() == "completed") {
        if (data.operation() == "backup")
            out += ": " + std::to_string(data.size_bytes()) + " bytes";
        char seconds[32];
        std::snprintf(seconds, sizeof seconds, " in %.1f s",
                      static_cast<double>(data.duration_ms()) / 1000.0);
        out += seconds;
    } else if (data.state() == "failed" && !data.reason().empty()) {
        out += ": " + Text(data.reason());
    }
    if (data.simulated()) out += " (simulated: no data was copied)";
    return out;
}

void ApplyState(StoreRow& row, const StoreEffect& change) {
    row.status = change.status;
    row.step = change.step;
    row.reason = change.reason;
    row.drift = change.drift;
    if (!change.url.empty()) row.url = change.url;
    if (!change.admin_url.empty()) row.admin_url = change.admin_url;
    if (!change.k8s_namespace.empty()) row.k8s_namespace = change.k8s_namespace;
    row.updated_at_us = change.occurred_at_us;
    row.last_sequence = change.sequence;
}

// The order of states (see Decide): an ordered "deleted" above everything, then sequence.
// A row whose state came from an unordered event (last_sequence 0) ranks lowest whatever
// its status, so the first ordered change replaces it.
std::pair<bool, int64_t> Rank(const std::string& status, int64_t sequence) {
    return {sequence > 0 && status == "deleted", sequence};
}

}  // namespace

int64_t MicrosOf(const google::protobuf::Timestamp& timestamp) {
    return timestamp.seconds() * 1'000'000 + timestamp.nanos() / 1000;
}

Result<PlannedEvent> PlanEvent(const v1::Envelope& envelope, const MessagePosition& position) {
    if (!IsUuid(envelope.event_id())) return Invalid("invalid_event_id", "event id is not a UUID");
    if (!IsUuid(envelope.store_id())) return Invalid("invalid_store_id", "store id is not a UUID");
    if (Text(envelope.tenant_id()).empty()) return Invalid("no_tenant", "event names no tenant");
    if (!envelope.has_occurred_at() || envelope.occurred_at().seconds() < kMinMicros / 1'000'000 ||
        envelope.occurred_at().seconds() >= kMaxMicros / 1'000'000) {
        return Invalid("invalid_time", "occurred_at is missing or not between 2000 and 2200");
    }
    const int64_t occurred_at_us = MicrosOf(envelope.occurred_at());

    PlannedEvent planned;
    TimelineEntry& entry = planned.entry;
    StoreEffect& change = planned.change;
    entry.event_id = envelope.event_id();
    entry.store_id = envelope.store_id();
    entry.tenant_id = Text(envelope.tenant_id());
    entry.occurred_at_us = occurred_at_us;
    entry.correlation_id = Text(envelope.correlation_id());
    change.store_id = entry.store_id;
    change.tenant_id = entry.tenant_id;
    change.occurred_at_us = occurred_at_us;
    // A command's order is its place in its store's partition of store-commands; found
    // anywhere else (never, from our producers) it has none.
    if (events::IsStoreCommand(envelope) && position.topic == events::kCommandsTopic) {
        if (position.offset < 0 || position.offset > kMaxCommandOffset) {
            return Invalid("invalid_offset", "command offset " + std::to_string(position.offset) +
                                                 " has no sequence");
        }
        change.sequence = CommandSequence(position.offset);
    }

    switch (envelope.payload_case()) {
        case v1::Envelope::kStoreRequested: {
            const auto& requested = envelope.store_requested();
            entry.type = "StoreRequested";
            change.kind = StoreEffect::Kind::kRequested;
            change.status = "requested";
            change.name = Text(requested.name());
            change.engine = EngineOf(requested.engine());
            change.plan = Text(requested.plan());
            change.host = Text(requested.host());
            change.admin_email = Text(requested.admin_email());
            change.chart_version = Text(requested.chart_version());
            change.generation = static_cast<int64_t>(events::CommandGeneration(envelope));
            break;
        }
        case v1::Envelope::kStoreChangeRequested: {
            const auto& requested = envelope.store_change_requested();
            if (requested.generation() == 0 ||
                requested.generation() >
                    static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
                return Invalid("invalid_generation",
                               "StoreChangeRequested carries no usable generation (" +
                                   std::to_string(requested.generation()) + ")");
            }
            entry.type = "StoreChangeRequested";
            change.kind = StoreEffect::Kind::kChangeRequested;
            change.generation = static_cast<int64_t>(events::CommandGeneration(envelope));
            change.plan = Text(requested.desired().plan());
            change.suspended = requested.desired().suspended();
            change.admin_email = Text(requested.desired().admin_email());
            change.chart_version = Text(requested.desired().chart_version());
            change.name = Text(requested.name());
            change.engine = EngineOf(requested.engine());
            change.host = Text(requested.host());
            // A change has no status: the store keeps the one it has (see Decide). A retry
            // runs a failed convergence again: the store is requested again, so its failure
            // no longer shows (the provisioner's reports on the retry outrank it). The
            // timeline says who asked for what.
            if (requested.retry()) {
                change.status = "requested";
                change.step = "retry";
            }
            entry.step = requested.retry() ? "retry" : "change";
            entry.reason = DescribeChange(requested);
            break;
        }
        case v1::Envelope::kStoreDeletionRequested:
            entry.type = "StoreDeletionRequested";
            change.kind = StoreEffect::Kind::kDeletionRequested;
            change.status = "deleting";
            break;
        case v1::Envelope::kStoreStatusChanged: {
            const auto& changed = envelope.store_status_changed();
            entry.type = "StoreStatusChanged";
            change.kind = StoreEffect::Kind::kStatusChanged;
            change.status = events::StatusName(changed.status());
            if (changed.status() == v1::STORE_STATUS_UNSPECIFIED || change.status == "unknown") {
                return Invalid("unknown_status", "StoreStatusChanged carries an unknown status (" +
                                                     std::to_string(changed.status()) + ")");
            }
            if (changed.sequence() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
                return Invalid("invalid_sequence", "sequence does not fit a signed 64-bit integer");
            }
            change.sequence = static_cast<int64_t>(changed.sequence());
            change.step = Text(changed.step());
            change.reason = Text(changed.reason());
            change.url = Text(changed.url());
            change.admin_url = Text(changed.admin_url());
            change.k8s_namespace = Text(changed.namespace_());
            change.simulated = changed.simulated();
            change.name = Text(changed.name());
            change.engine = Text(changed.engine_name());
            change.drift = Text(changed.drift());
            if (changed.status() == v1::STORE_STATUS_READY ||
                changed.status() == v1::STORE_STATUS_SUSPENDED) {
                // 0 from a provisioner older than generations: it converged to its command's
                // generation, a create's (1) when that is 0 too.
                const uint64_t observed = changed.observed_generation() > 0
                                              ? changed.observed_generation()
                                              : std::max<uint64_t>(1, changed.generation());
                if (observed > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
                    return Invalid("invalid_generation",
                                   "observed_generation does not fit a signed 64-bit integer");
                }
                change.observed_generation = static_cast<int64_t>(observed);
                change.observed_chart_version = Text(changed.chart_version());
            }
            break;
        }
        case v1::Envelope::kStoreBackupRequested: {
            const auto& backup = envelope.store_backup_requested();
            entry.type = "StoreBackupRequested";
            change.kind = StoreEffect::Kind::kData;
            entry.step = "backup-requested";
            entry.reason =
                "backup " + Text(backup.backup_id()) + RequestedBy(backup.requested_by()) +
                (backup.keep() > 0
                     ? "; the newest " + std::to_string(backup.keep()) + " backups are kept"
                     : std::string());
            break;
        }
        case v1::Envelope::kStoreRestoreRequested: {
            const auto& restore = envelope.store_restore_requested();
            entry.type = "StoreRestoreRequested";
            change.kind = StoreEffect::Kind::kData;
            entry.step = "restore-requested";
            entry.reason = "restore " + Text(restore.restore_id()) + " of backup " +
                           Text(restore.backup_id()) + RequestedBy(restore.requested_by()) +
                           "; what was written after that backup is lost";
            break;
        }
        case v1::Envelope::kStoreBackupStatusChanged: {
            const auto& data = envelope.store_backup_status_changed();
            if (data.sequence() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
                return Invalid("invalid_sequence", "sequence does not fit a signed 64-bit integer");
            }
            entry.type = "StoreBackupStatusChanged";
            change.kind = StoreEffect::Kind::kData;
            change.sequence = static_cast<int64_t>(data.sequence());
            entry.step = Text(data.operation()) + "-" + Text(data.state());
            entry.reason = DescribeData(data);
            break;
        }
        case v1::Envelope::PAYLOAD_NOT_SET:
            return Invalid("unknown_payload", "envelope has no known payload");
    }
    if (change.kind != StoreEffect::Kind::kChangeRequested &&
        change.kind != StoreEffect::Kind::kData) {
        entry.status = change.status;
        entry.step = change.step;
        entry.reason = change.reason;
    }
    entry.sequence = change.sequence;
    return planned;
}

BatchPlan PlanBatch(const std::vector<kafka::ConsumedMessage>& messages) {
    BatchPlan plan;
    std::map<std::pair<std::string, int32_t>, std::size_t> partition_index;
    for (const auto& message : messages) {
        const auto key = std::make_pair(message.topic, message.partition);
        auto [it, inserted] = partition_index.try_emplace(key, plan.next_offsets.size());
        if (inserted) {
            plan.next_offsets.push_back({message.topic, message.partition, message.offset + 1});
        }
        auto& next = plan.next_offsets[it->second].offset;
        next = std::max(next, message.offset + 1);

        auto envelope = events::Decode(message.payload);
        if (!envelope.ok()) {
            plan.skipped.push_back(
                {message.topic, message.partition, message.offset, envelope.error()});
            continue;
        }
        auto planned = PlanEvent(*envelope, {message.topic, message.offset});
        if (!planned.ok()) {
            plan.skipped.push_back(
                {message.topic, message.partition, message.offset, planned.error()});
            continue;
        }
        plan.events.push_back(std::move(planned).value());
    }
    return plan;
}

// Everything an event says besides the state, applied or stale: facts, desired state,
// observed generation and chart version (see Decide).
void ApplyFacts(StoreRow& row, const StoreEffect& change) {
    FillFacts(row, change);
    if (IsCommandWithDesiredState(change)) ApplyDesired(row, change);
    row.observed_generation = std::max(row.observed_generation, change.observed_generation);
    ApplyObservedChart(row, change);
}

RowDecision Decide(const std::optional<StoreRow>& current, const StoreEffect& change) {
    const bool changes_state = !change.status.empty();  // all but a change (not a retry)
    if (!current) {
        StoreRow row;
        row.tenant_id = change.tenant_id;
        row.created_at_us = change.occurred_at_us;
        if (changes_state) {
            ApplyState(row, change);
        } else {
            // A provisional state, as from an unordered event: any ordered one replaces it.
            row.status = "requested";
            row.updated_at_us = change.occurred_at_us;
        }
        ApplyFacts(row, change);
        return {RowAction::kInsert, row};
    }
    if (current->tenant_id != change.tenant_id) return {RowAction::kForeignTenant, *current};
    StoreRow row = *current;
    if (changes_state && change.sequence > 0 &&
        Rank(change.status, change.sequence) > Rank(row.status, row.last_sequence)) {
        ApplyState(row, change);
    }
    ApplyFacts(row, change);
    return {row == *current ? RowAction::kNone : RowAction::kUpdate, row};
}

}  // namespace storefleet::projector
