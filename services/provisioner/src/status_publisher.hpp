#pragma once

#include <cstdint>
#include <string>

#include "cancel.hpp"
#include "command.hpp"
#include "storefleet/common/result.hpp"
#include "storefleet/kafka/publisher.hpp"
#include "storefleet/v1/events.pb.h"

namespace storefleet::provisioner {

// One status change of a store, as its command's steps go.
struct StatusUpdate {
    v1::StoreStatus status = v1::STORE_STATUS_PROVISIONING;
    std::string step;
    std::string reason;
    std::string url;
    std::string admin_url;
    std::string ns;
    // Where this update sits in its command: grows along the steps (< 4096), and `sub`
    // (< 256) orders repeated updates of one step.
    uint32_t step_index = 0;
    uint32_t sub = 0;
    // READY and SUSPENDED: the generation the store converged to (the command's); else 0.
    uint64_t observed_generation = 0;
    // The store chart's version the command installs ("" when not known yet).
    std::string chart_version;
};

// How a backup or a restore goes (StoreBackupStatusChanged, decision 14).
struct DataUpdate {
    std::string state;  // "running", "completed", "failed"
    std::string reason;
    uint64_t size_bytes = 0;
    uint64_t duration_ms = 0;
    uint32_t step_index = 0;  // as StatusUpdate's
};

// Where a store's status changes go (Kafka in production, a recorder in tests). Publish()
// returns OK only when the update is durably accepted; it retries internally until `cancel`
// fires (shutdown included), then returns a "cancelled" error: a command that lost its
// store's lease, or was revoked, publishes nothing more.
class StatusPublisher {
public:
    virtual ~StatusPublisher() = default;
    virtual Status Publish(const Command& command, const StatusUpdate& update,
                           const CancelToken& cancel) = 0;
    // A backup's or restore's progress (the command is a StoreBackupRequested or a
    // StoreRestoreRequested). The default drops it (publishers of tests that do not run data
    // commands).
    virtual Status PublishData(const Command& command, const DataUpdate& update,
                               const CancelToken& cancel) {
        (void)command;
        (void)update;
        (void)cancel;
        return Status::Ok();
    }
};

// Publishes StoreStatusChanged to store-status, keyed by store id, retrying with backoff
// until Kafka acknowledges or the command is cancelled (shutdown, revoke, lease lost). Each
// update's sequence is StatusSequence(command offset, step index, sub) and its event id is derived
// from the command's event id and that sequence, so a replay publishes the very same events.
// Every event carries the command's generation (events::CommandGeneration).
class KafkaStatusPublisher final : public StatusPublisher {
public:
    KafkaStatusPublisher(kafka::EventPublisher& publisher, bool simulated);
    Status Publish(const Command& cmd, const StatusUpdate& update,
                   const CancelToken& cancel) override;
    Status PublishData(const Command& cmd, const DataUpdate& update,
                       const CancelToken& cancel) override;

    // The event Publish() sends; public for tests.
    v1::Envelope BuildEvent(const Command& cmd, const StatusUpdate& update) const;
    // The event PublishData() sends; public for tests.
    v1::Envelope BuildDataEvent(const Command& cmd, const DataUpdate& update) const;

private:
    Status PublishEvent(const Command& cmd, const v1::Envelope& event, const CancelToken& cancel);

    kafka::EventPublisher& publisher_;
    bool simulated_;
};

}  // namespace storefleet::provisioner
