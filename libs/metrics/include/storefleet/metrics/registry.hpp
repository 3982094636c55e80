#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace prometheus {
class Counter;
class Gauge;
class Histogram;
class Registry;
}  // namespace prometheus

namespace storefleet::metrics {

using Labels = std::map<std::string, std::string>;

// Handles to one time series of a prometheus-cpp family. They live as long as the Registry
// that returned them, and every method is safe from any thread (prometheus-cpp keeps
// counters and gauges in atomics; a histogram observation takes its own small mutex).
class Counter {
public:
    explicit Counter(prometheus::Counter& counter) : counter_(&counter) {}
    void Inc(double by = 1.0);  // a negative `by` is ignored, as Prometheus counters only rise
    [[nodiscard]] double Value() const;

private:
    prometheus::Counter* counter_;
};

class Gauge {
public:
    explicit Gauge(prometheus::Gauge& gauge) : gauge_(&gauge) {}
    void Set(double value);
    void Add(double by);
    [[nodiscard]] double Value() const;

private:
    prometheus::Gauge* gauge_;
};

class Histogram {
public:
    explicit Histogram(prometheus::Histogram& histogram) : histogram_(&histogram) {}
    void Observe(double value);
    // Read back through a collect (a copy of every bucket): for tests and diagnostics, not
    // for hot paths.
    [[nodiscard]] uint64_t Count() const;
    [[nodiscard]] double Sum() const;

private:
    prometheus::Histogram* histogram_;
};

// Seconds buckets from 1 ms to 5 minutes: request latencies up to store provisioning.
std::vector<double> DefaultSecondsBuckets();

// The storefleet face of a prometheus::Registry. Get* registers a family on first use and
// returns the same handle for the same name and labels afterwards (it takes a mutex: keep
// the handle where the code is hot). A name registered with two types, an invalid metric or
// label name, or unsorted bounds throw std::invalid_argument (a std::logic_error): that is
// a bug in the caller. Render() is the Prometheus text format for /metrics.
class Registry {
public:
    Registry();
    ~Registry();
    Registry(const Registry&) = delete;
    Registry& operator=(const Registry&) = delete;

    Counter& GetCounter(const std::string& name, const std::string& help,
                        const Labels& labels = {});
    Gauge& GetGauge(const std::string& name, const std::string& help, const Labels& labels = {});
    // The bounds of the first registration of name+labels win.
    Histogram& GetHistogram(const std::string& name, const std::string& help,
                            const Labels& labels = {},
                            std::vector<double> bounds = DefaultSecondsBuckets());
    [[nodiscard]] std::string Render() const;

private:
    using Key = std::pair<std::string, Labels>;

    std::unique_ptr<prometheus::Registry> registry_;
    std::mutex mutex_;  // guards the three handle maps, not the metrics
    std::map<Key, std::unique_ptr<Counter>> counters_;
    std::map<Key, std::unique_ptr<Gauge>> gauges_;
    std::map<Key, std::unique_ptr<Histogram>> histograms_;
};

}  // namespace storefleet::metrics
