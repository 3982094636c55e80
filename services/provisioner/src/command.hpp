#pragma once

#include <cstdint>

#include "storefleet/v1/events.pb.h"

namespace storefleet::provisioner {

// A store command as consumed from store-commands, with its place there. Commands are
// keyed by store id, so one store's commands share a partition and their offsets order
// them; the status events of a command are ordered after it by events::StatusSequence
// (storefleet/events/sequence.hpp).
struct Command {
    v1::Envelope envelope;
    int32_t partition = 0;
    int64_t offset = 0;
};

// How a command's run ended, which decides its offset (CommandDispatcher):
// kFinished: done (commit). kCancelled: stopped by shutdown, a revoke or a newer command
// (see CancelToken::Reason). kRetry: could not act now (the store's lease was lost); the
// dispatcher runs it again later.
enum class CommandOutcome { kFinished, kCancelled, kRetry };

}  // namespace storefleet::provisioner
