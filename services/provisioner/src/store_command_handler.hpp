#pragma once

#include <string>

#include "admission_permit.hpp"
#include "cancel.hpp"
#include "command.hpp"
#include "provisioner.hpp"
#include "store_lease.hpp"
#include "storefleet/common/result.hpp"
#include "storefleet/kafka/consumer.hpp"
#include "storefleet/kafka/publisher.hpp"

namespace storefleet::provisioner {

// What the CommandDispatcher does with each store command: everything it says or does about
// a store happens under that store's lease (one runner per store, StoreLeases), and a
// command given up goes to the dead-letter topic with why. Thread-safe (many workers).
class StoreCommandHandler {
public:
    StoreCommandHandler(StoreLeases& leases, StoreProvisioner& provisioner,
                        kafka::EventPublisher& publisher);

    // Takes the store's lease, then provisions or deletes the store. kCancelled if the
    // command was cancelled while waiting for the lease; throws (a failure the dispatcher
    // retries and, in the end, dead-letters) if the lease cannot be taken.
    CommandOutcome Handle(const Command& command, const CancelToken& cancel,
                          AdmissionPermit& permit);
    // The dispatcher gave up on the command: its store is told Failed, under its lease.
    Status ReportGivenUp(const Command& command, int attempts, const CancelToken& cancel);
    // Publishes `message` to store-dead-letter with headers storefleet-reason,
    // storefleet-attempts and storefleet-source (topic/partition@offset); OK once Kafka
    // acknowledged it.
    Status DeadLetter(const kafka::ConsumedMessage& message, const std::string& reason,
                      int attempts);

private:
    StoreLeases& leases_;
    StoreProvisioner& provisioner_;
    kafka::EventPublisher& publisher_;
};

}  // namespace storefleet::provisioner
