#include "projection.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>

#include "test_events.hpp"

namespace storefleet::projector {
namespace {

using namespace fixtures;  // NOLINT(google-build-using-namespace)

// An envelope as the projector consumes it: where from decides a command's sequence.
struct Consumed {
    v1::Envelope envelope;
    std::string topic;
    int64_t offset = 0;
};

Consumed Command(v1::Envelope envelope, int64_t offset) {
    return {std::move(envelope), events::kCommandsTopic, offset};
}

// Status events carry their own sequence; their offset in store-status plays no part.
Consumed Status(v1::Envelope envelope) { return {std::move(envelope), events::kStatusTopic, 0}; }

StoreEffect ChangeOf(const Consumed& consumed) {
    auto planned = PlanEvent(consumed.envelope, {consumed.topic, consumed.offset});
    EXPECT_TRUE(planned.ok()) << planned.error().message;
    return planned->change;
}

// Applies events in the given order the way the read model does, starting from `row`.
std::optional<StoreRow> Project(const std::vector<Consumed>& events,
                                std::optional<StoreRow> row = std::nullopt) {
    for (const auto& event : events) {
        RowDecision decision = Decide(row, ChangeOf(event));
        if (decision.action == RowAction::kInsert || decision.action == RowAction::kUpdate) {
            row = decision.row;
        }
    }
    return row;
}

// Every permutation of `events` gives the same row as the first order; returns that row.
std::optional<StoreRow> ExpectSameRowInEveryOrder(const std::vector<Consumed>& events) {
    auto first = Project(events);
    std::vector<std::size_t> order(events.size());
    std::iota(order.begin(), order.end(), 0);
    int permutations = 0;
    while (std::next_permutation(order.begin(), order.end())) {
        std::vector<Consumed> shuffled;
        for (auto i : order) shuffled.push_back(events[i]);
        const auto row = Project(shuffled);
        ++permutations;
        if (row != first) {
            std::string seen;
            for (auto i : order) seen += std::to_string(i) + " ";
            ADD_FAILURE() << "order " << seen << "ends " << (row ? row->status : "absent") << " at "
                          << (row ? row->last_sequence : 0) << ", not "
                          << (first ? first->status : "absent");
            return first;
        }
    }
    EXPECT_GT(permutations, 0);
    return first;
}

constexpr int64_t kHour = 3'600'000'000;

TEST(PlanEventTest, StoreRequestedBecomesARequestedStoreWithItsFacts) {
    auto planned = PlanEvent(Requested(EventId(1), kT0 + 7), {events::kCommandsTopic, 40});
    ASSERT_TRUE(planned.ok()) << planned.error().message;
    EXPECT_EQ(planned->entry.event_id, EventId(1));
    EXPECT_EQ(planned->entry.store_id, kStoreId);
    EXPECT_EQ(planned->entry.tenant_id, kTenant);
    EXPECT_EQ(planned->entry.type, "StoreRequested");
    EXPECT_EQ(planned->entry.status, "requested");
    EXPECT_EQ(planned->entry.occurred_at_us, kT0 + 7);
    EXPECT_EQ(planned->entry.correlation_id, "corr-1");
    EXPECT_EQ(planned->entry.sequence, CommandSequence(40)) << "the timeline's order too";
    const StoreEffect& change = planned->change;
    EXPECT_EQ(change.kind, StoreEffect::Kind::kRequested);
    EXPECT_EQ(change.sequence, CommandSequence(40)) << "commands are ordered by their offset";
    EXPECT_EQ(change.name, "shop");
    EXPECT_EQ(change.engine, "woocommerce");
    EXPECT_EQ(change.plan, "small");
    EXPECT_EQ(change.host, "shop.acme.stores.localtest.me");
}

TEST(PlanEventTest, ACommandsSequenceIgnoresItsClock) {
    // The later command has the earlier clock: the offset decides.
    auto create = ChangeOf(Command(Requested(EventId(1), kT0 + kHour), 3));
    auto remove = ChangeOf(Command(DeletionRequested(EventId(2), kT0), 8));
    EXPECT_EQ(create.sequence, CommandSequence(3));
    EXPECT_EQ(remove.sequence, CommandSequence(8));
    EXPECT_EQ(remove.status, "deleting");
}

TEST(PlanEventTest, ACommandReadOffStoreCommandsIsUnordered) {
    auto stray = ChangeOf({Requested(EventId(1), kT0), events::kStatusTopic, 12});
    EXPECT_EQ(stray.sequence, 0);
    auto planned = PlanEvent(Requested(EventId(1), kT0), {events::kCommandsTopic, -1});
    EXPECT_EQ(planned.error().code, "invalid_offset");
    planned =
        PlanEvent(Requested(EventId(1), kT0), {events::kCommandsTopic, kMaxCommandOffset + 1});
    EXPECT_EQ(planned.error().code, "invalid_offset");
}

TEST(PlanEventTest, StatusChangedCarriesItsOwnSequenceAndZeroIsUnordered) {
    const uint64_t sequence = StatusSequence(7, 3, 1);
    auto planned =
        PlanEvent(StatusChanged(EventId(1), kT0, v1::STORE_STATUS_READY, sequence), {"x", 99});
    ASSERT_TRUE(planned.ok());
    EXPECT_EQ(planned->change.sequence, static_cast<int64_t>(sequence));
    EXPECT_EQ(planned->entry.sequence, static_cast<int64_t>(sequence));
    EXPECT_EQ(planned->change.status, "ready");
    EXPECT_EQ(planned->change.step, "helm");
    EXPECT_EQ(planned->change.k8s_namespace, "store-6f1c2b9e");
    auto old = ChangeOf(Status(StatusChanged(EventId(2), kT0 + 5, v1::STORE_STATUS_READY, 0)));
    EXPECT_EQ(old.sequence, 0) << "no longer a clock reading";
}

TEST(PlanEventTest, BackupsAndRestoresAreTimelineEntriesThatLeaveTheStoreAsItIs) {
    auto requested = Envelope(EventId(2), kT0 + 10);
    auto* backup = requested.mutable_store_backup_requested();
    backup->set_backup_id("0b5e8a4c-0a6f-4d0e-9f43-5a1c2f0d6e01");
    backup->set_requested_by("acme");
    backup->set_keep(3);
    events::SetTypeFromPayload(requested);
    auto planned = PlanEvent(requested, {events::kCommandsTopic, 5});
    ASSERT_TRUE(planned.ok());
    EXPECT_EQ(planned->entry.type, "StoreBackupRequested");
    EXPECT_EQ(planned->entry.step, "backup-requested");
    EXPECT_EQ(planned->entry.reason,
              "backup 0b5e8a4c-0a6f-4d0e-9f43-5a1c2f0d6e01, requested by acme; the newest 3 "
              "backups are kept");
    EXPECT_EQ(planned->entry.sequence, CommandSequence(5));
    EXPECT_TRUE(planned->change.status.empty());

    auto completed = Envelope(EventId(3), kT0 + 20);
    auto* status = completed.mutable_store_backup_status_changed();
    status->set_operation("backup");
    status->set_operation_id("0b5e8a4c-0a6f-4d0e-9f43-5a1c2f0d6e01");
    status->set_backup_id("0b5e8a4c-0a6f-4d0e-9f43-5a1c2f0d6e01");
    status->set_state("completed");
    status->set_size_bytes(48213);
    status->set_duration_ms(2450);
    status->set_sequence(StatusSequence(5, 4, 0));
    events::SetTypeFromPayload(completed);
    planned = PlanEvent(completed, {events::kStatusTopic, 0});
    ASSERT_TRUE(planned.ok());
    EXPECT_EQ(planned->entry.step, "backup-completed");
    EXPECT_EQ(planned->entry.reason,
              "backup 0b5e8a4c-0a6f-4d0e-9f43-5a1c2f0d6e01 completed: 48213 bytes in 2.5 s");
    // A ready store stays ready, at the same sequence.
    auto ready = Project({Command(Requested(EventId(1), kT0), 3),
                          Status(StatusChanged(EventId(4), kT0 + 5, v1::STORE_STATUS_READY,
                                               StatusSequence(3, 12, 0)))});
    ASSERT_TRUE(ready);
    auto after = Project({Command(requested, 5), Status(completed)}, ready);
    EXPECT_EQ(after->status, "ready");
    EXPECT_EQ(after->last_sequence, ready->last_sequence);
}

TEST(PlanEventTest, DeletionRequestedMeansDeleting) {
    auto planned = PlanEvent(DeletionRequested(EventId(1), kT0), {events::kCommandsTopic, 0});
    ASSERT_TRUE(planned.ok());
    EXPECT_EQ(planned->entry.type, "StoreDeletionRequested");
    EXPECT_EQ(planned->change.status, "deleting");
}

TEST(PlanEventTest, AChangeRequestIsACommandThatSaysWhoAskedForWhat) {
    auto planned =
        PlanEvent(ChangeRequested(EventId(1), kT0, 3, "medium", true, {"plan", "suspended"}),
                  {events::kCommandsTopic, 41});
    ASSERT_TRUE(planned.ok()) << planned.error().message;
    EXPECT_EQ(planned->entry.type, "StoreChangeRequested");
    EXPECT_EQ(planned->entry.status, "") << "a change is no status of the store";
    EXPECT_EQ(planned->entry.step, "change");
    EXPECT_EQ(planned->entry.reason, "generation 3, requested by ops: plan medium, suspended true");
    EXPECT_EQ(planned->entry.sequence, CommandSequence(41));
    const StoreEffect& change = planned->change;
    EXPECT_EQ(change.kind, StoreEffect::Kind::kChangeRequested);
    EXPECT_EQ(change.sequence, CommandSequence(41)) << "ordered by its offset like any command";
    EXPECT_EQ(change.generation, 3);
    EXPECT_EQ(change.plan, "medium");
    EXPECT_TRUE(change.suspended);
    EXPECT_EQ(change.admin_email, "admin@example.com");
    EXPECT_EQ(change.name, "shop");
    EXPECT_EQ(change.engine, "woocommerce");

    auto retry = PlanEvent(ChangeRequested(EventId(2), kT0, 3, "medium", true, {}, true),
                           {events::kCommandsTopic, 42});
    ASSERT_TRUE(retry.ok());
    EXPECT_EQ(retry->entry.step, "retry");
    EXPECT_EQ(retry->entry.reason, "retry of generation 3, requested by ops");
    EXPECT_EQ(retry->entry.status, "") << "a retry is no status report either";
    EXPECT_EQ(retry->change.status, "requested") << "but it is the store's state until one comes";
    EXPECT_EQ(planned->change.status, "") << "a change is not";

    auto no_generation = ChangeRequested(EventId(3), kT0, 0, "small", false, {"plan"});
    EXPECT_EQ(PlanEvent(no_generation, {events::kCommandsTopic, 43}).error().code,
              "invalid_generation");
}

TEST(PlanEventTest, GenerationsOfRequestsAndConvergedReports) {
    auto create = ChangeOf(Command(Requested(EventId(1), kT0), 5));
    EXPECT_EQ(create.generation, 1) << "a producer older than generations sends 0: read as 1";
    EXPECT_EQ(create.admin_email, "admin@example.com");
    auto ready = ChangeOf(Status(Converged(EventId(2), kT0, v1::STORE_STATUS_READY, 9, 4)));
    EXPECT_EQ(ready.observed_generation, 4);
    EXPECT_EQ(ready.generation, 0) << "a status states no desired state";
    auto old_ready = ChangeOf(Status(StatusChanged(EventId(3), kT0, v1::STORE_STATUS_READY, 9)));
    EXPECT_EQ(old_ready.observed_generation, 1) << "an older provisioner's ready: generation 1";
    auto provisioning = Converged(EventId(4), kT0, v1::STORE_STATUS_PROVISIONING, 9, 4);
    provisioning.mutable_store_status_changed()->set_drift("replicas 0, want 1");
    auto planned = ChangeOf(Status(provisioning));
    EXPECT_EQ(planned.observed_generation, 0) << "only ready and suspended converge";
    EXPECT_EQ(planned.drift, "replicas 0, want 1");
}

TEST(PlanEventTest, ChartVersionsOfCommandsAndConvergedReports) {
    auto create = ChangeOf(Command(WithChartVersion(Requested(EventId(1), kT0), "0.1.1"), 5));
    EXPECT_EQ(create.chart_version, "0.1.1") << "the version intake pinned at create";
    auto planned = PlanEvent(
        WithChartVersion(ChangeRequested(EventId(2), kT0, 2, "small", false, {"chart_version"}),
                         "0.2.0"),
        {events::kCommandsTopic, 9});
    ASSERT_TRUE(planned.ok()) << planned.error().message;
    EXPECT_EQ(planned->change.chart_version, "0.2.0");
    EXPECT_EQ(planned->entry.reason, "generation 2, requested by ops: chart_version 0.2.0");
    auto ready = ChangeOf(Status(WithChartVersion(
        Converged(EventId(3), kT0, v1::STORE_STATUS_READY, StatusSequence(9, 5), 2), "0.2.0")));
    EXPECT_EQ(ready.observed_chart_version, "0.2.0");
    EXPECT_EQ(ready.chart_version, "") << "a status states no desired state";
    auto suspended = ChangeOf(Status(WithChartVersion(
        Converged(EventId(4), kT0, v1::STORE_STATUS_SUSPENDED, StatusSequence(9, 6), 2), "0.2.0")));
    EXPECT_EQ(suspended.observed_chart_version, "0.2.0");
    // Every status of a change names the version it installs; only a converged one observed it.
    for (const auto status :
         {v1::STORE_STATUS_PROVISIONING, v1::STORE_STATUS_DEGRADED, v1::STORE_STATUS_FAILED}) {
        auto report = ChangeOf(Status(WithChartVersion(
            StatusChanged(EventId(5), kT0, status, StatusSequence(9, 2)), "0.2.0")));
        EXPECT_EQ(report.observed_chart_version, "") << events::StatusName(status);
    }
}

TEST(PlanEventTest, RefusesEventsTheReadModelCannotHold) {
    const MessagePosition at{events::kCommandsTopic, 0};
    auto bad_store = Requested(EventId(1), kT0);
    bad_store.set_store_id("not-a-uuid");
    EXPECT_EQ(PlanEvent(bad_store, at).error().code, "invalid_store_id");

    auto bad_event = Requested("42", kT0);
    EXPECT_EQ(PlanEvent(bad_event, at).error().code, "invalid_event_id");

    auto no_tenant = Requested(EventId(1), kT0);
    no_tenant.set_tenant_id("");
    EXPECT_EQ(PlanEvent(no_tenant, at).error().code, "no_tenant");

    auto no_time = Requested(EventId(1), kT0);
    no_time.clear_occurred_at();
    EXPECT_EQ(PlanEvent(no_time, at).error().code, "invalid_time");

    auto far_future = Requested(EventId(1), kT0);
    far_future.mutable_occurred_at()->set_seconds(int64_t{1} << 40);
    EXPECT_EQ(PlanEvent(far_future, at).error().code, "invalid_time");

    auto unknown_status = StatusChanged(EventId(1), kT0, v1::STORE_STATUS_UNSPECIFIED);
    EXPECT_EQ(PlanEvent(unknown_status, at).error().code, "unknown_status");

    auto huge_sequence = StatusChanged(EventId(1), kT0, v1::STORE_STATUS_READY, ~uint64_t{0});
    EXPECT_EQ(PlanEvent(huge_sequence, at).error().code, "invalid_sequence");

    auto no_payload = Envelope(EventId(1), kT0);
    EXPECT_EQ(PlanEvent(no_payload, at).error().code, "unknown_payload");
}

TEST(PlanEventTest, StripsNulBytesPostgresTextCannotHold) {
    auto envelope = StatusChanged(EventId(1), kT0, v1::STORE_STATUS_FAILED, StatusSequence(0, 1));
    envelope.mutable_store_status_changed()->set_reason(std::string("quota\0 exceeded", 15));
    auto planned = PlanEvent(envelope, {events::kStatusTopic, 0});
    ASSERT_TRUE(planned.ok());
    EXPECT_EQ(planned->change.reason, "quota exceeded");
    EXPECT_EQ(planned->entry.reason, "quota exceeded");
}

TEST(PlanBatchTest, SkipsUndecodableMessagesButMovesTheirPartitionOn) {
    std::vector<kafka::ConsumedMessage> messages = {
        {"store-commands", 0, 10, kStoreId, events::Encode(Requested(EventId(1), kT0))},
        {"store-commands", 0, 11, kStoreId, "garbage \x01\x02"},
        {"store-status", 0, 3, kStoreId,
         events::Encode(
             StatusChanged(EventId(2), kT0 + 1, v1::STORE_STATUS_READY, StatusSequence(10, 5)))},
        {"store-commands", 2, 7, kStoreId, events::Encode(DeletionRequested(EventId(3), kT0 + 2))},
    };
    BatchPlan plan = PlanBatch(messages);
    ASSERT_EQ(plan.events.size(), 3U);
    EXPECT_EQ(plan.events[0].entry.event_id, EventId(1));
    EXPECT_EQ(plan.events[0].change.sequence, CommandSequence(10)) << "from the message's offset";
    EXPECT_EQ(plan.events[1].change.sequence, static_cast<int64_t>(StatusSequence(10, 5)));
    EXPECT_EQ(plan.events[2].entry.event_id, EventId(3));
    EXPECT_EQ(plan.events[2].change.sequence, CommandSequence(7));
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
    RowDecision decision = Decide(std::nullopt, ChangeOf(Command(Requested(EventId(1), kT0), 5)));
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
    EXPECT_EQ(row.last_sequence, CommandSequence(5));
    EXPECT_TRUE(row.request_seen);
    EXPECT_FALSE(row.simulated);
}

TEST(DecideTest, NewerStatusMovesTheStoreOn) {
    auto ready = StatusChanged(EventId(2), kT0 + 10, v1::STORE_STATUS_READY, StatusSequence(5, 5));
    ready.mutable_store_status_changed()->set_url("http://shop.acme.stores.localtest.me");
    ready.mutable_store_status_changed()->set_admin_url(
        "http://shop.acme.stores.localtest.me/wp-admin");
    ready.mutable_store_status_changed()->set_simulated(true);
    auto row = Project({Command(Requested(EventId(1), kT0), 5), Status(ready)});
    ASSERT_TRUE(row);
    EXPECT_EQ(row->status, "ready");
    EXPECT_EQ(row->step, "helm");
    EXPECT_EQ(row->url, "http://shop.acme.stores.localtest.me");
    EXPECT_EQ(row->admin_url, "http://shop.acme.stores.localtest.me/wp-admin");
    EXPECT_EQ(row->k8s_namespace, "store-6f1c2b9e");
    EXPECT_TRUE(row->simulated);
    EXPECT_EQ(row->created_at_us, kT0);
    EXPECT_EQ(row->updated_at_us, kT0 + 10);
    EXPECT_EQ(row->last_sequence, static_cast<int64_t>(StatusSequence(5, 5)));
    EXPECT_EQ(row->plan, "small");
}

TEST(DecideTest, StaleOrEqualSequenceNeverMovesTheStoreBack) {
    auto current = Project({Command(Requested(EventId(1), kT0), 5),
                            Status(StatusChanged(EventId(2), kT0 + 20, v1::STORE_STATUS_READY,
                                                 StatusSequence(5, 5)))});
    ASSERT_TRUE(current);
    auto stale = ChangeOf(Status(
        StatusChanged(EventId(3), kT0 + 30, v1::STORE_STATUS_PROVISIONING, StatusSequence(5, 2))));
    EXPECT_EQ(Decide(current, stale).action, RowAction::kNone);
    auto same = ChangeOf(
        Status(StatusChanged(EventId(4), kT0 + 30, v1::STORE_STATUS_FAILED, StatusSequence(5, 5))));
    EXPECT_EQ(Decide(current, same).action, RowAction::kNone);
    auto late_request = ChangeOf(Command(Requested(EventId(5), kT0), 5));
    EXPECT_EQ(Decide(current, late_request).action, RowAction::kNone)
        << "the request is known already";
}

// Issue 8: the provisioner's clock far behind intake's left a deleted store "deleting".
TEST(DecideTest, TheProvisionersClockFarBehindIntakesDoesNotMatter) {
    const int64_t behind = kT0 - 6 * kHour;  // the provisioner's clock
    std::vector<Consumed> events = {
        Command(Requested(EventId(1), kT0), 5),
        Status(StatusChanged(EventId(2), behind + 1, v1::STORE_STATUS_READY, StatusSequence(5, 5))),
        Command(DeletionRequested(EventId(3), kT0 + 60'000'000), 9),
        Status(
            StatusChanged(EventId(4), behind + 2, v1::STORE_STATUS_DELETING, StatusSequence(9, 2))),
        Status(
            StatusChanged(EventId(5), behind + 3, v1::STORE_STATUS_DELETED, StatusSequence(9, 4))),
    };
    auto row = Project(events);
    ASSERT_TRUE(row);
    EXPECT_EQ(row->status, "deleted");
    EXPECT_EQ(row->last_sequence, static_cast<int64_t>(StatusSequence(9, 4)));
    EXPECT_EQ(row->updated_at_us, behind + 3) << "the time is shown, not used for order";
    EXPECT_EQ(row->created_at_us, kT0) << "the request's time, though a status looked older";

    // And a clock far ahead does not freeze the store either.
    const int64_t ahead = kT0 + 6 * kHour;
    events[1] =
        Status(StatusChanged(EventId(2), ahead, v1::STORE_STATUS_READY, StatusSequence(5, 5)));
    row = Project(events);
    ASSERT_TRUE(row);
    EXPECT_EQ(row->status, "deleted");
}

TEST(DecideTest, DeleteAfterCreateEndsDeletedWhateverOrderTheTopicsAreReadIn) {
    // Occurred-at values are arbitrary on purpose: only the offsets and steps order them.
    auto ready = StatusChanged(EventId(3), kT0 + 50, v1::STORE_STATUS_READY, StatusSequence(5, 5));
    ready.mutable_store_status_changed()->set_url("http://shop");
    ready.mutable_store_status_changed()->set_simulated(true);
    auto row = ExpectSameRowInEveryOrder({
        Command(Requested(EventId(1), kT0 + 40), 5),
        Status(StatusChanged(EventId(2), kT0 + 90, v1::STORE_STATUS_PROVISIONING,
                             StatusSequence(5, 1))),
        Status(ready),
        Command(DeletionRequested(EventId(4), kT0 + 10), 9),
        Status(
            StatusChanged(EventId(5), kT0 + 70, v1::STORE_STATUS_DELETING, StatusSequence(9, 2))),
        Status(StatusChanged(EventId(6), kT0 + 20, v1::STORE_STATUS_DELETED, StatusSequence(9, 4))),
    });
    ASSERT_TRUE(row);
    EXPECT_EQ(row->status, "deleted");
    EXPECT_EQ(row->url, "http://shop") << "a stale event still states facts";
    EXPECT_TRUE(row->simulated);
    EXPECT_EQ(row->created_at_us, kT0 + 40);
    EXPECT_EQ(row->plan, "small");
}

TEST(DecideTest, AReplayedCommandsEventsDoNotMoveTheRowBackwards) {
    auto row = Project({
        Command(Requested(EventId(1), kT0), 5),
        Status(StatusChanged(EventId(2), kT0 + 1, v1::STORE_STATUS_PROVISIONING,
                             StatusSequence(5, 1))),
        Status(StatusChanged(EventId(3), kT0 + 2, v1::STORE_STATUS_READY, StatusSequence(5, 5))),
    });
    ASSERT_TRUE(row);
    // A provisioner restarted and ran command 5 again: the same sequences (and, from the
    // provisioner, the same event ids, which store_events absorbs before Decide). Even as
    // new ids, and with later clocks, they do not move the store back.
    for (uint32_t step = 1; step <= 5; ++step) {
        auto again =
            ChangeOf(Status(StatusChanged(EventId(10 + static_cast<int>(step)), kT0 + 1000,
                                          v1::STORE_STATUS_PROVISIONING, StatusSequence(5, step))));
        EXPECT_EQ(Decide(row, again).action, RowAction::kNone) << "step " << step;
    }
    EXPECT_EQ(Decide(row, ChangeOf(Command(Requested(EventId(1), kT0), 5))).action,
              RowAction::kNone);
}

TEST(DecideTest, AStaleStatusOfASupersededProvisioningDoesNotResurrectTheStore) {
    auto deleting = Project({
        Command(Requested(EventId(1), kT0), 5),
        Status(StatusChanged(EventId(2), kT0 + 1, v1::STORE_STATUS_PROVISIONING,
                             StatusSequence(5, 1))),
        Command(DeletionRequested(EventId(3), kT0 + 2), 9),
    });
    ASSERT_TRUE(deleting);
    ASSERT_EQ(deleting->status, "deleting");
    // The create's "ready" was published after the deletion request reached us, with a
    // later clock: its lower command offset keeps it out.
    auto late_ready =
        StatusChanged(EventId(4), kT0 + 100, v1::STORE_STATUS_READY, StatusSequence(5, 5));
    late_ready.mutable_store_status_changed()->set_url("http://shop");
    RowDecision decision = Decide(deleting, ChangeOf(Status(late_ready)));
    EXPECT_EQ(decision.row.status, "deleting");
    EXPECT_EQ(decision.row.last_sequence, CommandSequence(9));
    EXPECT_EQ(decision.row.url, "http://shop") << "its facts still count";

    auto deleted = Project({Status(StatusChanged(EventId(5), kT0 + 3, v1::STORE_STATUS_DELETED,
                                                 StatusSequence(9, 4)))},
                           decision.row);
    ASSERT_TRUE(deleted);
    EXPECT_EQ(deleted->status, "deleted");
    auto after = ChangeOf(
        Status(StatusChanged(EventId(6), kT0 + 200, v1::STORE_STATUS_READY, StatusSequence(5, 6))));
    EXPECT_EQ(Decide(deleted, after).action, RowAction::kNone);
}

TEST(DecideTest, ARepeatedDeletionReadBeforeTheFirstDeletedStillEndsDeleted) {
    // The second DELETE (offset 12) is read off store-commands before the first deletion's
    // "deleted" is read off store-status. "deleted" is final whatever came before it.
    auto row = ExpectSameRowInEveryOrder({
        Command(Requested(EventId(1), kT0), 5),
        Command(DeletionRequested(EventId(2), kT0 + 1), 9),
        Status(StatusChanged(EventId(3), kT0 + 2, v1::STORE_STATUS_DELETED, StatusSequence(9, 4))),
        Command(DeletionRequested(EventId(4), kT0 + 3), 12),
    });
    ASSERT_TRUE(row);
    EXPECT_EQ(row->status, "deleted");
    EXPECT_EQ(row->last_sequence, static_cast<int64_t>(StatusSequence(9, 4)));

    // The second deletion's own report refreshes the deleted store, and nothing else.
    auto again = Project({Status(StatusChanged(EventId(5), kT0 + 4, v1::STORE_STATUS_DELETED,
                                               StatusSequence(12, 4)))},
                         row);
    ASSERT_TRUE(again);
    EXPECT_EQ(again->status, "deleted");
    EXPECT_EQ(again->last_sequence, static_cast<int64_t>(StatusSequence(12, 4)));
}

TEST(DecideTest, UnorderedEventsOnlyFillFacts) {
    auto ready = Project({
        Command(Requested(EventId(1), kT0), 5),
        Status(StatusChanged(EventId(2), kT0 + 1, v1::STORE_STATUS_READY, StatusSequence(5, 5))),
    });
    ASSERT_TRUE(ready);
    auto old = StatusChanged(EventId(3), kT0 + 100, v1::STORE_STATUS_FAILED, 0);
    old.mutable_store_status_changed()->set_url("http://shop");
    RowDecision decision = Decide(ready, ChangeOf(Status(old)));
    EXPECT_EQ(decision.action, RowAction::kUpdate);
    EXPECT_EQ(decision.row.status, "ready") << "an unordered event never changes the state";
    EXPECT_EQ(decision.row.updated_at_us, kT0 + 1);
    EXPECT_EQ(decision.row.url, "http://shop") << "but states facts";
    auto old_deleted = StatusChanged(EventId(4), kT0 + 100, v1::STORE_STATUS_DELETED, 0);
    EXPECT_EQ(Decide(ready, ChangeOf(Status(old_deleted))).row.status, "ready");
}

TEST(DecideTest, AnUnorderedEventMakesAProvisionalRowTheFirstOrderedOneReplaces) {
    auto row = ExpectSameRowInEveryOrder({
        Status(StatusChanged(EventId(1), kT0 + 100, v1::STORE_STATUS_DELETED, 0)),
        Command(Requested(EventId(2), kT0), 5),
    });
    ASSERT_TRUE(row);
    EXPECT_EQ(row->status, "requested") << "a deletion nobody can place in time is not final";
    EXPECT_EQ(row->last_sequence, CommandSequence(5));

    RowDecision first =
        Decide(std::nullopt,
               ChangeOf(Status(StatusChanged(EventId(3), kT0 + 100, v1::STORE_STATUS_READY, 0))));
    ASSERT_EQ(first.action, RowAction::kInsert);
    EXPECT_EQ(first.row.status, "ready");
    EXPECT_EQ(first.row.last_sequence, 0);
}

TEST(DecideTest, RowsFromBeforeTheMigrationAcceptTheNextOrderedEventUnlessDeleted) {
    // Migration 3 reset last_sequence of non-deleted rows to 0; deleted ones kept their
    // clock reading.
    auto legacy_ready = Project({Command(Requested(EventId(1), kT0), 5)});
    ASSERT_TRUE(legacy_ready);
    legacy_ready->status = "ready";
    legacy_ready->last_sequence = 0;
    auto next = ChangeOf(Command(DeletionRequested(EventId(2), kT0 - kHour), 0));
    EXPECT_EQ(Decide(legacy_ready, next).row.status, "deleting");

    auto legacy_deleted = *legacy_ready;
    legacy_deleted.status = "deleted";
    legacy_deleted.last_sequence = kT0;
    EXPECT_EQ(Decide(legacy_deleted, next).action, RowAction::kNone);
}

TEST(DecideTest, DeletedIsTerminal) {
    // It was ready once: a late ready report of that generation then changes nothing at all
    // (observed_generation, a max over every ready report, already counts it).
    auto deleted = Project(
        {Command(Requested(EventId(1), kT0), 5),
         Status(StatusChanged(EventId(6), kT0 + 2, v1::STORE_STATUS_READY, StatusSequence(5, 5))),
         Command(DeletionRequested(EventId(2), kT0 + 5), 6),
         Status(
             StatusChanged(EventId(3), kT0 + 9, v1::STORE_STATUS_DELETED, StatusSequence(6, 4)))});
    ASSERT_TRUE(deleted);
    EXPECT_EQ(deleted->status, "deleted");
    auto later = ChangeOf(
        Status(StatusChanged(EventId(4), kT0 + 50, v1::STORE_STATUS_READY, StatusSequence(7, 5))));
    EXPECT_EQ(Decide(deleted, later).action, RowAction::kNone);
    auto request = ChangeOf(Command(Requested(EventId(5), kT0 + 60), 8));
    EXPECT_EQ(Decide(deleted, request).action, RowAction::kNone);
}

TEST(DecideTest, DeletionRequestedMarksTheStoreDeletingAndKeepsItsUrls) {
    auto ready = StatusChanged(EventId(2), kT0 + 10, v1::STORE_STATUS_READY, StatusSequence(5, 5));
    ready.mutable_store_status_changed()->set_url("http://shop");
    auto row = Project({Command(Requested(EventId(1), kT0), 5), Status(ready),
                        Command(DeletionRequested(EventId(3), kT0 + 20), 9)});
    ASSERT_TRUE(row);
    EXPECT_EQ(row->status, "deleting");
    EXPECT_EQ(row->step, "");
    EXPECT_EQ(row->url, "http://shop");
    EXPECT_EQ(row->updated_at_us, kT0 + 20);
}

TEST(DecideTest, StatusBeforeRequestCreatesTheRowAndTheLateRequestFillsItIn) {
    // The two topics are consumed independently, so the provisioner's first status may be
    // projected before the command that caused it. Its clock is behind intake's here.
    auto provisioning =
        StatusChanged(EventId(2), kT0 - 10, v1::STORE_STATUS_PROVISIONING, StatusSequence(5, 1));
    RowDecision first = Decide(std::nullopt, ChangeOf(Status(provisioning)));
    ASSERT_EQ(first.action, RowAction::kInsert);
    EXPECT_EQ(first.row.status, "provisioning");
    EXPECT_EQ(first.row.name, "shop");
    EXPECT_EQ(first.row.engine, "woocommerce");
    EXPECT_EQ(first.row.plan, "");
    EXPECT_EQ(first.row.created_at_us, kT0 - 10);
    EXPECT_FALSE(first.row.request_seen);

    RowDecision late = Decide(first.row, ChangeOf(Command(Requested(EventId(1), kT0), 5)));
    ASSERT_EQ(late.action, RowAction::kUpdate);
    EXPECT_EQ(late.row.status, "provisioning") << "the newer state stays";
    EXPECT_EQ(late.row.last_sequence, static_cast<int64_t>(StatusSequence(5, 1)));
    EXPECT_EQ(late.row.plan, "small");
    EXPECT_EQ(late.row.host, "shop.acme.stores.localtest.me");
    EXPECT_EQ(late.row.created_at_us, kT0) << "a store exists from its request";
    EXPECT_TRUE(late.row.request_seen);
}

TEST(DecideTest, StatusWithoutUrlsKeepsTheKnownOnes) {
    auto ready = StatusChanged(EventId(2), kT0 + 10, v1::STORE_STATUS_READY, StatusSequence(5, 5));
    ready.mutable_store_status_changed()->set_url("http://shop");
    ready.mutable_store_status_changed()->set_simulated(true);
    auto failed =
        StatusChanged(EventId(3), kT0 + 20, v1::STORE_STATUS_FAILED, StatusSequence(5, 6));
    failed.mutable_store_status_changed()->set_reason(
        "the chart did not become ready in 10 minutes");
    failed.mutable_store_status_changed()->set_namespace_("");
    auto row = Project({Command(Requested(EventId(1), kT0), 5), Status(ready), Status(failed)});
    ASSERT_TRUE(row);
    EXPECT_EQ(row->status, "failed");
    EXPECT_EQ(row->reason, "the chart did not become ready in 10 minutes");
    EXPECT_EQ(row->url, "http://shop");
    EXPECT_EQ(row->k8s_namespace, "store-6f1c2b9e");
    EXPECT_TRUE(row->simulated);

    auto retried = ChangeOf(Status(
        StatusChanged(EventId(4), kT0 + 30, v1::STORE_STATUS_PROVISIONING, StatusSequence(7, 1))));
    RowDecision again = Decide(row, retried);
    EXPECT_EQ(again.row.reason, "") << "a reason belongs to the status that gave it";
}

TEST(DecideTest, AnEventOfAnotherTenantLeavesTheStoreAlone) {
    auto row = Project({Command(Requested(EventId(1), kT0), 5)});
    auto foreign =
        StatusChanged(EventId(2), kT0 + 10, v1::STORE_STATUS_READY, StatusSequence(5, 5));
    foreign.set_tenant_id("mallory");
    RowDecision decision = Decide(row, ChangeOf(Status(foreign)));
    EXPECT_EQ(decision.action, RowAction::kForeignTenant);
    EXPECT_EQ(decision.row, *row);
}

TEST(DecideTest, OrderOfArrivalDoesNotChangeTheOutcome) {
    // What the replay check relies on: a store's row is a function of its events, not of
    // how the two topics were interleaved. Seven events, 5040 orders.
    auto ready =
        StatusChanged(EventId(4), kT0 - kHour, v1::STORE_STATUS_READY, StatusSequence(5, 5));
    ready.mutable_store_status_changed()->set_url("http://shop");
    ready.mutable_store_status_changed()->set_admin_url("http://shop/wp-admin");
    ready.mutable_store_status_changed()->set_simulated(true);
    auto failed = StatusChanged(EventId(6), kT0 + 3, v1::STORE_STATUS_FAILED, StatusSequence(9, 3));
    failed.mutable_store_status_changed()->set_reason("namespace stuck terminating");
    auto row = ExpectSameRowInEveryOrder({
        Command(Requested(EventId(1), kT0), 5),
        Status(StatusChanged(EventId(2), kT0 - 2 * kHour, v1::STORE_STATUS_PROVISIONING,
                             StatusSequence(5, 1))),
        Status(StatusChanged(EventId(3), kT0 - 2 * kHour, v1::STORE_STATUS_PROVISIONING,
                             StatusSequence(5, 2, 1))),
        Status(ready),
        Command(DeletionRequested(EventId(5), kT0 + 2), 9),
        Status(failed),
        Command(DeletionRequested(EventId(7), kT0 + 4), 14),
    });
    ASSERT_TRUE(row);
    EXPECT_EQ(row->status, "deleting");
    EXPECT_EQ(row->last_sequence, CommandSequence(14));
    EXPECT_EQ(row->reason, "");
    EXPECT_EQ(row->url, "http://shop");
    EXPECT_EQ(row->created_at_us, kT0);
}

TEST(DecideTest, TheHighestGenerationsDesiredStateWinsWhateverTheOrder) {
    // Create, change the plan (2), suspend (3), and the reports of each: 5040 orders.
    auto row = ExpectSameRowInEveryOrder({
        Command(Requested(EventId(1), kT0), 5),
        Status(Converged(EventId(2), kT0 + 1, v1::STORE_STATUS_READY, StatusSequence(5, 5), 1)),
        Command(ChangeRequested(EventId(3), kT0 + 2, 2, "medium", false, {"plan"}), 9),
        Status(Converged(EventId(4), kT0 + 3, v1::STORE_STATUS_READY, StatusSequence(9, 5), 2)),
        Command(ChangeRequested(EventId(5), kT0 + 4, 3, "medium", true, {"suspended"}), 12),
        Status(StatusChanged(EventId(6), kT0 + 5, v1::STORE_STATUS_PROVISIONING,
                             StatusSequence(12, 1))),
        Status(
            Converged(EventId(7), kT0 + 6, v1::STORE_STATUS_SUSPENDED, StatusSequence(12, 5), 3)),
    });
    ASSERT_TRUE(row);
    EXPECT_EQ(row->generation, 3);
    EXPECT_EQ(row->observed_generation, 3);
    EXPECT_EQ(row->plan, "medium") << "the plan changes with the newest generation";
    EXPECT_TRUE(row->suspended);
    EXPECT_EQ(row->admin_email, "admin@example.com");
    EXPECT_EQ(row->status, "suspended");
    EXPECT_EQ(row->name, "shop");
    EXPECT_EQ(row->created_at_us, kT0);
}

TEST(DecideTest, ALateOlderGenerationChangesNothing) {
    auto row = Project({
        Command(Requested(EventId(1), kT0), 5),
        Command(ChangeRequested(EventId(2), kT0 + 1, 4, "large", false, {"plan"}), 20),
    });
    ASSERT_TRUE(row);
    EXPECT_EQ(row->generation, 4);
    EXPECT_EQ(row->plan, "large");
    auto late = ChangeOf(Command(
        ChangeRequested(EventId(3), kT0 + 2, 3, "medium", true, {"plan", "suspended"}), 15));
    RowDecision decision = Decide(row, late);
    EXPECT_EQ(decision.action, RowAction::kNone);
    EXPECT_EQ(decision.row, *row);
}

TEST(DecideTest, AChangeKeepsTheStoresStatusAndARetryKeepsItsDesiredState) {
    auto row = Project({
        Command(Requested(EventId(1), kT0), 5),
        Status(Converged(EventId(2), kT0 + 1, v1::STORE_STATUS_READY, StatusSequence(5, 5), 1)),
        Command(ChangeRequested(EventId(3), kT0 + 2, 2, "medium", false, {"plan"}), 9),
    });
    ASSERT_TRUE(row);
    EXPECT_EQ(row->status, "ready") << "it serves generation 1 while it converges to 2";
    EXPECT_EQ(row->last_sequence, static_cast<int64_t>(StatusSequence(5, 5)));
    EXPECT_EQ(row->generation, 2);
    EXPECT_EQ(row->observed_generation, 1);
    // A retry of the same generation (another desired state, which a retry never carries,
    // to show it is not taken): only the state moves.
    auto retry =
        ChangeOf(Command(ChangeRequested(EventId(4), kT0 + 3, 2, "large", true, {}, true), 11));
    const StoreRow retried = Decide(row, retry).row;
    EXPECT_EQ(retried.status, "requested");
    EXPECT_EQ(retried.generation, 2);
    EXPECT_EQ(retried.plan, "medium") << "the row knew the plan of generation 2";
    EXPECT_TRUE(retried.suspended) << "a boolean cannot tell unknown: true once stated";
}

TEST(DecideTest, ARetryMovesAFailedStoreOnAndTheFailedRunsReportsStayBehindIt) {
    auto failed = StatusChanged(EventId(2), kT0 + 1, v1::STORE_STATUS_FAILED, StatusSequence(5, 2));
    failed.mutable_store_status_changed()->set_reason("quota refused");
    auto row = ExpectSameRowInEveryOrder({
        Command(Requested(EventId(1), kT0), 5),
        Status(failed),
        Command(ChangeRequested(EventId(3), kT0 + 2, 1, "small", false, {}, true), 9),
        // A late report of the failed run, read after the retry.
        Status(StatusChanged(EventId(4), kT0 + 3, v1::STORE_STATUS_FAILED, StatusSequence(5, 3))),
    });
    ASSERT_TRUE(row);
    EXPECT_EQ(row->status, "requested");
    EXPECT_EQ(row->step, "retry");
    EXPECT_EQ(row->reason, "");
    EXPECT_EQ(row->last_sequence, CommandSequence(9));
    EXPECT_EQ(row->generation, 1);
    // The retry's own run then reports as usual.
    auto ready = ChangeOf(
        Status(Converged(EventId(5), kT0 + 4, v1::STORE_STATUS_READY, StatusSequence(9, 5), 1)));
    RowDecision decision = Decide(row, ready);
    EXPECT_EQ(decision.row.status, "ready");
    EXPECT_EQ(decision.row.observed_generation, 1);
}

TEST(DecideTest, ObservedGenerationOnlyGrows) {
    auto row = Project({
        Command(Requested(EventId(1), kT0), 5),
        Status(Converged(EventId(2), kT0 + 1, v1::STORE_STATUS_READY, StatusSequence(9, 5), 3)),
    });
    ASSERT_TRUE(row);
    EXPECT_EQ(row->observed_generation, 3);
    // A ready report of an earlier generation, read late (it is stale, too).
    auto earlier = ChangeOf(
        Status(Converged(EventId(3), kT0 + 2, v1::STORE_STATUS_READY, StatusSequence(5, 5), 2)));
    RowDecision decision = Decide(row, earlier);
    EXPECT_EQ(decision.row.observed_generation, 3);
    // A failure of a later change leaves what the store converged to.
    auto degraded = ChangeOf(Status(
        Converged(EventId(4), kT0 + 3, v1::STORE_STATUS_DEGRADED, StatusSequence(12, 4), 4)));
    decision = Decide(row, degraded);
    EXPECT_EQ(decision.row.status, "degraded");
    EXPECT_EQ(decision.row.observed_generation, 3);
}

TEST(DecideTest, DriftIsThatOfTheStatusThatSetTheState) {
    auto drifted = Converged(EventId(2), kT0 + 1, v1::STORE_STATUS_READY, StatusSequence(5, 6), 1);
    drifted.mutable_store_status_changed()->set_drift("deployment web: replicas 0, want 1");
    auto row = Project({Command(Requested(EventId(1), kT0), 5), Status(drifted)});
    ASSERT_TRUE(row);
    EXPECT_EQ(row->drift, "deployment web: replicas 0, want 1");
    auto repaired = ChangeOf(
        Status(Converged(EventId(3), kT0 + 2, v1::STORE_STATUS_READY, StatusSequence(5, 7), 1)));
    EXPECT_EQ(Decide(row, repaired).row.drift, "");
    // A stale report's drift is not the store's.
    auto stale = drifted;
    stale.set_event_id(EventId(4));
    stale.mutable_store_status_changed()->set_sequence(StatusSequence(5, 2));
    auto after_repair = Decide(row, repaired).row;
    EXPECT_EQ(Decide(after_repair, ChangeOf(Status(stale))).row.drift, "");
}

TEST(DecideTest, AChangeReadFirstMakesAProvisionalRowTheRequestCompletes) {
    auto row = ExpectSameRowInEveryOrder({
        Command(ChangeRequested(EventId(2), kT0 + 5, 2, "large", false, {"plan"}), 9),
        Command(Requested(EventId(1), kT0), 5),
    });
    ASSERT_TRUE(row);
    EXPECT_EQ(row->status, "requested");
    EXPECT_EQ(row->last_sequence, CommandSequence(5));
    EXPECT_EQ(row->generation, 2);
    EXPECT_EQ(row->plan, "large");
    EXPECT_EQ(row->host, "shop.acme.stores.localtest.me");
    EXPECT_EQ(row->created_at_us, kT0);
}

TEST(DecideTest, TheChartVersionsFollowTheCommandsAndTheConvergedReportsWhateverTheOrder) {
    // Created on 0.1.1, upgraded to 0.2.0 (generation 2) and converged: 5040 orders.
    auto row = ExpectSameRowInEveryOrder({
        Command(WithChartVersion(Requested(EventId(1), kT0), "0.1.1"), 5),
        Status(WithChartVersion(
            Converged(EventId(2), kT0 + 1, v1::STORE_STATUS_READY, StatusSequence(5, 5), 1),
            "0.1.1")),
        Command(WithChartVersion(
                    ChangeRequested(EventId(3), kT0 + 2, 2, "small", false, {"chart_version"}),
                    "0.2.0"),
                9),
        Status(WithChartVersion(
            StatusChanged(EventId(4), kT0 + 3, v1::STORE_STATUS_PROVISIONING, StatusSequence(9, 1)),
            "0.2.0")),
        Status(WithChartVersion(
            Converged(EventId(5), kT0 + 4, v1::STORE_STATUS_READY, StatusSequence(9, 5), 2),
            "0.2.0")),
        // The plan changes at generation 3 on the same chart; its report names no version
        // (an older provisioner): the store is still on 0.2.0.
        Command(WithChartVersion(ChangeRequested(EventId(6), kT0 + 5, 3, "medium", false, {"plan"}),
                                 "0.2.0"),
                12),
        Status(Converged(EventId(7), kT0 + 6, v1::STORE_STATUS_READY, StatusSequence(12, 5), 3)),
    });
    ASSERT_TRUE(row);
    EXPECT_EQ(row->generation, 3);
    EXPECT_EQ(row->chart_version, "0.2.0");
    EXPECT_EQ(row->observed_chart_version, "0.2.0") << "a report naming none keeps the known one";
    EXPECT_EQ(row->observed_chart_sequence, static_cast<int64_t>(StatusSequence(9, 5)));
    EXPECT_EQ(row->plan, "medium");
}

TEST(DecideTest, ARollbackConvergesToTheOlderChartVersionWhateverTheOrder) {
    // Upgraded to 0.2.0, then rolled back to 0.1.1 as generation 3: the newest report wins,
    // not the highest version.
    auto row = ExpectSameRowInEveryOrder({
        Command(WithChartVersion(Requested(EventId(1), kT0), "0.1.1"), 5),
        Status(WithChartVersion(
            Converged(EventId(2), kT0 + 1, v1::STORE_STATUS_READY, StatusSequence(5, 5), 1),
            "0.1.1")),
        Command(WithChartVersion(
                    ChangeRequested(EventId(3), kT0 + 2, 2, "small", false, {"chart_version"}),
                    "0.2.0"),
                9),
        Status(WithChartVersion(
            Converged(EventId(4), kT0 + 3, v1::STORE_STATUS_READY, StatusSequence(9, 5), 2),
            "0.2.0")),
        Command(WithChartVersion(
                    ChangeRequested(EventId(5), kT0 + 4, 3, "small", false, {"chart_version"}),
                    "0.1.1"),
                12),
        Status(WithChartVersion(
            Converged(EventId(6), kT0 + 5, v1::STORE_STATUS_READY, StatusSequence(12, 5), 3),
            "0.1.1")),
    });
    ASSERT_TRUE(row);
    EXPECT_EQ(row->chart_version, "0.1.1");
    EXPECT_EQ(row->observed_chart_version, "0.1.1");
    EXPECT_EQ(row->observed_generation, 3);
}

TEST(DecideTest, AFailedUpgradeLeavesTheObservedChartVersionWhereItWas) {
    auto row = Project({
        Command(WithChartVersion(Requested(EventId(1), kT0), "0.1.1"), 5),
        Status(WithChartVersion(
            Converged(EventId(2), kT0 + 1, v1::STORE_STATUS_READY, StatusSequence(5, 5), 1),
            "0.1.1")),
        Command(WithChartVersion(
                    ChangeRequested(EventId(3), kT0 + 2, 2, "small", false, {"chart_version"}),
                    "0.2.0"),
                9),
        Status(WithChartVersion(
            StatusChanged(EventId(4), kT0 + 3, v1::STORE_STATUS_DEGRADED, StatusSequence(9, 4)),
            "0.2.0")),
    });
    ASSERT_TRUE(row);
    EXPECT_EQ(row->status, "degraded");
    EXPECT_EQ(row->chart_version, "0.2.0") << "what was asked";
    EXPECT_EQ(row->observed_chart_version, "0.1.1") << "what it still runs";
    // A late ready report of the first run (stale) does not move it back either, nor does a
    // later one that names no version.
    auto late = ChangeOf(Status(WithChartVersion(
        Converged(EventId(5), kT0 + 4, v1::STORE_STATUS_READY, StatusSequence(5, 4), 1), "0.1.0")));
    EXPECT_EQ(Decide(row, late).row.observed_chart_version, "0.1.1");
    auto unnamed = ChangeOf(
        Status(Converged(EventId(6), kT0 + 5, v1::STORE_STATUS_READY, StatusSequence(9, 6), 2)));
    const RowDecision decision = Decide(row, unnamed);
    EXPECT_EQ(decision.row.status, "ready");
    EXPECT_EQ(decision.row.observed_chart_version, "0.1.1");
    EXPECT_EQ(decision.row.observed_chart_sequence, static_cast<int64_t>(StatusSequence(5, 5)));
}

TEST(DecideTest, AnUnorderedReportsChartVersionCountsForNothing) {
    auto row = Project({
        Command(WithChartVersion(Requested(EventId(1), kT0), "0.1.1"), 5),
        Status(WithChartVersion(StatusChanged(EventId(2), kT0 + 1, v1::STORE_STATUS_READY, 0),
                                "0.1.1")),
    });
    ASSERT_TRUE(row);
    EXPECT_EQ(row->observed_chart_version, "");
    EXPECT_EQ(row->observed_chart_sequence, 0);
}

TEST(DecideTest, ACommandOfTheRowsGenerationFillsAnUnknownDesiredChartVersion) {
    // A report made the row; the late create, of the row's generation, states the version.
    auto row = ExpectSameRowInEveryOrder({
        Status(WithChartVersion(
            Converged(EventId(2), kT0 + 1, v1::STORE_STATUS_READY, StatusSequence(5, 5), 1),
            "0.1.1")),
        Command(WithChartVersion(Requested(EventId(1), kT0), "0.1.1"), 5),
    });
    ASSERT_TRUE(row);
    EXPECT_EQ(row->chart_version, "0.1.1");
    EXPECT_EQ(row->observed_chart_version, "0.1.1");
    // A retry of that generation (its commands state one desired state) only fills the unknown.
    auto retry = ChangeOf(Command(
        WithChartVersion(ChangeRequested(EventId(3), kT0, 1, "small", false, {}, true), "0.0.9"),
        4));
    EXPECT_EQ(Decide(row, retry).row.chart_version, "0.1.1");
}

}  // namespace
}  // namespace storefleet::projector
