// The figures' pure part: the window parameter, the buckets, the lag arithmetic, the JSON.
#include "figures.hpp"

#include <gtest/gtest.h>

namespace storefleet::intake {
namespace {

using std::chrono::seconds;

TEST(FiguresWindow, AcceptsMinutesAndHoursUpToADay) {
    EXPECT_EQ(ParseWindow(std::nullopt).value(), seconds(3600)) << "1 hour by default";
    EXPECT_EQ(ParseWindow("15m").value(), seconds(900));
    EXPECT_EQ(ParseWindow("1m").value(), seconds(60));
    EXPECT_EQ(ParseWindow("6h").value(), seconds(6 * 3600));
    EXPECT_EQ(ParseWindow("24h").value(), seconds(24 * 3600));
    EXPECT_EQ(ParseWindow("1440m").value(), seconds(24 * 3600));
}

TEST(FiguresWindow, RefusesAnythingElseNamingTheField) {
    for (const char* bad : {"", "h", "0m", "25h", "1441m", "1d", "1.5h", "-1h", "1H", " 1h", "1h ",
                            "60s", "99999999h", "abc", "1hh"}) {
        auto parsed = ParseWindow(bad);
        ASSERT_FALSE(parsed.ok()) << bad;
        EXPECT_EQ(parsed.error().code, "invalid_request");
        EXPECT_EQ(parsed.error().field, "window");
    }
}

TEST(FiguresBuckets, AboutSixtyWholeMinuteBuckets) {
    EXPECT_EQ(BucketWidth(seconds(60)), seconds(60));
    EXPECT_EQ(BucketWidth(seconds(900)), seconds(60));
    EXPECT_EQ(BucketWidth(seconds(3600)), seconds(60));
    EXPECT_EQ(BucketWidth(seconds(3660)), seconds(120));
    EXPECT_EQ(BucketWidth(seconds(6 * 3600)), seconds(360));
    EXPECT_EQ(BucketWidth(seconds(24 * 3600)), seconds(1440));
}

TEST(FiguresBuckets, CoverTheWindowAlignedToTheEpoch) {
    const int64_t now = 1'800'000'030;  // 30 s into a minute
    BucketRange range = BucketsFor(now, seconds(3600));
    EXPECT_EQ(range.width, 60);
    EXPECT_EQ(range.first, 1'800'000'000 - 3600);
    EXPECT_EQ(range.last, 1'800'000'000);
    EXPECT_EQ(range.first % 60, 0);
    const auto dense = DenseBuckets({}, range);
    ASSERT_EQ(dense.size(), 61U);
    EXPECT_EQ(dense.front().start, range.first);
    EXPECT_EQ(dense.back().start, range.last);
    for (const auto& bucket : dense) {
        EXPECT_EQ(bucket.ready, 0);
        EXPECT_FALSE(bucket.p50.has_value());
    }
}

TEST(FiguresBuckets, DenseKeepsKnownBucketsAndDropsOnesOutsideTheRange) {
    BucketRange range{600, 840, 60};
    FiguresBucket known;
    known.start = 720;
    known.ready = 3;
    known.failed = 1;
    known.p50 = 4.5;
    FiguresBucket future = known;
    future.start = 900;
    FiguresBucket misaligned = known;
    misaligned.start = 730;
    const auto dense = DenseBuckets({known, future, misaligned}, range);
    ASSERT_EQ(dense.size(), 5U);
    EXPECT_EQ(dense[2].start, 720);
    EXPECT_EQ(dense[2].ready, 3);
    EXPECT_EQ(dense[2].failed, 1);
    EXPECT_EQ(dense[2].p50, 4.5);
    int64_t total = 0;
    for (const auto& bucket : dense) total += bucket.ready;
    EXPECT_EQ(total, 3) << "the future and misaligned buckets are dropped";
}

TEST(FiguresLag, CountsFromTheCommittedOffsetOrTheStart) {
    PartitionLag lag;
    lag.start_offset = 5;
    lag.end_offset = 12;
    EXPECT_EQ(lag.Lag(), 7) << "nothing committed: all that is retained";
    lag.committed = 10;
    EXPECT_EQ(lag.Lag(), 2);
    lag.committed = 12;
    EXPECT_EQ(lag.Lag(), 0);
    lag.committed = 14;  // a stale end offset never shows a negative lag
    EXPECT_EQ(lag.Lag(), 0);
}

TEST(FiguresJson, HasTheDocumentedShape) {
    Figures figures;
    figures.window = seconds(120);
    figures.generated_at = 1'800'000'030;
    figures.range = BucketsFor(figures.generated_at, figures.window);
    FiguresBucket bucket;
    bucket.start = 1'800'000'000;
    bucket.ready = 2;
    bucket.p50 = 1.23456;
    bucket.p90 = 2.0;
    bucket.p99 = 2.5;
    figures.buckets = DenseBuckets({bucket}, figures.range);
    figures.stores_by_status = {{"ready", 2}, {"failed", 1}};
    figures.lag.available = false;
    figures.lag.reason = "Kafka did not answer";
    const auto json = ToJson(figures);
    EXPECT_EQ(json["window_seconds"], 120);
    EXPECT_EQ(json["bucket_seconds"], 60);
    EXPECT_EQ(json["generated_at"], "2027-01-15T08:00:30Z");
    EXPECT_EQ(json["stores_by_status"]["ready"], 2);
    ASSERT_EQ(json["buckets"].size(), 3U);
    EXPECT_EQ(json["buckets"][0]["post_to_ready_seconds"], nullptr);
    EXPECT_EQ(json["buckets"][2]["start"], "2027-01-15T08:00:00Z");
    EXPECT_EQ(json["buckets"][2]["ready"], 2);
    EXPECT_EQ(json["buckets"][2]["ready_per_minute"], 2.0);
    EXPECT_DOUBLE_EQ(json["buckets"][2]["post_to_ready_seconds"]["p50"].get<double>(), 1.235);
    EXPECT_EQ(json["consumer_lag"]["available"], false);
    EXPECT_EQ(json["consumer_lag"]["reason"], "Kafka did not answer");
    EXPECT_TRUE(json["consumer_lag"]["partitions"].empty());
}

TEST(FiguresGaugesTest, EveryStatusIsExportedWithZeroWhenNoneAndLagPerPartition) {
    Figures figures;
    figures.stores_by_status = {{"ready", 7}, {"failed", 1}};
    PartitionLag lag;
    lag.group = "storefleet-provisioner";
    lag.topic = "store-commands";
    lag.partition = 3;
    lag.committed = 40;
    lag.end_offset = 45;
    figures.lag.available = true;
    figures.lag.partitions = {lag};
    metrics::Registry registry;
    ExportGauges(figures, registry);
    const std::string text = registry.Render();
    EXPECT_NE(text.find("storefleet_stores{status=\"ready\"} 7"), std::string::npos) << text;
    EXPECT_NE(text.find("storefleet_stores{status=\"failed\"} 1"), std::string::npos) << text;
    EXPECT_NE(text.find("storefleet_stores{status=\"deleting\"} 0"), std::string::npos) << text;
    EXPECT_NE(text.find("storefleet_consumer_lag{group=\"storefleet-provisioner\",partition=\"3\","
                        "topic=\"store-commands\"} 5"),
              std::string::npos)
        << text;

    figures.stores_by_status.clear();  // a later refresh with no store sets the gauge back to 0
    ExportGauges(figures, registry);
    EXPECT_NE(registry.Render().find("storefleet_stores{status=\"ready\"} 0"), std::string::npos);
}

}  // namespace
}  // namespace storefleet::intake
