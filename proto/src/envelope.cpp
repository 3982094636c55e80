#include "storefleet/events/envelope.hpp"

#include <algorithm>
#include <chrono>

#include "storefleet/common/ids.hpp"

namespace storefleet::events {

v1::Envelope NewEnvelope(const std::string& tenant_id, const std::string& store_id,
                         const std::string& correlation_id) {
    v1::Envelope envelope;
    envelope.set_event_id(NewUuid());
    const int64_t micros = NowMicros();
    envelope.mutable_occurred_at()->set_seconds(micros / 1'000'000);
    envelope.mutable_occurred_at()->set_nanos(static_cast<int32_t>((micros % 1'000'000) * 1000));
    envelope.set_correlation_id(correlation_id);
    envelope.set_tenant_id(tenant_id);
    envelope.set_store_id(store_id);
    envelope.set_schema_version(kSchemaVersion);
    return envelope;
}

void SetTypeFromPayload(v1::Envelope& envelope) {
    switch (envelope.payload_case()) {
        case v1::Envelope::kStoreRequested:
            envelope.set_type("StoreRequested");
            break;
        case v1::Envelope::kStoreChangeRequested:
            envelope.set_type("StoreChangeRequested");
            break;
        case v1::Envelope::kStoreDeletionRequested:
            envelope.set_type("StoreDeletionRequested");
            break;
        case v1::Envelope::kStoreStatusChanged:
            envelope.set_type("StoreStatusChanged");
            break;
        case v1::Envelope::kStoreBackupRequested:
            envelope.set_type("StoreBackupRequested");
            break;
        case v1::Envelope::kStoreRestoreRequested:
            envelope.set_type("StoreRestoreRequested");
            break;
        case v1::Envelope::kStoreBackupStatusChanged:
            envelope.set_type("StoreBackupStatusChanged");
            break;
        case v1::Envelope::PAYLOAD_NOT_SET:
            envelope.set_type("");
            break;
    }
}

bool IsStoreCommand(const v1::Envelope& envelope) {
    return envelope.has_store_requested() || envelope.has_store_change_requested() ||
           envelope.has_store_deletion_requested() || IsDataCommand(envelope);
}

bool IsDataCommand(const v1::Envelope& envelope) {
    return envelope.has_store_backup_requested() || envelope.has_store_restore_requested();
}

uint64_t CommandGeneration(const v1::Envelope& envelope) {
    if (envelope.has_store_requested())
        return std::max<uint64_t>(1, envelope.store_requested().generation());
    if (envelope.has_store_change_requested())
        return envelope.store_change_requested().generation();
    return 0;
}

std::string Encode(const v1::Envelope& envelope) {
    std::string bytes;
    if (!envelope.SerializeToString(&bytes)) {
        throw std::logic_error("cannot serialize envelope " + envelope.event_id());
    }
    return bytes;
}

Result<v1::Envelope> Decode(const std::string& bytes) {
    v1::Envelope envelope;
    if (!envelope.ParseFromString(bytes)) {
        return Error::Permanent("undecodable", "message is not a storefleet.v1.Envelope");
    }
    if (envelope.event_id().empty() || envelope.store_id().empty()) {
        return Error::Permanent("incomplete", "envelope lacks an event id or a store id");
    }
    if (envelope.payload_case() == v1::Envelope::PAYLOAD_NOT_SET) {
        return Error::Permanent("unknown_payload",
                                "envelope of type '" + envelope.type() + "' has no known payload");
    }
    return envelope;
}

}  // namespace storefleet::events
