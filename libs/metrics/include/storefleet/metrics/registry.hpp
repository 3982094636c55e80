#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace storefleet::metrics {

using Labels = std::map<std::string, std::string>;

class Counter {
public:
    void Inc(double by = 1.0) { value_.fetch_add(by, std::memory_order_relaxed); }
    [[nodiscard]] double Value() const { return value_.load(std::memory_order_relaxed); }

private:
    std::atomic<double> value_{0.0};
};

class Gauge {
public:
    void Set(double value) { value_.store(value, std::memory_order_relaxed); }
    void Add(double by) { value_.fetch_add(by, std::memory_order_relaxed); }
    [[nodiscard]] double Value() const { return value_.load(std::memory_order_relaxed); }

private:
    std::atomic<double> value_{0.0};
};

class Histogram {
public:
    explicit Histogram(std::vector<double> bounds);
    void Observe(double value);
    [[nodiscard]] uint64_t Count() const { return count_.load(std::memory_order_relaxed); }
    [[nodiscard]] double Sum() const { return sum_.load(std::memory_order_relaxed); }
    [[nodiscard]] const std::vector<double>& Bounds() const { return bounds_; }
    // Cumulative count of observations <= Bounds()[i].
    [[nodiscard]] uint64_t CumulativeCount(std::size_t i) const;

private:
    std::vector<double> bounds_;
    std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // per-bucket, not cumulative
    std::atomic<uint64_t> count_{0};
    std::atomic<double> sum_{0.0};
};

// Seconds buckets from 1 ms to 5 minutes: request latencies up to store provisioning.
std::vector<double> DefaultSecondsBuckets();

class Registry {
public:
    Counter& GetCounter(const std::string& name, const std::string& help, const Labels& labels = {});
    Gauge& GetGauge(const std::string& name, const std::string& help, const Labels& labels = {});
    Histogram& GetHistogram(const std::string& name, const std::string& help,
                            const Labels& labels = {},
                            std::vector<double> bounds = DefaultSecondsBuckets());
    [[nodiscard]] std::string Render() const;

private:
    enum class Type { kCounter, kGauge, kHistogram };
    struct Family {
        Type type;
        std::string help;
        std::map<Labels, std::unique_ptr<Counter>> counters;
        std::map<Labels, std::unique_ptr<Gauge>> gauges;
        std::map<Labels, std::unique_ptr<Histogram>> histograms;
    };
    Family& FamilyFor(const std::string& name, const std::string& help, Type type);

    mutable std::mutex mutex_;
    std::map<std::string, Family> families_;
};

}  // namespace storefleet::metrics
