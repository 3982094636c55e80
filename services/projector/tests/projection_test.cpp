#include "projection.hpp"

#include <gtest/gtest.h>

#include "test_events.hpp"

namespace storefleet::projector {
namespace {

using namespace fixtures;  // NOLINT(google-build-using-namespace)

StoreChange ChangeOf(const v1::Envelope& envelope) {
    auto planned = PlanEvent(envelope);
    EXPECT_TRUE(planned.ok()) << planned.error().message;
    return planned->change;
}

// Applies events in the given order the way the read model does, starting from no row.
std::optional<StoreRow> Project(const std::vector<v1::Envelope>& events) {
    std::optional<StoreRow> row;
    for (const auto& event : events) {
        RowDecision decision = Decide(row, ChangeOf(event));
        if (decision.action == RowAction::kInsert || decision.action == RowAction::kUpdate) {
            row = decision.row;
        }
    }
    return row;
}

TEST(PlanEventTest, StoreRequestedBecomesARequestedStoreWithItsFacts) {
    auto planned = PlanEvent(Requested(EventId(1), kT0 + 7));
    ASSERT_TRUE(planned.ok()) << planned.error().message;
    EXPECT_EQ(planned->entry.event_id, EventId(1));
    EXPECT_EQ(planned->entry.store_id, kStoreId);
    EXPECT_EQ(planned->entry.tenant_id, kTenant);
    EXPECT_EQ(planned->entry.type, "StoreRequested");
    EXPECT_EQ(planned->entry.status, "requested");
    EXPECT_EQ(planned->entry.occurred_at_us, kT0 + 7);
    EXPECT_EQ(planned->entry.correlation_id, "corr-1");
    const StoreChange& change = planned->change;
    EXPECT_EQ(change.kind, StoreChange::Kind::kRequested);
    EXPECT_EQ(change.sequence, kT0 + 7) << "commands are ordered by occurred_at";
    EXPECT_EQ(change.name, "shop");
    EXPECT_EQ(change.engine, "woocommerce");
    EXPECT_EQ(change.plan, "small");
    EXPECT_EQ(change.host, "shop.acme.stores.localtest.me");
}

TEST(PlanEventTest, StatusChangedUsesItsSequenceOrElseOccurredAt) {
    auto with_sequence = ChangeOf(StatusChanged(EventId(1), kT0, v1::STORE_STATUS_READY, 42));
    EXPECT_EQ(with_sequence.sequence, 42);
    EXPECT_EQ(with_sequence.status, "ready");
    EXPECT_EQ(with_sequence.step, "helm");
    EXPECT_EQ(with_sequence.k8s_namespace, "store-6f1c2b9e");
    auto without = ChangeOf(StatusChanged(EventId(2), kT0 + 5, v1::STORE_STATUS_READY, 0));
    EXPECT_EQ(without.sequence, kT0 + 5);
}

TEST(PlanEventTest, DeletionRequestedMeansDeleting) {
    auto planned = PlanEvent(DeletionRequested(EventId(1), kT0));
    ASSERT_TRUE(planned.ok());
    EXPECT_EQ(planned->entry.type, "StoreDeletionRequested");
    EXPECT_EQ(planned->change.status, "deleting");
}

TEST(PlanEventTest, RefusesEventsTheReadModelCannotHold) {
    auto bad_store = Requested(EventId(1), kT0);
    bad_store.set_store_id("not-a-uuid");
    EXPECT_EQ(PlanEvent(bad_store).error().code, "invalid_store_id");

    auto bad_event = Requested("42", kT0);
    EXPECT_EQ(PlanEvent(bad_event).error().code, "invalid_event_id");

    auto no_tenant = Requested(EventId(1), kT0);
    no_tenant.set_tenant_id("");
    EXPECT_EQ(PlanEvent(no_tenant).error().code, "no_tenant");

    auto no_time = Requested(EventId(1), kT0);
    no_time.clear_occurred_at();
    EXPECT_EQ(PlanEvent(no_time).error().code, "invalid_time");

    auto far_future = Requested(EventId(1), kT0);
    far_future.mutable_occurred_at()->set_seconds(int64_t{1} << 40);
    EXPECT_EQ(PlanEvent(far_future).error().code, "invalid_time");

    auto unknown_status = StatusChanged(EventId(1), kT0, v1::STORE_STATUS_UNSPECIFIED);
    EXPECT_EQ(PlanEvent(unknown_status).error().code, "unknown_status");

    auto huge_sequence = StatusChanged(EventId(1), kT0, v1::STORE_STATUS_READY, ~uint64_t{0});
    EXPECT_EQ(PlanEvent(huge_sequence).error().code, "invalid_sequence");

    auto no_payload = Envelope(EventId(1), kT0);
    EXPECT_EQ(PlanEvent(no_payload).error().code, "unknown_payload");
}

TEST(PlanEventTest, StripsNulBytesPostgresTextCannotHold) {
    auto envelope = StatusChanged(EventId(1), kT0, v1::STORE_STATUS_FAILED);
    envelope.mutable_store_status_changed()->set_reason(std::string("quota\0 exceeded", 15));
    auto planned = PlanEvent(envelope);
    ASSERT_TRUE(planned.ok());
    EXPECT_EQ(planned->change.reason, "quota exceeded");
    EXPECT_EQ(planned->entry.reason, "quota exceeded");
}

TEST(PlanBatchTest, SkipsUndecodableMessagesButMovesTheirPartitionOn) {
    std::vector<kafka::ConsumedMessage> messages = {
        {"store-commands", 0, 10, kStoreId, kafka::Encode(Requested(EventId(1), kT0))},
        {"store-commands", 0, 11, kStoreId, "garbage \x01\x02"},
        {"store-status", 0, 3, kStoreId,
         kafka::Encode(StatusChanged(EventId(2), kT0 + 1, v1::STORE_STATUS_READY))},
        {"store-commands", 2, 7, kStoreId, kafka::Encode(DeletionRequested(EventId(3), kT0 + 2))},
    };
    BatchPlan plan = PlanBatch(messages);
    ASSERT_EQ(plan.events.size(), 3U);
    EXPECT_EQ(plan.events[0].entry.event_id, EventId(1));
    EXPECT_EQ(plan.events[2].entry.event_id, EventId(3));
    ASSERT_EQ(plan.skipped.size(), 1U);
    EXPECT_EQ(plan.skipped[0].offset, 11);
    EXPECT_EQ(plan.skipped[0].error.code, "undecodable");
    ASSERT_EQ(plan.next_offsets.size(), 3U);
    EXPECT_EQ(plan.next_offsets[0].topic, "store-commands");
    EXPECT_EQ(plan.next_offsets[0].partition, 0);
    EXPECT_EQ(plan.next_offsets[0].offset, 12) << "past the skipped message";
    EXPECT_EQ(plan.next_offsets[1].topic, "store-status");
    EXPECT_EQ(plan.next_offsets[1].offset, 4);
    EXPECT_EQ(plan.next_offsets[2].partition, 2);
    EXPECT_EQ(plan.next_offsets[2].offset, 8);
}

TEST(PlanBatchTest, AnEmptyBatchPlansNothing) {
    BatchPlan plan = PlanBatch({});
    EXPECT_TRUE(plan.events.empty());
    EXPECT_TRUE(plan.next_offsets.empty());
}

TEST(DecideTest, StoreRequestedInsertsARequestedRow) {
    RowDecision decision = Decide(std::nullopt, ChangeOf(Requested(EventId(1), kT0)));
    ASSERT_EQ(decision.action, RowAction::kInsert);
    const StoreRow& row = decision.row;
    EXPECT_EQ(row.tenant_id, kTenant);
    EXPECT_EQ(row.status, "requested");
    EXPECT_EQ(row.name, "shop");
    EXPECT_EQ(row.engine, "woocommerce");
    EXPECT_EQ(row.plan, "small");
    EXPECT_EQ(row.host, "shop.acme.stores.localtest.me");
    EXPECT_EQ(row.created_at_us, kT0);
    EXPECT_EQ(row.updated_at_us, kT0);
    EXPECT_EQ(row.last_sequence, kT0);
    EXPECT_FALSE(row.simulated);
}

TEST(DecideTest, NewerStatusMovesTheStoreOn) {
    auto ready = StatusChanged(EventId(2), kT0 + 10, v1::STORE_STATUS_READY, kT0 + 10);
    ready.mutable_store_status_changed()->set_url("http://shop.acme.stores.localtest.me");
    ready.mutable_store_status_changed()->set_admin_url(
        "http://shop.acme.stores.localtest.me/wp-admin");
    ready.mutable_store_status_changed()->set_simulated(true);
    auto row = Project({Requested(EventId(1), kT0), ready});
    ASSERT_TRUE(row);
    EXPECT_EQ(row->status, "ready");
    EXPECT_EQ(row->step, "helm");
    EXPECT_EQ(row->url, "http://shop.acme.stores.localtest.me");
    EXPECT_EQ(row->admin_url, "http://shop.acme.stores.localtest.me/wp-admin");
    EXPECT_EQ(row->k8s_namespace, "store-6f1c2b9e");
    EXPECT_TRUE(row->simulated);
    EXPECT_EQ(row->created_at_us, kT0);
    EXPECT_EQ(row->updated_at_us, kT0 + 10);
    EXPECT_EQ(row->last_sequence, kT0 + 10);
    EXPECT_EQ(row->plan, "small");
}

TEST(DecideTest, StaleOrEqualSequenceNeverMovesTheStoreBack) {
    auto current = Project({Requested(EventId(1), kT0),
                            StatusChanged(EventId(2), kT0 + 20, v1::STORE_STATUS_READY, kT0 + 20)});
    ASSERT_TRUE(current);
    auto stale =
        ChangeOf(StatusChanged(EventId(3), kT0 + 30, v1::STORE_STATUS_PROVISIONING, kT0 + 15));
    EXPECT_EQ(Decide(current, stale).action, RowAction::kNone);
    auto same = ChangeOf(StatusChanged(EventId(4), kT0 + 30, v1::STORE_STATUS_FAILED, kT0 + 20));
    EXPECT_EQ(Decide(current, same).action, RowAction::kNone);
    auto late_request = ChangeOf(Requested(EventId(5), kT0));
    EXPECT_EQ(Decide(current, late_request).action, RowAction::kNone)
        << "the request is known already";
}

TEST(DecideTest, DeletedIsTerminal) {
    auto deleted = Project({Requested(EventId(1), kT0), DeletionRequested(EventId(2), kT0 + 5),
                            StatusChanged(EventId(3), kT0 + 9, v1::STORE_STATUS_DELETED, kT0 + 9)});
    ASSERT_TRUE(deleted);
    EXPECT_EQ(deleted->status, "deleted");
    auto later = ChangeOf(StatusChanged(EventId(4), kT0 + 50, v1::STORE_STATUS_READY, kT0 + 50));
    EXPECT_EQ(Decide(deleted, later).action, RowAction::kNone);
    auto request = ChangeOf(Requested(EventId(5), kT0 + 60));
    EXPECT_EQ(Decide(deleted, request).action, RowAction::kNone);
}

TEST(DecideTest, DeletionRequestedMarksTheStoreDeletingAndKeepsItsUrls) {
    auto ready = StatusChanged(EventId(2), kT0 + 10, v1::STORE_STATUS_READY, kT0 + 10);
    ready.mutable_store_status_changed()->set_url("http://shop");
    auto row =
        Project({Requested(EventId(1), kT0), ready, DeletionRequested(EventId(3), kT0 + 20)});
    ASSERT_TRUE(row);
    EXPECT_EQ(row->status, "deleting");
    EXPECT_EQ(row->step, "");
    EXPECT_EQ(row->url, "http://shop");
    EXPECT_EQ(row->updated_at_us, kT0 + 20);
}

TEST(DecideTest, StatusBeforeRequestCreatesTheRowAndTheLateRequestFillsItIn) {
    // The two topics are consumed independently, so the provisioner's first status may be
    // projected before the command that caused it.
    auto provisioning =
        StatusChanged(EventId(2), kT0 + 10, v1::STORE_STATUS_PROVISIONING, kT0 + 10);
    RowDecision first = Decide(std::nullopt, ChangeOf(provisioning));
    ASSERT_EQ(first.action, RowAction::kInsert);
    EXPECT_EQ(first.row.status, "provisioning");
    EXPECT_EQ(first.row.name, "shop");
    EXPECT_EQ(first.row.engine, "woocommerce");
    EXPECT_EQ(first.row.plan, "");
    EXPECT_EQ(first.row.created_at_us, kT0 + 10);

    RowDecision late = Decide(first.row, ChangeOf(Requested(EventId(1), kT0)));
    ASSERT_EQ(late.action, RowAction::kUpdate);
    EXPECT_EQ(late.row.status, "provisioning") << "the newer state stays";
    EXPECT_EQ(late.row.last_sequence, kT0 + 10);
    EXPECT_EQ(late.row.plan, "small");
    EXPECT_EQ(late.row.host, "shop.acme.stores.localtest.me");
    EXPECT_EQ(late.row.created_at_us, kT0) << "a store exists from its request";
}

TEST(DecideTest, StatusWithoutUrlsKeepsTheKnownOnes) {
    auto ready = StatusChanged(EventId(2), kT0 + 10, v1::STORE_STATUS_READY, kT0 + 10);
    ready.mutable_store_status_changed()->set_url("http://shop");
    ready.mutable_store_status_changed()->set_simulated(true);
    auto failed = StatusChanged(EventId(3), kT0 + 20, v1::STORE_STATUS_FAILED, kT0 + 20);
    failed.mutable_store_status_changed()->set_reason(
        "the chart did not become ready in 10 minutes");
    failed.mutable_store_status_changed()->set_namespace_("");
    auto row = Project({Requested(EventId(1), kT0), ready, failed});
    ASSERT_TRUE(row);
    EXPECT_EQ(row->status, "failed");
    EXPECT_EQ(row->reason, "the chart did not become ready in 10 minutes");
    EXPECT_EQ(row->url, "http://shop");
    EXPECT_EQ(row->k8s_namespace, "store-6f1c2b9e");
    EXPECT_TRUE(row->simulated);

    auto retried =
        ChangeOf(StatusChanged(EventId(4), kT0 + 30, v1::STORE_STATUS_PROVISIONING, kT0 + 30));
    RowDecision again = Decide(row, retried);
    EXPECT_EQ(again.row.reason, "") << "a reason belongs to the status that gave it";
}

TEST(DecideTest, AnEventOfAnotherTenantLeavesTheStoreAlone) {
    auto row = Project({Requested(EventId(1), kT0)});
    auto foreign = StatusChanged(EventId(2), kT0 + 10, v1::STORE_STATUS_READY);
    foreign.set_tenant_id("mallory");
    RowDecision decision = Decide(row, ChangeOf(foreign));
    EXPECT_EQ(decision.action, RowAction::kForeignTenant);
    EXPECT_EQ(decision.row, *row);
}

TEST(DecideTest, OrderOfArrivalDoesNotChangeTheOutcome) {
    std::vector<v1::Envelope> events = {
        Requested(EventId(1), kT0),
        StatusChanged(EventId(2), kT0 + 10, v1::STORE_STATUS_PROVISIONING, kT0 + 10),
        StatusChanged(EventId(3), kT0 + 20, v1::STORE_STATUS_READY, kT0 + 20),
    };
    auto in_order = Project(events);
    std::vector<std::size_t> order = {0, 1, 2};
    while (std::next_permutation(order.begin(), order.end())) {
        std::vector<v1::Envelope> shuffled;
        for (auto i : order) shuffled.push_back(events[i]);
        auto row = Project(shuffled);
        ASSERT_TRUE(row);
        EXPECT_EQ(*row, *in_order) << order[0] << order[1] << order[2];
    }
}

}  // namespace
}  // namespace storefleet::projector
