#pragma once

#include <cstdint>
#include <string>

#include "storefleet/common/result.hpp"
#include "storefleet/v1/events.pb.h"

// The envelope every event travels in, and the topics it travels on: the contract between
// intake, the provisioner and the projector (proto/README.md).
namespace storefleet::events {

inline constexpr const char* kCommandsTopic = "store-commands";
inline constexpr const char* kStatusTopic = "store-status";
inline constexpr const char* kDeadLetterTopic = "store-dead-letter";
inline constexpr uint32_t kSchemaVersion = 1;

// A new envelope with a fresh event id, occurred-at = now and the current schema version;
// the type is set from whichever payload the caller fills in (see SetTypeFromPayload).
v1::Envelope NewEnvelope(const std::string& tenant_id, const std::string& store_id,
                         const std::string& correlation_id);

// Sets envelope.type from the payload case: "StoreRequested", ...
void SetTypeFromPayload(v1::Envelope& envelope);

// A command on store-commands: StoreRequested, StoreChangeRequested,
// StoreDeletionRequested, or a data command (below).
bool IsStoreCommand(const v1::Envelope& envelope);
// StoreBackupRequested or StoreRestoreRequested: about the store's data, no new generation of
// its desired state (decision 14).
bool IsDataCommand(const v1::Envelope& envelope);
// The generation of the desired state a command asks for: a StoreRequested's is 1 (also when
// an older producer left it 0), a StoreChangeRequested's its own; 0 for anything else.
uint64_t CommandGeneration(const v1::Envelope& envelope);

std::string Encode(const v1::Envelope& envelope);
// Undecodable bytes, an envelope without event id or store id, or one without a known
// payload come back as a permanent Error, never a crash.
Result<v1::Envelope> Decode(const std::string& bytes);

}  // namespace storefleet::events
