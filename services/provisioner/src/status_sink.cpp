#include "status_sink.hpp"

#include "storefleet/common/ids.hpp"
#include "storefleet/common/log.hpp"
#include "storefleet/kafka/events.hpp"

namespace storefleet::provisioner {

KafkaStatusSink::KafkaStatusSink(kafka::EventPublisher& publisher, const ShutdownFlag& shutdown, bool simulated)
    : publisher_(publisher), shutdown_(shutdown), simulated_(simulated) {}

v1::Envelope KafkaStatusSink::BuildEvent(const v1::Envelope& command, const StatusUpdate& update) const {
    auto event = kafka::NewEnvelope(command.tenant_id(), command.store_id(), command.correlation_id());
    auto* changed = event.mutable_store_status_changed();
    changed->set_status(update.status);
    changed->set_step(update.step);
    changed->set_reason(update.reason);
    changed->set_url(update.url);
    changed->set_admin_url(update.admin_url);
    changed->set_namespace_(update.ns);
    changed->set_simulated(simulated_);
    changed->set_sequence(static_cast<uint64_t>(NowMicros()));
    if (command.has_store_requested()) {
        changed->set_name(command.store_requested().name());
        changed->set_engine_name(kafka::EngineName(command.store_requested().engine()));
    }
    kafka::SetTypeFromPayload(event);
    return event;
}

Status KafkaStatusSink::Emit(const v1::Envelope& command, const StatusUpdate& update) {
    const auto event = BuildEvent(command, update);
    const std::vector<kafka::OutgoingMessage> batch = {
        {kafka::kStatusTopic, command.store_id(), kafka::Encode(event)}};
    auto backoff = std::chrono::milliseconds(200);
    for (;;) {
        auto status = publisher_.PublishAndWait(batch, std::chrono::seconds(10));
        if (status.ok()) return status;
        log::Warn("cannot publish status; retrying", {{"store_id", command.store_id()},
                                                      {"event_id", event.event_id()},
                                                      {"error", status.error().message}});
        if (shutdown_.WaitFor(backoff)) return status;
        backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
    }
}

}  // namespace storefleet::provisioner
