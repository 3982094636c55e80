#include "storefleet/metrics/registry.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <stdexcept>
#include <thread>
#include <vector>

namespace storefleet::metrics {
namespace {

bool Has(const std::string& text, const std::string& line) {
    return text.find(line) != std::string::npos;
}

TEST(RegistryTest, RendersCountersWithLabels) {
    Registry registry;
    registry.GetCounter("requests_total", "Requests.", {{"code", "202"}}).Inc();
    registry.GetCounter("requests_total", "Requests.", {{"code", "202"}}).Inc(2);
    registry.GetCounter("requests_total", "Requests.", {{"code", "400"}}).Inc();
    std::string text = registry.Render();
    EXPECT_TRUE(Has(text, "# HELP requests_total Requests.\n")) << text;
    EXPECT_TRUE(Has(text, "# TYPE requests_total counter\n")) << text;
    EXPECT_TRUE(Has(text, "requests_total{code=\"202\"} 3\n")) << text;
    EXPECT_TRUE(Has(text, "requests_total{code=\"400\"} 1\n")) << text;
}

TEST(RegistryTest, SameNameAndLabelsIsTheSameSeries) {
    Registry registry;
    Counter& first = registry.GetCounter("jobs_total", "Jobs.", {{"kind", "a"}});
    // Tests look metrics up with an empty help text after the service registered them.
    Counter& again = registry.GetCounter("jobs_total", "", {{"kind", "a"}});
    EXPECT_EQ(&first, &again);
    first.Inc(4);
    EXPECT_EQ(again.Value(), 4);
    EXPECT_EQ(registry.GetCounter("jobs_total", "", {{"kind", "b"}}).Value(), 0);
}

TEST(RegistryTest, CountersIgnoreNegativeIncrements) {
    Registry registry;
    Counter& counter = registry.GetCounter("c_total", "C.");
    counter.Inc(2);
    counter.Inc(-1);
    EXPECT_EQ(counter.Value(), 2);
}

TEST(RegistryTest, GaugesSetAndAdd) {
    Registry registry;
    Gauge& gauge = registry.GetGauge("in_flight", "In flight.", {{"pool", "x"}});
    gauge.Set(3);
    gauge.Add(-1);
    gauge.Add(0.5);
    EXPECT_DOUBLE_EQ(gauge.Value(), 2.5);
    std::string text = registry.Render();
    EXPECT_TRUE(Has(text, "# TYPE in_flight gauge\n")) << text;
    EXPECT_TRUE(Has(text, "in_flight{pool=\"x\"} 2.5\n")) << text;
}

TEST(RegistryTest, UnlabelledSeriesHaveNoBraces) {
    Registry registry;
    registry.GetGauge("up_seconds", "Up.").Set(7);
    EXPECT_TRUE(Has(registry.Render(), "\nup_seconds 7\n")) << registry.Render();
}

TEST(RegistryTest, HistogramBucketsAreCumulative) {
    Registry registry;
    auto& histogram = registry.GetHistogram("latency_seconds", "Latency.", {}, {0.1, 1.0});
    histogram.Observe(0.05);
    histogram.Observe(0.5);
    histogram.Observe(5);
    EXPECT_EQ(histogram.Count(), 3U);
    EXPECT_DOUBLE_EQ(histogram.Sum(), 5.55);
    std::string text = registry.Render();
    EXPECT_TRUE(Has(text, "# TYPE latency_seconds histogram\n")) << text;
    EXPECT_TRUE(Has(text, "latency_seconds_bucket{le=\"0.1\"} 1\n")) << text;
    EXPECT_TRUE(Has(text, "latency_seconds_bucket{le=\"1\"} 2\n")) << text;
    EXPECT_TRUE(Has(text, "latency_seconds_bucket{le=\"+Inf\"} 3\n")) << text;
    EXPECT_TRUE(Has(text, "latency_seconds_count 3\n")) << text;
    EXPECT_TRUE(Has(text, "latency_seconds_sum 5.55\n")) << text;
}

TEST(RegistryTest, HistogramLabelsComeBeforeLe) {
    Registry registry;
    registry.GetHistogram("step_seconds", "Steps.", {{"step", "helm"}}, {1.0}).Observe(0.5);
    std::string text = registry.Render();
    EXPECT_TRUE(Has(text, "step_seconds_bucket{step=\"helm\",le=\"1\"} 1\n")) << text;
    EXPECT_TRUE(Has(text, "step_seconds_count{step=\"helm\"} 1\n")) << text;
}

TEST(RegistryTest, DefaultBucketsSpanMillisecondsToMinutes) {
    auto bounds = DefaultSecondsBuckets();
    ASSERT_FALSE(bounds.empty());
    EXPECT_DOUBLE_EQ(bounds.front(), 0.001);
    EXPECT_DOUBLE_EQ(bounds.back(), 300);
    EXPECT_TRUE(std::is_sorted(bounds.begin(), bounds.end()));
}

TEST(RegistryTest, SameNameDifferentTypeIsABug) {
    Registry registry;
    registry.GetCounter("x", "X.");
    EXPECT_THROW(registry.GetGauge("x", "X."), std::logic_error);
    EXPECT_THROW(registry.GetHistogram("x", "X."), std::logic_error);
    // The failed registrations left nothing behind: the counter still renders alone.
    registry.GetCounter("x", "X.").Inc();
    EXPECT_TRUE(Has(registry.Render(), "# TYPE x counter\nx 1\n")) << registry.Render();
}

TEST(RegistryTest, InvalidNamesAndBoundsAreBugs) {
    Registry registry;
    EXPECT_THROW(registry.GetCounter("bad-name", "B."), std::logic_error);
    EXPECT_THROW(registry.GetGauge("g", "G.", {{"bad-label", "v"}}), std::logic_error);
    EXPECT_THROW(registry.GetHistogram("h", "H.", {}, {1.0, 0.5}), std::logic_error);
}

TEST(RegistryTest, LabelValuesAreEscaped) {
    Registry registry;
    registry.GetGauge("g", "G.", {{"path", "a\"b\\c\nd"}}).Set(1);
    EXPECT_TRUE(Has(registry.Render(), "g{path=\"a\\\"b\\\\c\\nd\"} 1\n")) << registry.Render();
}

TEST(RegistryTest, ConcurrentIncrementsAreNotLost) {
    Registry registry;
    Counter& counter = registry.GetCounter("hits_total", "Hits.");
    Histogram& histogram = registry.GetHistogram("hit_seconds", "Hit time.", {}, {1.0});
    constexpr int kThreads = 4;
    constexpr int kEach = 20000;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < kEach; ++i) {
                counter.Inc();
                histogram.Observe(0.5);
            }
        });
    }
    for (auto& thread : threads) thread.join();
    EXPECT_EQ(counter.Value(), kThreads * kEach);
    EXPECT_EQ(histogram.Count(), static_cast<uint64_t>(kThreads * kEach));
}

}  // namespace
}  // namespace storefleet::metrics
