#pragma once

#include <cstdint>

// The per-store order of events, from no clock: the contract between the provisioner, which
// stamps it on every status event, and the projector, which orders a store's changes by it.
//
//   A command (StoreRequested, StoreChangeRequested, StoreDeletionRequested) consumed from
//   store-commands at offset o has sequence (o + 1) << 20. A StoreStatusChanged of the command at
//   offset o carries
//   ((o + 1) << 20) | (step_index << 8) | sub, step_index in 1..4095, sub in 0..255.
//
// store-commands is keyed by store id, so a store's commands share one partition and their
// offsets grow with their order; every status event of a command then sorts after the
// command and before the store's next command, and a replayed command's events carry the
// sequences of its first run. 0 means "unordered" (a producer older than this rule).
namespace storefleet::events {

inline constexpr int kCommandSequenceShift = 20;
inline constexpr int kStepIndexShift = 8;
inline constexpr uint32_t kMaxStepIndex = 0xFFF;
inline constexpr uint32_t kMaxSub = 0xFF;
// The largest offset whose sequence still fits a signed 64-bit integer.
inline constexpr int64_t kMaxCommandOffset = (int64_t{1} << (63 - kCommandSequenceShift)) - 2;

// The sequence of a command consumed from store-commands at `offset`.
constexpr int64_t CommandSequence(int64_t offset) { return (offset + 1) << kCommandSequenceShift; }

// The sequence of a status event of the command at `command_offset`: step_index and sub are
// masked to their fields, so a status event never sorts past its command's successor.
constexpr uint64_t StatusSequence(int64_t command_offset, uint32_t step_index, uint32_t sub) {
    return (static_cast<uint64_t>(command_offset + 1) << kCommandSequenceShift) |
           (static_cast<uint64_t>(step_index & kMaxStepIndex) << kStepIndexShift) | (sub & kMaxSub);
}

}  // namespace storefleet::events
