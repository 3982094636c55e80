#include "store_command_handler.hpp"

#include <chrono>
#include <stdexcept>

#include "storefleet/events/envelope.hpp"

namespace storefleet::provisioner {

StoreCommandHandler::StoreCommandHandler(StoreLeases& leases, StoreProvisioner& provisioner,
                                         kafka::EventPublisher& publisher)
    : leases_(leases), provisioner_(provisioner), publisher_(publisher) {}

CommandOutcome StoreCommandHandler::Handle(const Command& command, const CancelToken& cancel,
                                           AdmissionPermit& permit) {
    auto held = leases_.Acquire(command.envelope.store_id(), cancel);
    if (!held.ok()) {
        if (held.error().code == "cancelled") return CommandOutcome::kCancelled;
        throw std::runtime_error("cannot take the store lease: " + held.error().message);
    }
    if (events::IsDataCommand(command.envelope))
        return provisioner_.RunDataCommand(command, cancel);
    return command.envelope.has_store_deletion_requested()
               ? provisioner_.Deprovision(command, cancel)
               : provisioner_.Provision(command, cancel, permit);
}

Status StoreCommandHandler::ReportGivenUp(const Command& command, int attempts,
                                          const CancelToken& cancel) {
    auto held = leases_.Acquire(command.envelope.store_id(), cancel);
    if (!held.ok()) return held.error();
    return provisioner_.ReportGivenUp(command, attempts, cancel);
}

Status StoreCommandHandler::DeadLetter(const kafka::ConsumedMessage& message,
                                       const std::string& reason, int attempts) {
    const std::string source = message.topic + "/" + std::to_string(message.partition) + "@" +
                               std::to_string(message.offset);
    return publisher_.PublishAndWait({{events::kDeadLetterTopic,
                                       message.key,
                                       message.payload,
                                       {{"storefleet-reason", reason},
                                        {"storefleet-attempts", std::to_string(attempts)},
                                        {"storefleet-source", source}}}},
                                     std::chrono::seconds(15));
}

}  // namespace storefleet::provisioner
