#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storefleet/common/result.hpp"
#include "storefleet/metrics/registry.hpp"

namespace storefleet::intake {

// The platform figures the admin view charts (GET /api/v1/admin/figures): pure values and
// the arithmetic on them, no I/O (figures_source.hpp reads them from Postgres and Kafka).

// ?window=: "<n>m" or "<n>h", from 1 minute to 24 hours; absent: 1 hour. Anything else
// is an invalid_request Error on the field "window".
Result<std::chrono::seconds> ParseWindow(std::optional<std::string_view> text);

// The width of one bucket: about 60 buckets over the window, never under a minute, in
// whole minutes (1h -> 1 min, 6h -> 6 min, 24h -> 24 min).
std::chrono::seconds BucketWidth(std::chrono::seconds window);

// One bucket of time, [start, start + width): the stores that became Ready in it (first
// time only), how long each took from its POST (created_at) to Ready, and the stores that
// turned Failed in it. Percentiles are absent when no store became Ready.
struct FiguresBucket {
    int64_t start = 0;  // seconds since the epoch, a multiple of the width
    int64_t ready = 0;
    int64_t failed = 0;
    std::optional<double> p50;
    std::optional<double> p90;
    std::optional<double> p99;
};

// The buckets aligned to the epoch that cover [now - window, now]: the first is the one
// holding now - window, the last the one holding now.
struct BucketRange {
    int64_t first = 0;
    int64_t last = 0;
    int64_t width = 60;
};
BucketRange BucketsFor(int64_t now_seconds, std::chrono::seconds window);

// Every bucket of `range` in order, the ones absent from `sparse` as zeros; buckets of
// `sparse` outside the range (a clock ahead of ours) are dropped.
std::vector<FiguresBucket> DenseBuckets(const std::vector<FiguresBucket>& sparse,
                                        const BucketRange& range);

// A consumer group's position on one partition. `committed` is absent when the group has
// committed nothing there; its lag then counts from the partition's start (the platform's
// consumers begin at the earliest offset).
struct PartitionLag {
    std::string group;
    std::string topic;
    int32_t partition = 0;
    std::optional<int64_t> committed;
    int64_t start_offset = 0;  // low watermark
    int64_t end_offset = 0;    // high watermark (the next offset to be written)
    [[nodiscard]] int64_t Lag() const;
};

struct ConsumerLag {
    bool available = false;
    std::string reason;  // why not, when not available (no broker address, no secret)
    std::vector<PartitionLag> partitions;
};

struct Figures {
    std::chrono::seconds window{3600};
    int64_t generated_at = 0;  // seconds since the epoch
    BucketRange range;
    std::map<std::string, int64_t> stores_by_status;
    std::vector<FiguresBucket> buckets;  // dense (DenseBuckets)
    ConsumerLag lag;
};

// "2026-11-29T06:21:00Z"
std::string FormatUtc(int64_t seconds_since_epoch);

// The response body (docs/openapi.yaml: PlatformFigures).
nlohmann::json ToJson(const Figures& figures);

// The platform gauges for Prometheus, from the same figures: storefleet_stores{status} for
// every status (0 when none) and storefleet_consumer_lag{group,topic,partition}. Every
// replica exports the same platform-wide values (the dashboard takes max()).
void ExportGauges(const Figures& figures, metrics::Registry& registry);

}  // namespace storefleet::intake
