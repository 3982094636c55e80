#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storefleet/common/result.hpp"
#include "storefleet/events/sequence.hpp"
#include "storefleet/kafka/consumer.hpp"
#include "storefleet/v1/events.pb.h"

// The projection's decisions, as plain functions a test calls without Kafka or Postgres:
// what an event means for the timeline and for its store's row (PlanEvent), what a polled
// batch means including which offsets it completes (PlanBatch), and how a planned change
// merges into the row a store has now (Decide). read_model.cpp only runs the SQL.
namespace storefleet::projector {

// A store's changes are ordered by the per-store sequence of storefleet/events/sequence.hpp
// (the contract with the provisioner): commands from their offset, status events as stamped.
using events::CommandSequence;
using events::kMaxCommandOffset;

// Where a message was consumed: commands take their sequence from it.
struct MessagePosition {
    std::string_view topic;
    int64_t offset = -1;
};

// One row of read.store_events. Empty strings are stored as NULL.
struct TimelineEntry {
    std::string event_id;
    std::string store_id;
    std::string tenant_id;
    // "StoreRequested", "StoreChangeRequested", "StoreDeletionRequested", "StoreStatusChanged",
    // "StoreBackupRequested", "StoreRestoreRequested", "StoreBackupStatusChanged"
    std::string type;
    std::string status;
    // A StoreChangeRequested has no status: its step is "change" or "retry" and its reason
    // says which generation, who asked and what changed (see PlanEvent).
    std::string step;
    std::string reason;
    int64_t occurred_at_us = 0;
    std::string correlation_id;
    int64_t sequence = 0;  // the timeline's order; 0 (unordered) is stored as NULL
};

// What the read model knows of a store, as one event states it or its row holds it. Empty
// strings are unknown (NULL in the row).
struct StoreFields {
    // Facts: a StoreRequested states them, a StoreChangeRequested repeats them, a
    // StoreStatusChanged may echo name and engine so a row created from it is not anonymous.
    std::string name;
    std::string engine;
    std::string host;
    // The desired state (decision 11): what a command asked the store to be. A row holds
    // that of the command with the highest generation.
    std::string plan;
    bool suspended = false;
    std::string admin_email;
    // The store chart's version to install (DesiredState.chart_version); empty: not pinned
    // (the engine's default, which the read model does not know).
    std::string chart_version;
    // Its state.
    std::string status;
    std::string step;
    std::string reason;
    std::string url;
    std::string admin_url;
    std::string k8s_namespace;
    bool simulated = false;
    // What differs from the desired state, as the status that set the state reported it.
    std::string drift;

    bool operator==(const StoreFields&) const = default;
};

// What one event says about its store: the effect it has on the store's row.
struct StoreEffect : StoreFields {
    // kData: a backup or restore command or status (decision 14): a timeline entry only; the
    // store's row keeps its state.
    enum class Kind { kRequested, kChangeRequested, kDeletionRequested, kStatusChanged, kData };
    Kind kind = Kind::kRequested;
    std::string store_id;
    std::string tenant_id;
    // Orders changes of one store (see CommandSequence); 0: unordered, fills facts only.
    int64_t sequence = 0;
    int64_t occurred_at_us = 0;
    // A StoreRequested's or StoreChangeRequested's generation (events::CommandGeneration):
    // the generation of the desired state it states; 0 for other events.
    int64_t generation = 0;
    // A READY or SUSPENDED status: the generation the store converged to; 0 otherwise.
    int64_t observed_generation = 0;
    // A READY or SUSPENDED status: the chart version the store converged to; empty otherwise
    // and from a provisioner older than chart versions.
    std::string observed_chart_version;
};

struct PlannedEvent {
    TimelineEntry entry;
    StoreEffect change;
};

// Maps an envelope consumed at `position` to its timeline entry and store change. A
// command's sequence comes from its offset in store-commands (a command found on any other
// topic is unordered); a status event's is its own. Permanent errors for events the read
// model cannot hold (ids that are not UUIDs, no tenant, no or absurd time, an unknown
// status, a sequence beyond int64): such an event is skipped, never retried, so it cannot
// block its partition.
Result<PlannedEvent> PlanEvent(const v1::Envelope& envelope, const MessagePosition& position);

// A message the batch skips, with why (no payload: it may hold anything).
struct SkippedMessage {
    std::string topic;
    int32_t partition = 0;
    int64_t offset = 0;
    Error error;
};

struct BatchPlan {
    std::vector<PlannedEvent> events;
    std::vector<SkippedMessage> skipped;
    // Per partition in the batch: one past its last message, skipped ones included.
    std::vector<kafka::PartitionOffset> next_offsets;
};

BatchPlan PlanBatch(const std::vector<kafka::ConsumedMessage>& messages);

// A read.stores row as the projector reads and writes it. Empty strings are NULL.
struct StoreRow : StoreFields {
    std::string tenant_id;
    // The highest generation of a command seen (1 before any: a store starts at 1), whose
    // desired state the row holds; the highest generation it converged to (0: none yet).
    int64_t generation = 1;
    int64_t observed_generation = 0;
    // The chart version the store converged to (empty: none known yet), and the sequence of
    // the status that reported it (0: none, or an unordered one), which orders it.
    std::string observed_chart_version;
    int64_t observed_chart_sequence = 0;
    int64_t created_at_us = 0;
    int64_t updated_at_us = 0;
    int64_t last_sequence = 0;
    // A StoreRequested was applied: created_at is its occurred_at, not a guess.
    bool request_seen = false;

    bool operator==(const StoreRow&) const = default;
};

enum class RowAction {
    kInsert,         // no row yet: `row` is the new one
    kUpdate,         // `row` replaces the current one
    kNone,           // nothing to change (stale, terminal or already known)
    kForeignTenant,  // the event names another tenant than the row: ignored, worth a warning
};

struct RowDecision {
    RowAction action = RowAction::kNone;
    StoreRow row;
};

// The rules that make the read model safe under replays and reordering. The row must be
// a function of the SET of a store's events, not of the order they were read in: the two
// topics are consumed independently, so a live run and a replay interleave them
// differently, and the replay check (tools/read_model_diff.cpp) compares them row for row.
//  - State (status, step, reason, updated_at, last_sequence) is that of the event with the
//    highest rank, rank = (ordered "deleted", sequence): a change applies only if it
//    outranks the row. So a store moves only forward, and once deleted stays deleted (a
//    later "deleted" report may refresh its step and time; nothing else moves it). A
//    "deleted" outranks any sequence because it is final whatever was read before it: a
//    repeated deletion request read ahead of the first deletion's "deleted" must not leave
//    the store "deleting".
//  - Unordered changes (sequence 0) never change the state of an existing row; one that
//    finds no row creates it with its state and last_sequence 0, which any ordered change
//    then replaces. They fill facts like any other.
//    A StoreChangeRequested changes no state: the store keeps its status (a ready store
//    keeps serving) until the provisioner reports on the change; one that finds no row
//    creates it "requested" with last_sequence 0, as an unordered event does. A retry is
//    ordered state like any command: "requested" (step "retry"), so a failed or degraded
//    store shows its retry under way, and the reports of the failed run rank below it.
//  - Facts fill in whatever the row does not know yet, from every event, applied or stale:
//    name, engine, host (a StoreRequested overwrites them: it is their authority),
//    url, admin_url, namespace (an applied status overwrites them when it has them), and
//    simulated stays true once seen (a store does not move between clusters). A store's
//    facts do not change over its life, so which event supplied them does not matter.
//  - The desired state (plan, suspended, admin_email, chart_version) is that of the command
//    with the highest generation, and generation is that highest one: a command of a higher
//    generation than the row's replaces it, one of the same generation (the StoreRequested
//    after a status made the row, a retry) only fills what the row does not know, an older
//    one changes nothing. Commands of one generation state the same desired state.
//  - observed_generation is the highest a READY or SUSPENDED status reported, applied or
//    stale: it only grows. drift is state: that of the status that set the state.
//  - observed_chart_version is that of the READY or SUSPENDED status with the highest
//    sequence that names one, applied or stale (observed_chart_sequence remembers which): a
//    rollback converges to an older version, so it cannot be a maximum of versions. A status
//    naming none (an older provisioner) keeps the one known, and an unordered one counts
//    for nothing (its producer predates chart versions too): the row stays a function of
//    the set of events.
//  - created_at is the (earliest) StoreRequested's occurred_at once one is seen, before
//    that the earliest occurred_at seen.
RowDecision Decide(const std::optional<StoreRow>& current, const StoreEffect& change);

// Microseconds since the epoch of a protobuf Timestamp.
int64_t MicrosOf(const google::protobuf::Timestamp& timestamp);

}  // namespace storefleet::projector
