#include "figures.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <ctime>

#include "storefleet/events/status.hpp"

namespace storefleet::intake {

namespace {

constexpr int64_t kMaxWindowSeconds = 24 * 3600;
constexpr int64_t kTargetBuckets = 60;

int64_t FloorTo(int64_t value, int64_t width) {
    const int64_t q = value / width;
    return (value % width != 0 && value < 0 ? q - 1 : q) * width;
}

nlohmann::json Optional(const std::optional<double>& value) {
    // Milliseconds are plenty for a chart; a shorter number reads better.
    return value ? nlohmann::json(static_cast<double>(std::llround(*value * 1000.0)) / 1000.0)
                 : nlohmann::json();
}

}  // namespace

Result<std::chrono::seconds> ParseWindow(std::optional<std::string_view> text) {
    if (!text) return std::chrono::seconds(3600);
    const auto invalid = Error::Invalid("window",
                                        "window must be minutes or hours such as 15m, 1h or 24h, "
                                        "from 1 minute to 24 hours");
    const std::string_view value = *text;
    if (value.size() < 2 || value.size() > 6) return invalid;
    const char unit = value.back();
    if (unit != 'm' && unit != 'h') return invalid;
    int64_t amount = 0;
    const char* begin = value.data();
    const char* end = value.data() + value.size() - 1;
    auto [stop, error] = std::from_chars(begin, end, amount);
    if (error != std::errc() || stop != end || amount < 1) return invalid;
    const int64_t seconds = amount * (unit == 'h' ? 3600 : 60);
    if (seconds > kMaxWindowSeconds) return invalid;
    return std::chrono::seconds(seconds);
}

std::chrono::seconds BucketWidth(std::chrono::seconds window) {
    const int64_t minutes = (window.count() + kTargetBuckets * 60 - 1) / (kTargetBuckets * 60);
    return std::chrono::seconds(std::max<int64_t>(1, minutes) * 60);
}

BucketRange BucketsFor(int64_t now_seconds, std::chrono::seconds window) {
    BucketRange range;
    range.width = BucketWidth(window).count();
    range.first = FloorTo(now_seconds - window.count(), range.width);
    range.last = FloorTo(now_seconds, range.width);
    return range;
}

std::vector<FiguresBucket> DenseBuckets(const std::vector<FiguresBucket>& sparse,
                                        const BucketRange& range) {
    std::vector<FiguresBucket> dense;
    if (range.width <= 0 || range.last < range.first) return dense;
    dense.reserve(static_cast<std::size_t>((range.last - range.first) / range.width + 1));
    for (int64_t start = range.first; start <= range.last; start += range.width) {
        FiguresBucket bucket;
        bucket.start = start;
        dense.push_back(bucket);
    }
    for (const auto& bucket : sparse) {
        if (bucket.start < range.first || bucket.start > range.last ||
            (bucket.start - range.first) % range.width != 0) {
            continue;
        }
        dense[static_cast<std::size_t>((bucket.start - range.first) / range.width)] = bucket;
    }
    return dense;
}

int64_t PartitionLag::Lag() const {
    return std::max<int64_t>(0, end_offset - committed.value_or(start_offset));
}

std::string FormatUtc(int64_t seconds_since_epoch) {
    const auto time = static_cast<std::time_t>(seconds_since_epoch);
    std::tm utc{};
    gmtime_r(&time, &utc);
    char text[32];
    const std::size_t size = std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &utc);
    return {text, size};
}

nlohmann::json ToJson(const Figures& figures) {
    nlohmann::json buckets = nlohmann::json::array();
    for (const auto& bucket : figures.buckets) {
        nlohmann::json percentiles;  // null when no store became Ready in the bucket
        if (bucket.p50) {
            percentiles = {{"p50", Optional(bucket.p50)},
                           {"p90", Optional(bucket.p90)},
                           {"p99", Optional(bucket.p99)}};
        }
        const double per_minute = 60.0 / static_cast<double>(figures.range.width);
        buckets.push_back({{"start", FormatUtc(bucket.start)},
                           {"ready", bucket.ready},
                           {"failed", bucket.failed},
                           {"ready_per_minute", static_cast<double>(bucket.ready) * per_minute},
                           {"failed_per_minute", static_cast<double>(bucket.failed) * per_minute},
                           {"post_to_ready_seconds", percentiles}});
    }
    nlohmann::json by_status = nlohmann::json::object();
    for (const auto& [status, count] : figures.stores_by_status) by_status[status] = count;
    nlohmann::json partitions = nlohmann::json::array();
    for (const auto& p : figures.lag.partitions) {
        partitions.push_back(
            {{"group", p.group},
             {"topic", p.topic},
             {"partition", p.partition},
             {"committed_offset", p.committed ? nlohmann::json(*p.committed) : nlohmann::json()},
             {"end_offset", p.end_offset},
             {"lag", p.Lag()}});
    }
    nlohmann::json lag = {{"available", figures.lag.available}, {"partitions", partitions}};
    if (!figures.lag.available) lag["reason"] = figures.lag.reason;
    return {{"window_seconds", figures.window.count()},
            {"bucket_seconds", figures.range.width},
            {"generated_at", FormatUtc(figures.generated_at)},
            {"stores_by_status", by_status},
            {"buckets", buckets},
            {"consumer_lag", lag}};
}

void ExportGauges(const Figures& figures, metrics::Registry& registry) {
    for (const std::string_view name : events::kStatusNames) {
        const std::string status(name);
        const auto it = figures.stores_by_status.find(status);
        registry
            .GetGauge("storefleet_stores", "Stores by status, from the read model.",
                      {{"status", status}})
            .Set(it == figures.stores_by_status.end() ? 0.0 : static_cast<double>(it->second));
    }
    for (const auto& lag : figures.lag.partitions) {
        registry
            .GetGauge("storefleet_consumer_lag",
                      "Messages a consumer group has yet to read, per partition.",
                      {{"group", lag.group},
                       {"topic", lag.topic},
                       {"partition", std::to_string(lag.partition)}})
            .Set(static_cast<double>(lag.Lag()));
    }
}

}  // namespace storefleet::intake
