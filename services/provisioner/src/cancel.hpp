#pragma once

#include <atomic>
#include <chrono>

#include "storefleet/common/shutdown.hpp"

namespace storefleet::provisioner {

// Why a running command should stop early, and therefore what happens to its offset:
//  - shutdown or revoked: the partition leaves this process; the command is not committed
//    and whoever owns the partition next runs it again;
//  - superseded: a newer command of the same store (a deletion) made it pointless; it is
//    committed;
//  - lease lost: another runner holds the store; the command is retried here later.
// Thread-safe: the dispatcher and the lease keeper cancel, the worker running it reads.
class CancelToken {
public:
    enum class Reason { kNone, kShutdown, kSuperseded, kRevoked, kLeaseLost };

    explicit CancelToken(const ShutdownFlag& shutdown) : shutdown_(shutdown) {}
    // The first reason given wins. Whoever can see a token may stop its task, hence const.
    void Cancel(Reason reason) const {
        Reason none = Reason::kNone;
        reason_.compare_exchange_strong(none, reason);
    }
    void Supersede() const { Cancel(Reason::kSuperseded); }
    [[nodiscard]] Reason Why() const {
        const Reason reason = reason_.load();
        if (reason == Reason::kNone && shutdown_.Triggered()) return Reason::kShutdown;
        return reason;
    }
    [[nodiscard]] bool Superseded() const { return reason_.load() == Reason::kSuperseded; }
    [[nodiscard]] bool Cancelled() const { return Why() != Reason::kNone; }
    // Sleeps up to `duration`; true if cancelled meanwhile.
    bool Sleep(std::chrono::milliseconds duration) const;

private:
    const ShutdownFlag& shutdown_;
    mutable std::atomic<Reason> reason_{Reason::kNone};
};

}  // namespace storefleet::provisioner
