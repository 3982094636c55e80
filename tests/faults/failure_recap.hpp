// FailureRecap: a gtest listener that keeps every failed assertion's text and prints them
// all at the very end of a long run ("what failed (N):"), where CI's cut output still shows
// them (CI keeps the head and the tail of a run's output). Used by the fault suite; checked by
// failure_recap_check.cpp.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <iostream>
#include <string>
#include <vector>

namespace storefleet::test_support {

class FailureRecap final : public ::testing::EmptyTestEventListener {
public:
    // The test's name is kept here: OnTestPartResult runs under the UnitTest's lock, which
    // UnitTest::current_test_info() takes again (a deadlock on the first failure, found in CI).
    void OnTestStart(const ::testing::TestInfo& test) override { current_ = test.name(); }
    void OnTestEnd(const ::testing::TestInfo& /*test*/) override { current_ = "?"; }
    void OnTestPartResult(const ::testing::TestPartResult& result) override {
        if (!result.failed()) return;
        std::string text = result.message();
        if (text.size() > 600) text = text.substr(0, 600) + " [...]";
        std::replace(text.begin(), text.end(), '\n', ' ');  // one line per failure
        lines_.push_back(current_ + " " +
                         (result.file_name() != nullptr ? result.file_name() : "?") + ":" +
                         std::to_string(result.line_number()) + ": " + text);
    }
    void Print() const {
        if (lines_.empty()) return;
        std::cout << "what failed (" << lines_.size() << "):\n";
        const std::size_t shown = std::min<std::size_t>(lines_.size(), 20);
        for (std::size_t i = 0; i < shown; ++i) std::cout << "  " << lines_[i] << "\n";
        if (shown < lines_.size()) std::cout << "  ... and " << lines_.size() - shown << " more\n";
    }

private:
    std::string current_ = "?";
    std::vector<std::string> lines_;
};

}  // namespace storefleet::test_support
