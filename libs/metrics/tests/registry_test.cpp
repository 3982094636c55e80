#include "storefleet/metrics/registry.hpp"

#include <gtest/gtest.h>

namespace storefleet::metrics {
namespace {

TEST(RegistryTest, RendersCountersWithLabels) {
    Registry registry;
    registry.GetCounter("requests_total", "Requests.", {{"code", "202"}}).Inc();
    registry.GetCounter("requests_total", "Requests.", {{"code", "202"}}).Inc(2);
    registry.GetCounter("requests_total", "Requests.", {{"code", "400"}}).Inc();
    std::string text = registry.Render();
    EXPECT_NE(text.find("# TYPE requests_total counter"), std::string::npos);
    EXPECT_NE(text.find("requests_total{code=\"202\"} 3"), std::string::npos);
    EXPECT_NE(text.find("requests_total{code=\"400\"} 1"), std::string::npos);
}

TEST(RegistryTest, HistogramBucketsAreCumulative) {
    Registry registry;
    auto& histogram = registry.GetHistogram("latency_seconds", "Latency.", {}, {0.1, 1.0});
    histogram.Observe(0.05);
    histogram.Observe(0.5);
    histogram.Observe(5);
    std::string text = registry.Render();
    EXPECT_NE(text.find("latency_seconds_bucket{le=\"0.1\"} 1"), std::string::npos) << text;
    EXPECT_NE(text.find("latency_seconds_bucket{le=\"1\"} 2"), std::string::npos) << text;
    EXPECT_NE(text.find("latency_seconds_bucket{le=\"+Inf\"} 3"), std::string::npos);
    EXPECT_NE(text.find("latency_seconds_count 3"), std::string::npos);
}

TEST(RegistryTest, SameNameDifferentTypeIsABug) {
    Registry registry;
    registry.GetCounter("x", "X.");
    EXPECT_THROW(registry.GetGauge("x", "X."), std::logic_error);
}

TEST(RegistryTest, LabelValuesAreEscaped) {
    Registry registry;
    registry.GetGauge("g", "G.", {{"path", "a\"b"}}).Set(1);
    EXPECT_NE(registry.Render().find("g{path=\"a\\\"b\"} 1"), std::string::npos);
}

}  // namespace
}  // namespace storefleet::metrics
