#include "figures_source.hpp"

#include <librdkafka/rdkafkacpp.h>

#include <algorithm>
#include <stdexcept>

#include "storefleet/common/log.hpp"
#include "storefleet/events/envelope.hpp"
#include "storefleet/events/status.hpp"

namespace storefleet::intake {

namespace {

// "{schema}" stands for the read model's schema. The figures read only the views the read
// model exposes for them (the projector's migration 6), never its tables.
//
// A store counts in the bucket where it first became Ready (a store Ready again after a
// retry is not counted twice), with POST-to-Ready = that time minus its created_at (the
// request's time). Failed: the stores that turned Failed in the bucket (provisioning or
// deletion). Buckets are aligned to the epoch ($2 seconds wide) from $1 (epoch seconds).
constexpr const char* kBucketsSql = R"SQL(
with ready_timed as (
    select floor(extract(epoch from r.ready_at) / $2)::bigint * $2 as bucket,
           greatest(extract(epoch from r.ready_at - r.requested_at), 0)::float8 as seconds
      from {schema}.store_first_ready r
     where r.ready_at >= to_timestamp($1)
), ready_buckets as (
    select bucket, count(*) as n,
           percentile_cont(array[0.5, 0.9, 0.99]::float8[]) within group (order by seconds) as p
      from ready_timed group by bucket
), failed_buckets as (
    select floor(extract(epoch from f.failed_at) / $2)::bigint * $2 as bucket,
           count(distinct f.store_id) as n
      from {schema}.store_failures f
     where f.failed_at >= to_timestamp($1)
     group by 1
)
select coalesce(r.bucket, f.bucket), coalesce(r.n, 0), coalesce(f.n, 0), r.p[1], r.p[2], r.p[3]
  from ready_buckets r full join failed_buckets f on f.bucket = r.bucket
 order by 1
)SQL";

constexpr const char* kStatusSql = "select status, stores from {schema}.store_status_counts";

constexpr const char* kOffsetsSql =
    "select consumer_group, topic, partition, next_offset from {schema}.consumer_positions "
    "where consumer_group = any($1::text[])";

std::string WithSchema(std::string sql, const std::string& schema) {
    const std::string marker = "{schema}";
    for (auto at = sql.find(marker); at != std::string::npos;
         at = sql.find(marker, at + schema.size())) {
        sql.replace(at, marker.size(), schema);
    }
    return sql;
}

bool PlainIdentifier(const std::string& name) {
    if (name.empty() || name.size() > 63 || (name[0] >= '0' && name[0] <= '9')) return false;
    for (char c : name) {
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
    }
    return true;
}

std::string PgArray(const std::vector<std::string>& items) {
    std::string out = "{";
    for (const auto& item : items) {
        if (out.size() > 1) out += ",";
        out += "\"" + item + "\"";  // group names are plain words (config), never quotes
    }
    return out + "}";
}

// librdkafka's own lines at debug level: a Kafka outage shows in the answer ("available":
// false, with the reason) and in the services that consume, not once per dashboard refresh.
class QuietEvents final : public RdKafka::EventCb {
public:
    void event_cb(RdKafka::Event& event) override {
        if (event.type() == RdKafka::Event::EVENT_ERROR ||
            event.type() == RdKafka::Event::EVENT_LOG) {
            log::Debug("kafka client (figures)", {{"detail", event.str()}});
        }
    }
};

struct Partitions {
    std::vector<RdKafka::TopicPartition*> items;
    ~Partitions() { RdKafka::TopicPartition::destroy(items); }
};

}  // namespace

KafkaLagReader::KafkaLagReader(std::string brokers, std::chrono::milliseconds timeout)
    : brokers_(std::move(brokers)), timeout_(timeout), events_(std::make_unique<QuietEvents>()) {}

KafkaLagReader::~KafkaLagReader() {
    // Never subscribed: close() has no group to leave and returns at once.
    for (auto& [group, handle] : handles_) handle->close();
}

RdKafka::KafkaConsumer* KafkaLagReader::Handle(const std::string& group) {
    auto found = handles_.find(group);
    if (found != handles_.end()) return found->second.get();
    std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
    std::string error;
    auto set = [&](const std::string& name, const std::string& value) {
        if (conf->set(name, value, error) != RdKafka::Conf::CONF_OK) {
            throw std::runtime_error("kafka setting " + name + ": " + error);
        }
    };
    set("bootstrap.servers", brokers_);
    set("group.id", group);
    set("client.id", "storefleet-intake-figures");
    set("enable.auto.commit", "false");
    set("enable.auto.offset.store", "false");
    if (conf->set("event_cb", events_.get(), error) != RdKafka::Conf::CONF_OK) {
        throw std::runtime_error("kafka event_cb: " + error);
    }
    std::unique_ptr<RdKafka::KafkaConsumer> handle(
        RdKafka::KafkaConsumer::create(conf.get(), error));
    if (!handle) throw std::runtime_error("cannot create a Kafka handle for the figures: " + error);
    return handles_.emplace(group, std::move(handle)).first->second.get();
}

ConsumerLag KafkaLagReader::Read(const std::vector<LagTarget>& targets,
                                 const StoredOffsets& stored) {
    ConsumerLag lag;
    const int timeout_ms = static_cast<int>(timeout_.count());
    auto unavailable = [&](const std::string& what, RdKafka::ErrorCode code) {
        ConsumerLag none;
        none.reason = "Kafka did not answer (" + what + ": " + RdKafka::err2str(code) + ")";
        return none;
    };
    // Partition counts, once per topic; watermarks through a handle with no group of note.
    RdKafka::KafkaConsumer* any = Handle("storefleet-intake-figures");
    std::map<std::string, std::vector<int32_t>> partitions_of;
    for (const auto& target : targets) {
        if (partitions_of.count(target.topic) != 0) continue;
        std::string error;
        std::unique_ptr<RdKafka::Topic> topic(
            RdKafka::Topic::create(any, target.topic, nullptr, error));
        if (!topic) throw std::runtime_error("kafka topic handle: " + error);
        RdKafka::Metadata* raw = nullptr;
        const auto code = any->metadata(false, topic.get(), &raw, timeout_ms);
        std::unique_ptr<RdKafka::Metadata> metadata(raw);
        if (code != RdKafka::ERR_NO_ERROR) return unavailable("metadata", code);
        std::vector<int32_t> ids;
        for (const auto* topic_metadata : *metadata->topics()) {
            if (topic_metadata->topic() != target.topic) continue;
            if (topic_metadata->err() != RdKafka::ERR_NO_ERROR)
                return unavailable(target.topic, topic_metadata->err());
            for (const auto* partition : *topic_metadata->partitions())
                ids.push_back(partition->id());
        }
        std::sort(ids.begin(), ids.end());
        partitions_of[target.topic] = std::move(ids);
    }
    std::map<std::pair<std::string, int32_t>, std::pair<int64_t, int64_t>> watermarks;
    for (const auto& [topic, ids] : partitions_of) {
        for (int32_t id : ids) {
            int64_t low = 0;
            int64_t high = 0;
            const auto code = any->query_watermark_offsets(topic, id, &low, &high, timeout_ms);
            if (code != RdKafka::ERR_NO_ERROR) return unavailable("watermarks", code);
            watermarks[{topic, id}] = {low, high};
        }
    }
    for (const auto& target : targets) {
        const auto& ids = partitions_of[target.topic];
        std::map<int32_t, int64_t> committed;
        if (target.offsets_in_postgres) {
            for (int32_t id : ids) {
                auto found = stored.find({target.group, target.topic, id});
                if (found != stored.end()) committed[id] = found->second;
            }
        } else {
            Partitions asked;
            for (int32_t id : ids)
                asked.items.push_back(RdKafka::TopicPartition::create(target.topic, id));
            const auto code = Handle(target.group)->committed(asked.items, timeout_ms);
            if (code != RdKafka::ERR_NO_ERROR)
                return unavailable("committed offsets of " + target.group, code);
            for (const auto* tp : asked.items) {
                if (tp->err() == RdKafka::ERR_NO_ERROR && tp->offset() >= 0)
                    committed[tp->partition()] = tp->offset();
            }
        }
        for (int32_t id : ids) {
            PartitionLag partition;
            partition.group = target.group;
            partition.topic = target.topic;
            partition.partition = id;
            auto found = committed.find(id);
            if (found != committed.end()) partition.committed = found->second;
            std::tie(partition.start_offset, partition.end_offset) = watermarks[{target.topic, id}];
            lag.partitions.push_back(std::move(partition));
        }
    }
    lag.available = true;
    return lag;
}

FiguresService::FiguresService(pg::Pool& pool, KafkaLagReader* lag, Options options)
    : pool_(pool), lag_(lag), options_(std::move(options)) {
    if (!PlainIdentifier(options_.read_schema)) {
        throw std::invalid_argument("the read model's schema must be a plain identifier: '" +
                                    options_.read_schema + "'");
    }
}

std::vector<LagTarget> FiguresService::PlatformTargets(const std::string& lifecycle_group) {
    return {{"provisioner", events::kCommandsTopic, false},
            {"projector", events::kCommandsTopic, true},
            {"projector", events::kStatusTopic, true},
            {lifecycle_group, events::kStatusTopic, false}};
}

Figures FiguresService::Get(std::chrono::seconds window) {
    std::lock_guard lock(mutex_);
    const auto now = std::chrono::steady_clock::now();
    auto found = cache_.find(window.count());
    if (found != cache_.end() && now - found->second.at < options_.cache_ttl)
        return found->second.figures;
    Figures figures = Compute(window);
    cache_[window.count()] = {now, figures};
    return figures;
}

Figures FiguresService::Compute(std::chrono::seconds window) {
    Figures figures;
    figures.window = window;
    figures.generated_at = std::chrono::duration_cast<std::chrono::seconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
    figures.range = BucketsFor(figures.generated_at, window);
    std::vector<std::string> postgres_groups;
    for (const auto& target : options_.lag_targets) {
        if (target.offsets_in_postgres) postgres_groups.push_back(target.group);
    }
    StoredOffsets stored;
    figures.buckets = DenseBuckets({}, figures.range);
    // Before the projector has created the read model (or its views, migration 6) there is
    // nothing to count yet.
    try {
        pool_.WithoutTransaction([&](pqxx::nontransaction& session) {
            std::vector<FiguresBucket> sparse;
            for (const auto& row :
                 session.exec_params(WithSchema(kBucketsSql, options_.read_schema),
                                     figures.range.first, figures.range.width)) {
                FiguresBucket bucket;
                bucket.start = row[0].as<int64_t>();
                bucket.ready = row[1].as<int64_t>();
                bucket.failed = row[2].as<int64_t>();
                if (!row[3].is_null()) bucket.p50 = row[3].as<double>();
                if (!row[4].is_null()) bucket.p90 = row[4].as<double>();
                if (!row[5].is_null()) bucket.p99 = row[5].as<double>();
                sparse.push_back(bucket);
            }
            figures.buckets = DenseBuckets(sparse, figures.range);
            figures.stores_by_status.clear();
            for (const auto& row : session.exec(WithSchema(kStatusSql, options_.read_schema))) {
                figures.stores_by_status[row[0].as<std::string>()] = row[1].as<int64_t>();
            }
            stored.clear();
            if (!postgres_groups.empty()) {
                for (const auto& row : session.exec_params(
                         WithSchema(kOffsetsSql, options_.read_schema), PgArray(postgres_groups))) {
                    stored[{row[0].as<std::string>(), row[1].as<std::string>(),
                            row[2].as<int32_t>()}] = row[3].as<int64_t>();
                }
            }
        });
    } catch (const pqxx::undefined_table&) {
        log::Warn("the read model does not exist yet", {{"schema", options_.read_schema}});
    }
    if (lag_ == nullptr) {
        figures.lag.reason = "no Kafka is configured";
    } else if (!options_.lag_targets.empty()) {
        figures.lag = lag_->Read(options_.lag_targets, stored);
        if (!figures.lag.available)
            log::Warn("consumer lag unavailable", {{"reason", figures.lag.reason}});
    } else {
        figures.lag.available = true;
    }
    return figures;
}

}  // namespace storefleet::intake
