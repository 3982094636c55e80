#pragma once

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "rollout_progress.hpp"
#include "storefleet/pg/pool.hpp"
#include "views.hpp"

namespace storefleet::query {

// One row of the change log (read.store_changes): a committed change of a store, with the
// store as it was right after.
struct ChangeLogEntry {
    int64_t change_id = 0;
    std::string tenant_id;
    StoreView store;
};

// Which rollouts changed since the last look: those named by a notification, or every active
// one when notifications may have been missed (no LISTEN, or it was just reopened).
struct RolloutChanges {
    std::set<std::string> ids;
    bool all_active = false;
    [[nodiscard]] bool Empty() const { return ids.empty() && !all_active; }
};

// The source of the live stream: the projector's change log, in commit order, intake's
// rollouts (decision 13), and a file descriptor that becomes readable when a change may have
// been committed. Used from the stream server's one thread. Throws on database failures (the
// server retries later).
class ChangeFeed {
public:
    virtual ~ChangeFeed() = default;
    // Readable when new changes may be there; -1 when there is none now (the server then
    // polls once a second, as it does anyway).
    virtual int WakeFd() = 0;
    // Consumes what made WakeFd readable.
    virtual void Drain() = 0;
    // Changes with change_id > `after`, oldest first, at most `limit`; of one tenant, or of
    // all when `tenant_id` is empty.
    virtual std::vector<ChangeLogEntry> After(int64_t after, const std::string& tenant_id,
                                              int limit) = 0;
    // The largest change id committed so far (0: none), and the smallest still kept (0:
    // none): a client resuming from before Oldest() - 1 has missed changes for good.
    virtual int64_t Head() = 0;
    virtual int64_t Oldest() = 0;
    // The rollouts changed since the last call (read after Drain), and consumes them.
    virtual RolloutChanges TakeRolloutChanges() = 0;
    // The progress of those rollouts (of every active one when `which.all_active`).
    virtual std::vector<RolloutProgress> Rollouts(const RolloutChanges& which) = 0;
};

// Reads read.store_changes and intake.rollout_progress through `pool` and LISTENs on
// "store_changed" (the projector's NOTIFY) and "rollout_changed" (intake's, migration 14) on a
// connection of its own, which it reopens when it breaks.
class PgChangeFeed final : public ChangeFeed {
public:
    PgChangeFeed(const std::string& pg_url, pg::Pool& pool);
    ~PgChangeFeed() override;

    int WakeFd() override;
    void Drain() override;
    std::vector<ChangeLogEntry> After(int64_t after, const std::string& tenant_id,
                                      int limit) override;
    int64_t Head() override;
    int64_t Oldest() override;
    RolloutChanges TakeRolloutChanges() override;
    std::vector<RolloutProgress> Rollouts(const RolloutChanges& which) override;

private:
    class Receiver;
    class RolloutReceiver;
    void Listen();
    void StopListening();

    std::string pg_url_;
    pg::Pool& pool_;
    std::unique_ptr<pqxx::connection> listener_;
    std::unique_ptr<Receiver> receiver_;
    std::unique_ptr<RolloutReceiver> rollout_receiver_;
    RolloutChanges rollout_changes_;
};

}  // namespace storefleet::query
