#include "storefleet/metrics/registry.hpp"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <sstream>

namespace storefleet::metrics {

void Counter::Inc(double by) { counter_->Increment(by); }
double Counter::Value() const { return counter_->Value(); }

void Gauge::Set(double value) { gauge_->Set(value); }
void Gauge::Add(double by) { gauge_->Increment(by); }
double Gauge::Value() const { return gauge_->Value(); }

void Histogram::Observe(double value) { histogram_->Observe(value); }
uint64_t Histogram::Count() const { return histogram_->Collect().histogram.sample_count; }
double Histogram::Sum() const { return histogram_->Collect().histogram.sample_sum; }

std::vector<double> DefaultSecondsBuckets() {
    return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
            1,     2.5,    5,     10,   30,    60,   120, 300};
}

// Merge: a second Build* of a name returns the family already there, so a test may look a
// metric up with an empty help text after the service registered it.
Registry::Registry()
    : registry_(
          std::make_unique<prometheus::Registry>(prometheus::Registry::InsertBehavior::Merge)) {}

Registry::~Registry() = default;

namespace {

// The handle for key, made by make() on first use. A throwing make() (a name taken by
// another type, an invalid name) leaves no empty slot behind.
template <typename Handle, typename Make>
Handle& HandleFor(std::map<std::pair<std::string, Labels>, std::unique_ptr<Handle>>& handles,
                  std::pair<std::string, Labels> key, Make make) {
    auto it = handles.find(key);
    if (it == handles.end()) it = handles.emplace(std::move(key), make()).first;
    return *it->second;
}

}  // namespace

Counter& Registry::GetCounter(const std::string& name, const std::string& help,
                              const Labels& labels) {
    std::lock_guard lock(mutex_);
    return HandleFor(counters_, Key{name, labels}, [&] {
        auto& family = prometheus::BuildCounter().Name(name).Help(help).Register(*registry_);
        return std::make_unique<Counter>(family.Add(labels));
    });
}

Gauge& Registry::GetGauge(const std::string& name, const std::string& help, const Labels& labels) {
    std::lock_guard lock(mutex_);
    return HandleFor(gauges_, Key{name, labels}, [&] {
        auto& family = prometheus::BuildGauge().Name(name).Help(help).Register(*registry_);
        return std::make_unique<Gauge>(family.Add(labels));
    });
}

Histogram& Registry::GetHistogram(const std::string& name, const std::string& help,
                                  const Labels& labels, std::vector<double> bounds) {
    std::lock_guard lock(mutex_);
    return HandleFor(histograms_, Key{name, labels}, [&] {
        auto& family = prometheus::BuildHistogram().Name(name).Help(help).Register(*registry_);
        return std::make_unique<Histogram>(family.Add(labels, std::move(bounds)));
    });
}

std::string Registry::Render() const {
    std::ostringstream out;
    prometheus::TextSerializer().Serialize(out, registry_->Collect());
    return out.str();
}

}  // namespace storefleet::metrics
