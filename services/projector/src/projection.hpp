#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "storefleet/common/result.hpp"
#include "storefleet/kafka/consumer.hpp"
#include "storefleet/v1/events.pb.h"

// The projection's decisions, as plain functions a test calls without Kafka or Postgres:
// what an event means for the timeline and for its store's row (PlanEvent), what a polled
// batch means including which offsets it completes (PlanBatch), and how a planned change
// merges into the row a store has now (Decide). read_model.cpp only runs the SQL.
namespace storefleet::projector {

// One row of read.store_events. Empty strings are stored as NULL.
struct TimelineEntry {
    std::string event_id;
    std::string store_id;
    std::string tenant_id;
    std::string type;  // "StoreRequested", "StoreDeletionRequested", "StoreStatusChanged"
    std::string status;
    std::string step;
    std::string reason;
    int64_t occurred_at_us = 0;
    std::string correlation_id;
};

// What one event says about its store.
struct StoreChange {
    enum class Kind { kRequested, kDeletionRequested, kStatusChanged };
    Kind kind = Kind::kRequested;
    std::string store_id;
    std::string tenant_id;
    // Orders changes of one store: StoreStatusChanged.sequence, else occurred_at.
    int64_t sequence = 0;
    int64_t occurred_at_us = 0;
    // Facts about the store; a StoreRequested states them, a StoreStatusChanged may echo
    // name and engine so a row created from it is not anonymous.
    std::string name;
    std::string engine;
    std::string plan;
    std::string host;
    // Its state.
    std::string status;
    std::string step;
    std::string reason;
    std::string url;
    std::string admin_url;
    std::string k8s_namespace;
    bool simulated = false;
};

struct PlannedEvent {
    TimelineEntry entry;
    StoreChange change;
};

// Maps an envelope to its timeline entry and store change. Permanent errors for events
// the read model cannot hold (ids that are not UUIDs, no tenant, no or absurd time, an
// unknown status): such an event is skipped, never retried, so it cannot block its
// partition.
Result<PlannedEvent> PlanEvent(const v1::Envelope& envelope);

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
struct StoreRow {
    std::string tenant_id;
    std::string name;
    std::string engine;
    std::string plan;
    std::string host;
    std::string status;
    std::string step;
    std::string reason;
    std::string url;
    std::string admin_url;
    std::string k8s_namespace;
    bool simulated = false;
    int64_t created_at_us = 0;
    int64_t updated_at_us = 0;
    int64_t last_sequence = 0;

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

// The rules that make the read model safe under replays and reordering:
//  - the state (status, step, reason, urls, namespace) moves only when the change's
//    sequence is newer than the row's last_sequence, and never once it is "deleted";
//  - facts fill in whatever the row does not know yet, whatever the order: a
//    StoreStatusChanged may create the row before its StoreRequested arrives (another
//    topic), and the late StoreRequested then supplies plan, host and the creation time
//    without touching the newer state;
//  - a StoreStatusChanged that omits url, admin_url or namespace keeps the known ones,
//    and simulated stays true once seen (a store does not move between clusters).
RowDecision Decide(const std::optional<StoreRow>& current, const StoreChange& change);

// Microseconds since the epoch of a protobuf Timestamp.
int64_t MicrosOf(const google::protobuf::Timestamp& timestamp);

}  // namespace storefleet::projector
