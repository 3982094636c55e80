#include "storefleet/events/envelope.hpp"

#include <gtest/gtest.h>

#include "storefleet/common/ids.hpp"

namespace storefleet::events {
namespace {

TEST(EnvelopeTest, RoundTripKeepsEnvelopeAndPayload) {
    auto envelope = NewEnvelope("tenant-a", "store-1", "corr-1");
    envelope.mutable_store_requested()->set_name("shop");
    envelope.mutable_store_requested()->set_engine(v1::ENGINE_WOOCOMMERCE);
    SetTypeFromPayload(envelope);
    EXPECT_TRUE(IsUuid(envelope.event_id()));
    EXPECT_EQ(envelope.type(), "StoreRequested");
    EXPECT_EQ(envelope.schema_version(), kSchemaVersion);

    auto decoded = Decode(Encode(envelope));
    ASSERT_TRUE(decoded.ok()) << decoded.error().message;
    EXPECT_EQ(decoded->event_id(), envelope.event_id());
    EXPECT_EQ(decoded->tenant_id(), "tenant-a");
    EXPECT_EQ(decoded->store_requested().name(), "shop");
    EXPECT_GT(decoded->occurred_at().seconds(), 1'700'000'000);
}

TEST(EnvelopeTest, GarbageIsAPermanentError) {
    auto decoded = Decode("\xff\xff\xff not protobuf");
    ASSERT_FALSE(decoded.ok());
    EXPECT_FALSE(decoded.error().retryable());
}

TEST(EnvelopeTest, EnvelopeWithoutPayloadIsRejected) {
    auto envelope = NewEnvelope("t", "s", "c");
    auto decoded = Decode(Encode(envelope));
    ASSERT_FALSE(decoded.ok());
    EXPECT_EQ(decoded.error().code, "unknown_payload");
}

TEST(EnvelopeTest, ACommandsGenerationIsOneForACreateAndItsOwnForAChange) {
    auto create = NewEnvelope("t", "s", "c");
    create.mutable_store_requested()->set_name("shop");
    EXPECT_TRUE(IsStoreCommand(create));
    EXPECT_EQ(CommandGeneration(create), 1U) << "a producer older than generations sends 0";
    create.mutable_store_requested()->set_generation(1);
    EXPECT_EQ(CommandGeneration(create), 1U);

    auto change = NewEnvelope("t", "s", "c");
    change.mutable_store_change_requested()->set_generation(4);
    change.mutable_store_change_requested()->mutable_desired()->set_suspended(true);
    SetTypeFromPayload(change);
    EXPECT_EQ(change.type(), "StoreChangeRequested");
    EXPECT_TRUE(IsStoreCommand(change));
    EXPECT_EQ(CommandGeneration(change), 4U);
    auto decoded = Decode(Encode(change));
    ASSERT_TRUE(decoded.ok()) << decoded.error().message;
    EXPECT_TRUE(decoded->store_change_requested().desired().suspended());

    auto deletion = NewEnvelope("t", "s", "c");
    deletion.mutable_store_deletion_requested()->set_requested_by("t");
    EXPECT_TRUE(IsStoreCommand(deletion));
    EXPECT_EQ(CommandGeneration(deletion), 0U);

    auto status = NewEnvelope("t", "s", "c");
    status.mutable_store_status_changed()->set_generation(4);
    EXPECT_FALSE(IsStoreCommand(status));
    EXPECT_EQ(CommandGeneration(status), 0U);
}

}  // namespace
}  // namespace storefleet::events
