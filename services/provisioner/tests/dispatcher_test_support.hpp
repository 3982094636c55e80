#pragma once
// Shared by the CommandDispatcher tests on librdkafka's mock cluster (dispatcher_test.cpp,
// dispatcher_admission_test.cpp): encoded commands, consumer options and a bounded wait.
#include <chrono>
#include <string>

#include "storefleet/events/envelope.hpp"
#include "storefleet/events/status.hpp"
#include "storefleet/kafka/consumer.hpp"
#include "storefleet/kafka/testing/mock_cluster.hpp"
#include "storefleet/test_support/wait.hpp"

namespace storefleet::provisioner::dispatcher_testing {

inline constexpr const char* kTopic = "commands";

// A StoreRequested command of tenant "acme", encoded as it travels on the topic.
inline std::string Create(const std::string& store_id, const std::string& name = "shop") {
    auto envelope = events::NewEnvelope("acme", store_id, "corr");
    envelope.mutable_store_requested()->set_name(name);
    events::SetTypeFromPayload(envelope);
    return events::Encode(envelope);
}

// A StoreChangeRequested of `generation` (a retry of it with `retry`) of tenant "acme".
inline std::string Change(const std::string& store_id, uint64_t generation, bool retry = false) {
    auto envelope = events::NewEnvelope("acme", store_id, "corr");
    auto* change = envelope.mutable_store_change_requested();
    change->set_generation(generation);
    change->set_retry(retry);
    change->set_name("shop");
    change->mutable_desired()->set_plan("medium");
    events::SetTypeFromPayload(envelope);
    return events::Encode(envelope);
}

// A StoreDeletionRequested command of tenant "acme".
inline std::string Delete(const std::string& store_id) {
    auto envelope = events::NewEnvelope("acme", store_id, "corr");
    envelope.mutable_store_deletion_requested()->set_requested_by("test");
    events::SetTypeFromPayload(envelope);
    return events::Encode(envelope);
}

inline kafka::KafkaConsumer::Options ConsumerOptions(const kafka::testing::MockCluster& cluster,
                                                     const std::string& group,
                                                     const std::string& client) {
    return {.brokers = cluster.Brokers(),
            .group_id = group,
            .client_id = client,
            .topics = {kTopic},
            .on_assign = nullptr,
            .on_revoke = nullptr,
            .overrides = {},
            .instance_id = "",
            // librdkafka 2.0's mock coordinator does not complete a cooperative rebalance
            // (the old member's assignment ends up lost after its session); the eager
            // protocol exercises the same revoke, cancel and drain path here, and the fault
            // suite proves cooperative hand-overs on the real broker.
            .cooperative = false,
            .session_timeout = std::chrono::milliseconds(6000)};
}

// test_support::WaitUntil with these tests' usual deadline.
template <typename Predicate>
bool WaitUntil(Predicate predicate, std::chrono::milliseconds limit = std::chrono::seconds(30)) {
    return test_support::WaitUntil(predicate, limit);
}

}  // namespace storefleet::provisioner::dispatcher_testing
