#pragma once

#include "provisioner.hpp"
#include "storefleet/kafka/publisher.hpp"

namespace storefleet::provisioner {

// Publishes StoreStatusChanged to store-status, keyed by store id, retrying with backoff
// until Kafka acknowledges or the command is cancelled (shutdown, revoke, lease lost). Each update's sequence is
// StatusSequence(command offset, step index, sub) and its event id is derived from the
// command's event id and that sequence, so a replay publishes the very same events.
class KafkaStatusSink final : public StatusSink {
public:
    KafkaStatusSink(kafka::EventPublisher& publisher, bool simulated);
    Status Emit(const Command& command, const StatusUpdate& update, const CancelToken& cancel) override;

    // The event Emit() publishes; public for tests.
    v1::Envelope BuildEvent(const Command& command, const StatusUpdate& update) const;

private:
    kafka::EventPublisher& publisher_;
    bool simulated_;
};

}  // namespace storefleet::provisioner
