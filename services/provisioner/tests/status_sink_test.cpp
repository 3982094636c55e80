#include "status_sink.hpp"

#include <gtest/gtest.h>

#include "storefleet/kafka/events.hpp"

namespace storefleet::provisioner {
namespace {

// Records what would be published; fails the first `failures` calls.
class RecordingPublisher : public kafka::EventPublisher {
public:
    Status PublishAndWait(const std::vector<kafka::OutgoingMessage>& messages, std::chrono::milliseconds) override {
        if (failures > 0) {
            --failures;
            return Error::Retryable("kafka_timeout", "broker down");
        }
        sent.insert(sent.end(), messages.begin(), messages.end());
        return Status::Ok();
    }
    int failures = 0;
    std::vector<kafka::OutgoingMessage> sent;
};

v1::Envelope Command() {
    auto command = kafka::NewEnvelope("acme", "123e4567-e89b-42d3-a456-426614174000", "corr-1");
    command.mutable_store_requested()->set_name("shop");
    command.mutable_store_requested()->set_engine(v1::ENGINE_MEDUSA);
    kafka::SetTypeFromPayload(command);
    return command;
}

TEST(StatusSinkTest, PublishesAStatusEventKeyedByStoreAfterRetries) {
    RecordingPublisher publisher;
    publisher.failures = 2;
    ShutdownFlag shutdown;
    KafkaStatusSink sink(publisher, shutdown, /*simulated=*/true);
    ASSERT_TRUE(sink.Emit(Command(), {v1::STORE_STATUS_READY, "ready", "", "http://shop/", "http://shop/app", "ns"}).ok());
    ASSERT_EQ(publisher.sent.size(), 1U);
    EXPECT_EQ(publisher.sent[0].topic, "store-status");
    EXPECT_EQ(publisher.sent[0].key, "123e4567-e89b-42d3-a456-426614174000");
    auto event = kafka::Decode(publisher.sent[0].payload);
    ASSERT_TRUE(event.ok());
    EXPECT_EQ(event->type(), "StoreStatusChanged");
    EXPECT_EQ(event->correlation_id(), "corr-1") << "the correlation id travels with every event";
    EXPECT_EQ(event->tenant_id(), "acme");
    const auto& changed = event->store_status_changed();
    EXPECT_EQ(changed.status(), v1::STORE_STATUS_READY);
    EXPECT_TRUE(changed.simulated());
    EXPECT_EQ(changed.name(), "shop");
    EXPECT_EQ(changed.engine_name(), "medusa");
    EXPECT_GT(changed.sequence(), 0U);
}

TEST(StatusSinkTest, SequencesIncreaseForOneStore) {
    RecordingPublisher publisher;
    ShutdownFlag shutdown;
    KafkaStatusSink sink(publisher, shutdown, false);
    auto first = sink.BuildEvent(Command(), {});
    auto second = sink.BuildEvent(Command(), {});
    EXPECT_LE(first.store_status_changed().sequence(), second.store_status_changed().sequence());
    EXPECT_NE(first.event_id(), second.event_id());
}

TEST(StatusSinkTest, GivesUpOnlyAtShutdown) {
    RecordingPublisher publisher;
    publisher.failures = 1000;
    ShutdownFlag shutdown;
    shutdown.Trigger();
    KafkaStatusSink sink(publisher, shutdown, false);
    EXPECT_FALSE(sink.Emit(Command(), {}).ok());
    EXPECT_TRUE(publisher.sent.empty());
}

}  // namespace
}  // namespace storefleet::provisioner
