#include "status_publisher.hpp"

#include <gtest/gtest.h>

#include <thread>

#include "storefleet/common/ids.hpp"
#include "storefleet/events/envelope.hpp"
#include "storefleet/events/status.hpp"

namespace storefleet::provisioner {
namespace {

// Records what would be published; fails the first `failures` calls.
class RecordingPublisher : public kafka::EventPublisher {
public:
    Status PublishAndWait(const std::vector<kafka::OutgoingMessage>& messages,
                          std::chrono::milliseconds) override {
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

v1::Envelope RequestedEnvelope() {
    auto command = events::NewEnvelope("acme", "123e4567-e89b-42d3-a456-426614174000", "corr-1");
    command.mutable_store_requested()->set_name("shop");
    command.mutable_store_requested()->set_engine(v1::ENGINE_MEDUSA);
    events::SetTypeFromPayload(command);
    return command;
}

Command Requested(int64_t offset = 41) { return {RequestedEnvelope(), 3, offset}; }

TEST(StatusPublisherTest, PublishesAStatusEventKeyedByStoreAfterRetries) {
    RecordingPublisher publisher;
    publisher.failures = 2;
    ShutdownFlag shutdown;
    KafkaStatusPublisher statuses(publisher, /*simulated=*/true);
    ASSERT_TRUE(
        statuses
            .Publish(Requested(),
                     {v1::STORE_STATUS_READY, "ready", "", "http://shop/", "http://shop/app", "ns"},
                     CancelToken(shutdown))
            .ok());
    ASSERT_EQ(publisher.sent.size(), 1U);
    EXPECT_EQ(publisher.sent[0].topic, "store-status");
    EXPECT_EQ(publisher.sent[0].key, "123e4567-e89b-42d3-a456-426614174000");
    auto event = events::Decode(publisher.sent[0].payload);
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

// Every status carries its command's generation; Ready and Suspended also the generation the
// store converged to. A change names its store and engine from its own facts.
TEST(StatusPublisherTest, EveryStatusCarriesItsCommandsGeneration) {
    RecordingPublisher publisher;
    KafkaStatusPublisher statuses(publisher, /*simulated=*/false);
    const auto created = statuses.BuildEvent(
        Requested(), {v1::STORE_STATUS_PROVISIONING, "helm", "", "", "", "ns", 8, 0});
    EXPECT_EQ(created.store_status_changed().generation(), 1U) << "a create is generation 1";
    EXPECT_EQ(created.store_status_changed().observed_generation(), 0U);

    auto change = events::NewEnvelope("acme", "123e4567-e89b-42d3-a456-426614174000", "corr-3");
    auto* changed = change.mutable_store_change_requested();
    changed->set_generation(4);
    changed->set_name("shop");
    changed->set_engine(v1::ENGINE_WOOCOMMERCE);
    changed->mutable_desired()->set_suspended(true);
    events::SetTypeFromPayload(change);
    const auto suspended =
        statuses
            .BuildEvent({change, 3, 50},
                        {v1::STORE_STATUS_SUSPENDED, "suspended", "", "", "", "ns", 12, 0, 4})
            .store_status_changed();
    EXPECT_EQ(suspended.generation(), 4U);
    EXPECT_EQ(suspended.observed_generation(), 4U);
    EXPECT_EQ(suspended.name(), "shop");
    EXPECT_EQ(suspended.engine_name(), "woocommerce");
}

TEST(StatusPublisherTest, AStoreOnTheRealNodeIsNotSimulatedAndDeletionsNeverSaySimulated) {
    RecordingPublisher publisher;
    ShutdownFlag shutdown;
    KafkaStatusPublisher statuses(publisher, /*simulated=*/true);
    Command real = Requested();
    real.envelope.mutable_store_requested()->set_placement("real-node");
    ASSERT_TRUE(
        statuses
            .Publish(real,
                     {v1::STORE_STATUS_READY, "ready", "", "http://shop/", "http://shop/app", "ns"},
                     CancelToken(shutdown))
            .ok());
    auto deletion_envelope =
        events::NewEnvelope("acme", "123e4567-e89b-42d3-a456-426614174000", "corr-2");
    deletion_envelope.mutable_store_deletion_requested()->set_requested_by("acme");
    events::SetTypeFromPayload(deletion_envelope);
    ASSERT_TRUE(statuses
                    .Publish({deletion_envelope, 3, 50},
                             {v1::STORE_STATUS_DELETING, "helm-uninstall", "", "", "", "ns"},
                             CancelToken(shutdown))
                    .ok());
    ASSERT_TRUE(
        statuses
            .Publish(Requested(),
                     {v1::STORE_STATUS_READY, "ready", "", "http://shop/", "http://shop/app", "ns"},
                     CancelToken(shutdown))
            .ok());
    ASSERT_EQ(publisher.sent.size(), 3U);
    std::vector<bool> simulated;
    for (const auto& message : publisher.sent) {
        auto event = events::Decode(message.payload);
        ASSERT_TRUE(event.ok());
        simulated.push_back(event->store_status_changed().simulated());
    }
    EXPECT_EQ(simulated, (std::vector<bool>{false, false, true}));
}

TEST(StatusPublisherTest, SequencesFollowTheCommandOffsetAndStepNotAClock) {
    RecordingPublisher publisher;
    ShutdownFlag shutdown;
    KafkaStatusPublisher statuses(publisher, false);
    const auto command = Requested(41);
    auto namespace_step = statuses.BuildEvent(
        command, {v1::STORE_STATUS_PROVISIONING, "namespace", "", "", "", "ns", 2, 0});
    auto ready =
        statuses.BuildEvent(command, {v1::STORE_STATUS_READY, "ready", "", "", "", "ns", 12, 0});
    EXPECT_EQ(namespace_step.store_status_changed().sequence(), (42ULL << 20) | (2U << 8));
    EXPECT_LT(namespace_step.store_status_changed().sequence(),
              ready.store_status_changed().sequence());
    // Every event of a command sorts after the command ((offset + 1) << 20) and before the
    // store's next command, whatever step it is at.
    auto next_command = statuses.BuildEvent(
        Requested(42), {v1::STORE_STATUS_DELETING, "helm-uninstall", "", "", "", "ns", 2, 0});
    EXPECT_GT(ready.store_status_changed().sequence(), 42ULL << 20);
    EXPECT_LT(ready.store_status_changed().sequence(), 43ULL << 20);
    EXPECT_GT(next_command.store_status_changed().sequence(),
              ready.store_status_changed().sequence());
    EXPECT_NE(namespace_step.event_id(), ready.event_id());
}

TEST(StatusPublisherTest, AReplayedCommandEmitsTheSameEventIds) {
    RecordingPublisher publisher;
    ShutdownFlag shutdown;
    KafkaStatusPublisher statuses(publisher, false);
    const auto command = Requested(5);
    const StatusUpdate update{v1::STORE_STATUS_PROVISIONING, "helm", "", "", "", "ns", 8, 0};
    auto first = statuses.BuildEvent(command, update);
    auto replay = statuses.BuildEvent(command, update);
    EXPECT_EQ(first.event_id(), replay.event_id())
        << "the read model records a replayed update once";
    EXPECT_TRUE(IsUuid(first.event_id()));
    auto other_store_command = Requested(5);
    other_store_command.envelope.set_event_id(NewUuid());
    EXPECT_NE(statuses.BuildEvent(other_store_command, update).event_id(), first.event_id());
    EXPECT_NE(
        statuses
            .BuildEvent(command, {v1::STORE_STATUS_PROVISIONING, "helm", "", "", "", "ns", 8, 1})
            .event_id(),
        first.event_id());
}

// The relay publishes at least once: a copy of a command (same event id) may sit at a later
// offset and be run again after the first finished. Its updates are the same events, so the
// store's timeline shows "ready" once, not twice.
TEST(StatusPublisherTest, ACopyOfTheCommandAtAnotherOffsetEmitsTheSameEventIds) {
    RecordingPublisher publisher;
    ShutdownFlag shutdown;
    KafkaStatusPublisher statuses(publisher, false);
    const auto command = Requested(5);
    auto copy = command;
    copy.offset = 9;
    const StatusUpdate ready{v1::STORE_STATUS_READY, "ready", "", "", "", "ns", 12, 0};
    EXPECT_EQ(statuses.BuildEvent(command, ready).event_id(),
              statuses.BuildEvent(copy, ready).event_id());
    EXPECT_NE(statuses.BuildEvent(command, ready).store_status_changed().sequence(),
              statuses.BuildEvent(copy, ready).store_status_changed().sequence());
}

TEST(StatusPublisherTest, PublishesNothingForACancelledCommand) {
    RecordingPublisher publisher;
    ShutdownFlag shutdown;
    CancelToken cancel(shutdown);
    cancel.Cancel(CancelToken::Reason::kLeaseLost);  // another runner speaks for the store now
    KafkaStatusPublisher statuses(publisher, false);
    auto emitted = statuses.Publish(
        Requested(), {v1::STORE_STATUS_READY, "ready", "", "", "", "ns", 12, 0}, cancel);
    ASSERT_FALSE(emitted.ok());
    EXPECT_EQ(emitted.error().code, "cancelled");
    EXPECT_TRUE(publisher.sent.empty()) << "a command that lost its lease published a status";
}

TEST(StatusPublisherTest, StopsRetryingWhenTheCommandIsCancelled) {
    RecordingPublisher publisher;
    publisher.failures = 1'000'000;  // Kafka refuses for good
    ShutdownFlag shutdown;
    CancelToken cancel(shutdown);
    KafkaStatusPublisher statuses(publisher, false);
    std::thread canceller([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        cancel.Cancel(CancelToken::Reason::kRevoked);
    });
    auto emitted = statuses.Publish(
        Requested(), {v1::STORE_STATUS_READY, "ready", "", "", "", "ns", 12, 0}, cancel);
    canceller.join();
    ASSERT_FALSE(emitted.ok());
    EXPECT_EQ(emitted.error().code, "cancelled");
}

TEST(StatusPublisherTest, GivesUpOnlyAtShutdown) {
    RecordingPublisher publisher;
    publisher.failures = 1000;
    ShutdownFlag shutdown;
    shutdown.Trigger();
    KafkaStatusPublisher statuses(publisher, false);
    EXPECT_FALSE(statuses.Publish(Requested(), {}, CancelToken(shutdown)).ok());
    EXPECT_TRUE(publisher.sent.empty());
}

}  // namespace
}  // namespace storefleet::provisioner
