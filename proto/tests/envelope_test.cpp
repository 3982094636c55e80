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

}  // namespace
}  // namespace storefleet::events
