#include "storefleet/metrics/registry.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <stdexcept>

namespace storefleet::metrics {
namespace {

std::string EscapeLabel(const std::string& value) {
    std::string out;
    for (char c : value) {
        if (c == '\\' || c == '"') out.push_back('\\');
        if (c == '\n') {
            out += "\\n";
            continue;
        }
        out.push_back(c);
    }
    return out;
}

std::string FormatLabels(const Labels& labels, const std::string& extra_key = "",
                         const std::string& extra_value = "") {
    if (labels.empty() && extra_key.empty()) return "";
    std::string out = "{";
    bool first = true;
    for (const auto& [key, value] : labels) {
        if (!first) out += ",";
        first = false;
        out += key + "=\"" + EscapeLabel(value) + "\"";
    }
    if (!extra_key.empty()) {
        if (!first) out += ",";
        out += extra_key + "=\"" + extra_value + "\"";
    }
    return out + "}";
}

std::string FormatNumber(double value) {
    if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
    std::ostringstream out;
    out.precision(15);
    out << value;
    return out.str();
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      buckets_(std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1)) {
    if (!std::is_sorted(bounds_.begin(), bounds_.end())) {
        throw std::invalid_argument("histogram bounds must be sorted");
    }
}

void Histogram::Observe(double value) {
    auto it = std::lower_bound(bounds_.begin(), bounds_.end(), value);
    buckets_[static_cast<std::size_t>(it - bounds_.begin())].fetch_add(1, std::memory_order_relaxed);
    count_.fetch_add(1, std::memory_order_relaxed);
    sum_.fetch_add(value, std::memory_order_relaxed);
}

uint64_t Histogram::CumulativeCount(std::size_t i) const {
    uint64_t total = 0;
    for (std::size_t b = 0; b <= i && b < bounds_.size(); ++b) {
        total += buckets_[b].load(std::memory_order_relaxed);
    }
    return total;
}

std::vector<double> DefaultSecondsBuckets() {
    return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300};
}

Registry::Family& Registry::FamilyFor(const std::string& name, const std::string& help, Type type) {
    auto [it, inserted] = families_.try_emplace(name, Family{type, help, {}, {}, {}});
    if (!inserted && it->second.type != type) {
        throw std::logic_error("metric " + name + " registered twice with different types");
    }
    return it->second;
}

Counter& Registry::GetCounter(const std::string& name, const std::string& help, const Labels& labels) {
    std::lock_guard lock(mutex_);
    auto& slot = FamilyFor(name, help, Type::kCounter).counters[labels];
    if (!slot) slot = std::make_unique<Counter>();
    return *slot;
}

Gauge& Registry::GetGauge(const std::string& name, const std::string& help, const Labels& labels) {
    std::lock_guard lock(mutex_);
    auto& slot = FamilyFor(name, help, Type::kGauge).gauges[labels];
    if (!slot) slot = std::make_unique<Gauge>();
    return *slot;
}

Histogram& Registry::GetHistogram(const std::string& name, const std::string& help,
                                  const Labels& labels, std::vector<double> bounds) {
    std::lock_guard lock(mutex_);
    auto& slot = FamilyFor(name, help, Type::kHistogram).histograms[labels];
    if (!slot) slot = std::make_unique<Histogram>(std::move(bounds));
    return *slot;
}

std::string Registry::Render() const {
    std::lock_guard lock(mutex_);
    std::ostringstream out;
    for (const auto& [name, family] : families_) {
        out << "# HELP " << name << " " << family.help << "\n";
        switch (family.type) {
            case Type::kCounter:
                out << "# TYPE " << name << " counter\n";
                for (const auto& [labels, counter] : family.counters) {
                    out << name << FormatLabels(labels) << " " << FormatNumber(counter->Value()) << "\n";
                }
                break;
            case Type::kGauge:
                out << "# TYPE " << name << " gauge\n";
                for (const auto& [labels, gauge] : family.gauges) {
                    out << name << FormatLabels(labels) << " " << FormatNumber(gauge->Value()) << "\n";
                }
                break;
            case Type::kHistogram:
                out << "# TYPE " << name << " histogram\n";
                for (const auto& [labels, histogram] : family.histograms) {
                    const auto& bounds = histogram->Bounds();
                    for (std::size_t i = 0; i < bounds.size(); ++i) {
                        out << name << "_bucket" << FormatLabels(labels, "le", FormatNumber(bounds[i]))
                            << " " << histogram->CumulativeCount(i) << "\n";
                    }
                    out << name << "_bucket" << FormatLabels(labels, "le", "+Inf") << " "
                        << histogram->Count() << "\n";
                    out << name << "_sum" << FormatLabels(labels) << " " << FormatNumber(histogram->Sum())
                        << "\n";
                    out << name << "_count" << FormatLabels(labels) << " " << histogram->Count() << "\n";
                }
                break;
        }
    }
    return out.str();
}

}  // namespace storefleet::metrics
