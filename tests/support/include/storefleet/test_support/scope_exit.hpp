// Runs an action when a scope ends: undoes a fault or cleans up even when an ASSERT returns.
#pragma once

#include <functional>
#include <utility>

namespace storefleet::test_support {

class ScopeExit {
public:
    explicit ScopeExit(std::function<void()> action) : action_(std::move(action)) {}
    ~ScopeExit() {
        if (action_) action_();
    }
    ScopeExit(const ScopeExit&) = delete;
    ScopeExit& operator=(const ScopeExit&) = delete;
    ScopeExit(ScopeExit&&) = delete;
    ScopeExit& operator=(ScopeExit&&) = delete;

private:
    std::function<void()> action_;
};

}  // namespace storefleet::test_support
