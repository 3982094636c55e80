// The projector writes a whole batch with a few statements (one insert of its events, one
// lock of its stores, one insert and one update of their rows). On the real Postgres of the
// local stack: whatever the batch sizes, duplicates, replays and interleaving of two
// replicas, the read model must end exactly as when every event is applied on its own.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "projection.hpp"
#include "read_model.hpp"
#include "read_model_diff.hpp"
#include "storefleet/common/ids.hpp"
#include "storefleet/events/envelope.hpp"
#include "storefleet/events/status.hpp"

namespace storefleet::projector {
namespace {

std::string PgUrl() {
    const char* url = std::getenv("STOREFLEET_PG_URL");  // NOLINT(concurrency-mt-unsafe)
    return url != nullptr ? url : "";
}

constexpr int64_t kT0 = 1'700'000'000'000'000;

v1::Envelope Base(const std::string& store_id, const std::string& tenant, int64_t at_us) {
    v1::Envelope envelope;
    envelope.set_event_id(NewUuid());
    envelope.set_store_id(store_id);
    envelope.set_tenant_id(tenant);
    envelope.set_correlation_id("corr-" + store_id.substr(0, 8));
    envelope.set_schema_version(events::kSchemaVersion);
    envelope.mutable_occurred_at()->set_seconds(at_us / 1'000'000);
    envelope.mutable_occurred_at()->set_nanos(static_cast<int32_t>(at_us % 1'000'000) * 1000);
    return envelope;
}

struct Stream {
    std::vector<PlannedEvent> commands;  // as from store-commands
    std::vector<PlannedEvent> statuses;  // as from store-status
};

// A few hundred events for 30 stores: requests, the provisioner's steps, deletions, events
// delivered twice, stale steps after a deletion, and an event naming another tenant. Store s
// is created on chart version "0.1.<s>", and its statuses name it.
Stream MakeStream(std::mt19937& random) {
    Stream stream;
    int64_t command_offset = 0;
    const std::vector<v1::StoreStatus> steps = {
        v1::STORE_STATUS_PROVISIONING, v1::STORE_STATUS_PROVISIONING, v1::STORE_STATUS_READY};
    for (int s = 0; s < 30; ++s) {
        const std::string store_id = NewUuid();
        const std::string tenant = s % 3 == 0 ? "tenant-b" : "tenant-a";
        const int64_t t = kT0 + s * 1'000'000;
        const int64_t requested_offset = command_offset++;

        auto request = Base(store_id, tenant, t);
        auto* requested = request.mutable_store_requested();
        requested->set_name("shop-" + std::to_string(s));
        requested->set_engine(s % 2 == 0 ? v1::ENGINE_WOOCOMMERCE : v1::ENGINE_MEDUSA);
        requested->set_plan("small");
        requested->set_host("shop-" + std::to_string(s) + ".example");
        requested->set_requested_by(tenant);
        requested->set_chart_version("0.1." + std::to_string(s));
        events::SetTypeFromPayload(request);
        stream.commands.push_back(*PlanEvent(request, {events::kCommandsTopic, requested_offset}));

        for (std::size_t i = 0; i < steps.size(); ++i) {
            auto status = Base(store_id, tenant, t + static_cast<int64_t>(i + 1) * 1000);
            auto* changed = status.mutable_store_status_changed();
            changed->set_status(steps[i]);
            changed->set_step(i + 1 < steps.size() ? "helm" : "ready");
            changed->set_sequence((static_cast<uint64_t>(requested_offset + 1) << 20) |
                                  ((i + 1) << 8));
            changed->set_name("shop-" + std::to_string(s));
            changed->set_engine_name(s % 2 == 0 ? "woocommerce" : "medusa");
            changed->set_namespace_("store-" + store_id.substr(0, 8));
            changed->set_chart_version("0.1." + std::to_string(s));
            if (steps[i] == v1::STORE_STATUS_READY)
                changed->set_url("http://shop-" + std::to_string(s) + ".example");
            events::SetTypeFromPayload(status);
            stream.statuses.push_back(*PlanEvent(status, {events::kStatusTopic, 0}));
            if (random() % 5 == 0)
                stream.statuses.push_back(stream.statuses.back());  // delivered twice
        }
        if (s % 4 == 0) {
            auto deletion = Base(store_id, tenant, t + 10'000);
            deletion.mutable_store_deletion_requested()->set_requested_by(tenant);
            events::SetTypeFromPayload(deletion);
            stream.commands.push_back(
                *PlanEvent(deletion, {events::kCommandsTopic, command_offset++}));
            // The provisioner's last step, reported after the deletion was asked for.
            auto stale = Base(store_id, tenant, t + 20'000);
            stale.mutable_store_status_changed()->set_status(v1::STORE_STATUS_PROVISIONING);
            stale.mutable_store_status_changed()->set_step("readiness");
            stale.mutable_store_status_changed()->set_sequence(
                (static_cast<uint64_t>(requested_offset + 1) << 20) | (2 << 8) | 1);
            events::SetTypeFromPayload(stale);
            stream.statuses.push_back(*PlanEvent(stale, {events::kStatusTopic, 0}));
        }
        if (s == 7) {
            auto foreign = Base(store_id, "tenant-x", t + 30'000);
            foreign.mutable_store_status_changed()->set_status(v1::STORE_STATUS_FAILED);
            foreign.mutable_store_status_changed()->set_sequence(
                (static_cast<uint64_t>(requested_offset + 1) << 20) | (9 << 8));
            events::SetTypeFromPayload(foreign);
            stream.statuses.push_back(*PlanEvent(foreign, {events::kStatusTopic, 0}));
        }
    }
    return stream;
}

// Applies `events` in batches of random sizes (1 to `max_batch`), retrying a batch that
// failed (a deadlock between two replicas aborts one, as in the projector's loop).
void ApplyInBatches(PgReadModel& model, const std::vector<PlannedEvent>& events,
                    std::size_t max_batch, std::mt19937 random) {
    for (std::size_t at = 0; at < events.size();) {
        const std::size_t size =
            std::min<std::size_t>(events.size() - at, 1 + random() % max_batch);
        BatchPlan plan;
        plan.events.assign(events.begin() + static_cast<std::ptrdiff_t>(at),
                           events.begin() + static_cast<std::ptrdiff_t>(at + size));
        for (int attempt = 0;; ++attempt) {
            try {
                model.Apply(plan);
                break;
            } catch (const std::exception& error) {
                if (attempt == 20) throw;
            }
        }
        at += size;
    }
}

class ReadModelBatchTest : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_FALSE(PgUrl().empty())
            << "STOREFLEET_PG_URL is not set: run through tests/with-stack";
        one_by_one_.Migrate();
        batched_.Migrate();
    }
    void TearDown() override {
        pool_.WithTransaction([&](pqxx::work& txn) {
            txn.exec("drop schema if exists " + one_schema_ + " cascade");
            txn.exec("drop schema if exists " + batch_schema_ + " cascade");
        });
    }
    ReadModelDiff Diff() {
        auto lease = pool_.Acquire();
        return DiffReadModels(*lease, one_schema_, batch_schema_);
    }
    int64_t Count(const std::string& sql) {
        return pool_.WithTransaction(
            [&](pqxx::work& txn) { return txn.exec(sql)[0][0].as<int64_t>(); });
    }

    // A model prepares its statements by name on its pool's connections: one pool each.
    pg::Pool pool_{PgUrl(), 1};
    pg::Pool one_pool_{PgUrl(), 1};
    pg::Pool batch_pool_{PgUrl(), 1};
    std::string one_schema_ = "one_" + RandomHex(4);
    std::string batch_schema_ = "batch_" + RandomHex(4);
    PgReadModel one_by_one_{one_pool_, "batch-test-one", one_schema_};
    PgReadModel batched_{batch_pool_, "batch-test-batched", batch_schema_};
};

TEST_F(ReadModelBatchTest, BatchesOfAnySizeEndAsEventsAppliedOneByOne) {
    std::mt19937 random(20261129);
    const Stream stream = MakeStream(random);
    std::vector<PlannedEvent> all = stream.commands;
    all.insert(all.end(), stream.statuses.begin(), stream.statuses.end());
    std::shuffle(all.begin(), all.end(), random);  // the two topics interleave any way

    ApplyInBatches(one_by_one_, all, 1, random);
    ApplyInBatches(batched_, all, 120, random);
    // A replay of everything (a consumer restarted from older offsets) changes nothing.
    ApplyInBatches(batched_, all, 400, random);

    const auto diff = Diff();
    EXPECT_TRUE(diff.RowsEqual()) << diff.stores_differing << " stores and "
                                  << diff.events_differing << " events differ; first: "
                                  << (diff.stores.empty()
                                          ? (diff.events.empty() ? "" : diff.events[0])
                                          : diff.stores[0]);
    EXPECT_EQ(diff.stores_in_b, 30);
    EXPECT_EQ(diff.events_in_a, diff.events_in_b);
    // Every store was deleted or reached ready (shop-7 aside: an event of another tenant
    // may come first in this order, and then the row is that tenant's).
    EXPECT_EQ(
        Count("select count(*) from " + batch_schema_ +
              ".stores where status = 'ready' and tenant_id <> 'tenant-x' and name <> 'shop-7'"),
        21);
    EXPECT_EQ(Count("select count(*) from " + batch_schema_ + ".stores where status = 'deleting'"),
              8);
    // The live stream's log holds each changed row's state after its batch: the newest
    // change of each store is its row now.
    EXPECT_EQ(
        Count("select count(*) from " + batch_schema_ +
              ".stores s where s.status <> (select c.status from " + batch_schema_ +
              ".store_changes c where c.store_id = s.store_id order by change_id desc limit 1)"),
        0);
    // The batch statements carry the chart versions, desired and observed (every store
    // reached ready, deleted ones before their deletion), into the rows and the change log.
    EXPECT_EQ(Count("select count(*) from " + batch_schema_ +
                    ".stores where tenant_id <> 'tenant-x' and name like 'shop-%' and "
                    "desired_chart_version = '0.1.' || substr(name, 6) and "
                    "observed_chart_version = desired_chart_version"),
              Count("select count(*) from " + batch_schema_ +
                    ".stores where tenant_id <> 'tenant-x' and name like 'shop-%'"));
    EXPECT_GE(Count("select count(*) from " + batch_schema_ +
                    ".stores where observed_chart_version is not null"),
              29);
    EXPECT_EQ(Count("select count(*) from " + batch_schema_ +
                    ".stores s where s.observed_chart_version is distinct from (select "
                    "c.observed_chart_version from " +
                    batch_schema_ +
                    ".store_changes c where c.store_id = s.store_id order by change_id desc "
                    "limit 1)"),
              0);
}

TEST_F(ReadModelBatchTest, TwoReplicasOnTheTwoTopicsEndAsEventsAppliedOneByOne) {
    std::mt19937 random(7);
    const Stream stream = MakeStream(random);
    std::vector<PlannedEvent> all = stream.commands;
    all.insert(all.end(), stream.statuses.begin(), stream.statuses.end());
    ApplyInBatches(one_by_one_, all, 1, random);

    // Two replicas of the projector, one per topic, both inserting the rows of the same new
    // stores at once: the loser's insert finds the row and applies its events to it.
    pg::Pool commands_pool(PgUrl(), 1);
    pg::Pool statuses_pool(PgUrl(), 1);
    PgReadModel commands_replica(commands_pool, "batch-test-commands", batch_schema_);
    PgReadModel statuses_replica(statuses_pool, "batch-test-statuses", batch_schema_);
    std::thread commands(
        [&] { ApplyInBatches(commands_replica, stream.commands, 8, std::mt19937(1)); });
    std::thread statuses(
        [&] { ApplyInBatches(statuses_replica, stream.statuses, 8, std::mt19937(2)); });
    commands.join();
    statuses.join();

    const auto diff = Diff();
    EXPECT_TRUE(diff.RowsEqual()) << diff.stores_differing << " stores and "
                                  << diff.events_differing << " events differ; first: "
                                  << (diff.stores.empty()
                                          ? (diff.events.empty() ? "" : diff.events[0])
                                          : diff.stores[0]);
    EXPECT_EQ(diff.stores_in_b, 30);
}

}  // namespace
}  // namespace storefleet::projector
