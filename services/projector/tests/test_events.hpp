#pragma once

#include <string>
#include <vector>

#include "storefleet/events/envelope.hpp"
#include "storefleet/events/status.hpp"

// Envelopes for tests, with fixed ids and times so expectations can name them.
namespace storefleet::projector::fixtures {

inline constexpr const char* kStoreId = "6f1c2b9e-3d4a-4b5c-8d7e-9f0a1b2c3d4e";
inline constexpr const char* kTenant = "acme";
inline constexpr int64_t kT0 = 1'700'000'000'000'000;  // 2023-11-14T22:13:20Z, in micros

inline v1::Envelope Envelope(const std::string& event_id, int64_t occurred_at_us) {
    v1::Envelope envelope;
    envelope.set_event_id(event_id);
    envelope.set_store_id(kStoreId);
    envelope.set_tenant_id(kTenant);
    envelope.set_correlation_id("corr-1");
    envelope.set_schema_version(events::kSchemaVersion);
    envelope.mutable_occurred_at()->set_seconds(occurred_at_us / 1'000'000);
    envelope.mutable_occurred_at()->set_nanos(static_cast<int32_t>(occurred_at_us % 1'000'000) *
                                              1000);
    return envelope;
}

inline v1::Envelope Requested(const std::string& event_id, int64_t occurred_at_us) {
    auto envelope = Envelope(event_id, occurred_at_us);
    auto* requested = envelope.mutable_store_requested();
    requested->set_name("shop");
    requested->set_engine(v1::ENGINE_WOOCOMMERCE);
    requested->set_plan("small");
    requested->set_host("shop.acme.stores.localtest.me");
    requested->set_requested_by(kTenant);
    requested->set_admin_email("admin@example.com");
    events::SetTypeFromPayload(envelope);
    return envelope;
}

inline v1::Envelope StatusChanged(const std::string& event_id, int64_t occurred_at_us,
                                  v1::StoreStatus status, uint64_t sequence = 0) {
    auto envelope = Envelope(event_id, occurred_at_us);
    auto* changed = envelope.mutable_store_status_changed();
    changed->set_status(status);
    changed->set_step("helm");
    changed->set_sequence(sequence);
    changed->set_name("shop");
    changed->set_engine_name("woocommerce");
    changed->set_namespace_("store-6f1c2b9e");
    events::SetTypeFromPayload(envelope);
    return envelope;
}

// A change of the store's desired state to `generation` (or, retry, that generation again).
inline v1::Envelope ChangeRequested(const std::string& event_id, int64_t occurred_at_us,
                                    uint64_t generation, const std::string& plan, bool suspended,
                                    std::vector<std::string> changed, bool retry = false) {
    auto envelope = Envelope(event_id, occurred_at_us);
    auto* change = envelope.mutable_store_change_requested();
    change->set_generation(generation);
    change->mutable_desired()->set_plan(plan);
    change->mutable_desired()->set_suspended(suspended);
    change->mutable_desired()->set_admin_email("admin@example.com");
    change->set_requested_by("ops");
    for (auto& field : changed) change->add_changed(std::move(field));
    change->set_retry(retry);
    change->set_name("shop");
    change->set_engine(v1::ENGINE_WOOCOMMERCE);
    change->set_host("shop.acme.stores.localtest.me");
    events::SetTypeFromPayload(envelope);
    return envelope;
}

// A ready or suspended report of a provisioner that converged the store to `generation`.
inline v1::Envelope Converged(const std::string& event_id, int64_t occurred_at_us,
                              v1::StoreStatus status, uint64_t sequence, uint64_t generation) {
    auto envelope = StatusChanged(event_id, occurred_at_us, status, sequence);
    envelope.mutable_store_status_changed()->set_generation(generation);
    envelope.mutable_store_status_changed()->set_observed_generation(generation);
    return envelope;
}

// `envelope` naming the store chart's `version`: a create's, a change's desired one, or the
// one a status is about (on a ready or suspended one, the version converged to).
inline v1::Envelope WithChartVersion(v1::Envelope envelope, const std::string& version) {
    if (envelope.has_store_requested()) {
        envelope.mutable_store_requested()->set_chart_version(version);
    } else if (envelope.has_store_change_requested()) {
        envelope.mutable_store_change_requested()->mutable_desired()->set_chart_version(version);
    } else if (envelope.has_store_status_changed()) {
        envelope.mutable_store_status_changed()->set_chart_version(version);
    }
    return envelope;
}

inline v1::Envelope DeletionRequested(const std::string& event_id, int64_t occurred_at_us) {
    auto envelope = Envelope(event_id, occurred_at_us);
    envelope.mutable_store_deletion_requested()->set_requested_by(kTenant);
    events::SetTypeFromPayload(envelope);
    return envelope;
}

// A status event's sequence under the contract with the provisioner (storefleet/events).
inline uint64_t StatusSequence(int64_t command_offset, uint32_t step_index, uint32_t sub = 0) {
    return events::StatusSequence(command_offset, step_index, sub);
}

// Event ids: "00000000-0000-4000-8000-00000000000<n>".
inline std::string EventId(int n) {
    std::string suffix = std::to_string(n);
    return "00000000-0000-4000-8000-" + std::string(12 - suffix.size(), '0') + suffix;
}

}  // namespace storefleet::projector::fixtures
