#include "status_publisher.hpp"

#include "storefleet/common/backoff.hpp"
#include "storefleet/common/ids.hpp"
#include "storefleet/common/log.hpp"
#include "storefleet/events/envelope.hpp"
#include "storefleet/events/sequence.hpp"
#include "storefleet/events/status.hpp"

namespace storefleet::provisioner {

KafkaStatusPublisher::KafkaStatusPublisher(kafka::EventPublisher& publisher, bool simulated)
    : publisher_(publisher), simulated_(simulated) {}

namespace {

// A UUID (version 5 layout) from a SHA-256 of `name`: the same name gives the same id.
std::string NameBasedUuid(const std::string& name) {
    std::string hex = Sha256Hex(name).substr(0, 32);
    hex[12] = '5';
    static constexpr char kVariant[] = "89ab";
    hex[16] = kVariant[std::stoi(hex.substr(16, 1), nullptr, 16) & 3];
    return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
           hex.substr(16, 4) + "-" + hex.substr(20, 12);
}

}  // namespace

v1::Envelope KafkaStatusPublisher::BuildEvent(const Command& cmd,
                                              const StatusUpdate& update) const {
    const v1::Envelope& command = cmd.envelope;
    auto event =
        events::NewEnvelope(command.tenant_id(), command.store_id(), command.correlation_id());
    const uint64_t sequence = events::StatusSequence(cmd.offset, update.step_index, update.sub);
    // A replayed command re-emits its updates with the same ids, so each is recorded once;
    // so does a copy of the command at another offset (the relay publishes at least once:
    // a batch whose acknowledgement was lost is sent again). The id names the command and
    // the step, not the offset: the copy's "ready" is the same event as the first one's.
    event.set_event_id(NameBasedUuid(command.event_id() + "/" + std::to_string(update.step_index) +
                                     "/" + std::to_string(update.sub)));
    auto* changed = event.mutable_store_status_changed();
    changed->set_status(update.status);
    changed->set_step(update.step);
    changed->set_reason(update.reason);
    changed->set_url(update.url);
    changed->set_admin_url(update.admin_url);
    changed->set_namespace_(update.ns);
    // A store on the real node is not simulated even on a simulated cluster. Deletion
    // events say false: the read model keeps "simulated" once it has seen it.
    changed->set_sequence(sequence);
    changed->set_generation(events::CommandGeneration(command));
    changed->set_observed_generation(update.observed_generation);
    changed->set_chart_version(update.chart_version);
    if (command.has_store_requested()) {
        const auto& request = command.store_requested();
        changed->set_simulated(simulated_ && request.placement() != "real-node");
        changed->set_name(request.name());
        changed->set_engine_name(events::EngineName(request.engine()));
    } else if (command.has_store_change_requested()) {
        const auto& change = command.store_change_requested();
        changed->set_simulated(simulated_ && change.placement() != "real-node");
        changed->set_name(change.name());
        changed->set_engine_name(events::EngineName(change.engine()));
    }
    events::SetTypeFromPayload(event);
    return event;
}

v1::Envelope KafkaStatusPublisher::BuildDataEvent(const Command& cmd,
                                                  const DataUpdate& update) const {
    const v1::Envelope& command = cmd.envelope;
    auto event =
        events::NewEnvelope(command.tenant_id(), command.store_id(), command.correlation_id());
    // As BuildEvent: the same command and step give the same event id and sequence.
    event.set_event_id(
        NameBasedUuid(command.event_id() + "/" + std::to_string(update.step_index) + "/0"));
    auto* changed = event.mutable_store_backup_status_changed();
    std::string placement;
    if (command.has_store_backup_requested()) {
        const auto& backup = command.store_backup_requested();
        changed->set_operation("backup");
        changed->set_operation_id(backup.backup_id());
        changed->set_backup_id(backup.backup_id());
        placement = backup.placement();
    } else {
        const auto& restore = command.store_restore_requested();
        changed->set_operation("restore");
        changed->set_operation_id(restore.restore_id());
        changed->set_backup_id(restore.backup_id());
        placement = restore.placement();
    }
    changed->set_state(update.state);
    changed->set_reason(update.reason);
    changed->set_size_bytes(update.size_bytes);
    changed->set_duration_ms(update.duration_ms);
    changed->set_simulated(simulated_ && placement != "real-node");
    changed->set_sequence(events::StatusSequence(cmd.offset, update.step_index, 0));
    events::SetTypeFromPayload(event);
    return event;
}

Status KafkaStatusPublisher::PublishData(const Command& cmd, const DataUpdate& update,
                                         const CancelToken& cancel) {
    if (cancel.Cancelled())
        return Error::Permanent("cancelled", "cancelled before the status was published");
    return PublishEvent(cmd, BuildDataEvent(cmd, update), cancel);
}

Status KafkaStatusPublisher::Publish(const Command& cmd, const StatusUpdate& update,
                                     const CancelToken& cancel) {
    // Cancelled already (the store's lease lost, the partition gone): whoever runs the
    // command now speaks for the store.
    if (cancel.Cancelled())
        return Error::Permanent("cancelled", "cancelled before the status was published");
    return PublishEvent(cmd, BuildEvent(cmd, update), cancel);
}

Status KafkaStatusPublisher::PublishEvent(const Command& cmd, const v1::Envelope& event,
                                          const CancelToken& cancel) {
    const v1::Envelope& command = cmd.envelope;
    const std::vector<kafka::OutgoingMessage> batch = {
        {events::kStatusTopic, command.store_id(), events::Encode(event)}};
    Backoff backoff(std::chrono::milliseconds(200), std::chrono::milliseconds(5000));
    for (;;) {
        auto status = publisher_.PublishAndWait(batch, std::chrono::seconds(10));
        if (status.ok()) return status;
        log::Warn("cannot publish status; retrying", {{"store_id", command.store_id()},
                                                      {"event_id", event.event_id()},
                                                      {"error", status.error().message}});
        if (cancel.Sleep(backoff.Next()))
            return Error::Permanent("cancelled", "cancelled while publishing the status");
    }
}

}  // namespace storefleet::provisioner
