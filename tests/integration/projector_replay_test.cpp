// The replay check on the real Postgres and Kafka of the local stack: the real
// storefleet-projector binary builds a "live" read model while it is killed with -9 twice
// mid-stream and restarted; then a second projector with a fresh consumer group replays
// both topics from offset 0 into a schema of its own, and storefleet-read-model-diff must
// find the two equal, row for row. A few hundred events for 50 stores, with a provisioner
// clock hours off intake's, stale status events published after a deletion request, a
// republished command and a replayed command's duplicate events.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "projection.hpp"
#include "read_model_diff.hpp"
#include "storefleet/common/ids.hpp"
#include "storefleet/events/envelope.hpp"
#include "storefleet/events/status.hpp"
#include "storefleet/kafka/consumer.hpp"
#include "storefleet/kafka/publisher.hpp"
#include "storefleet/pg/pool.hpp"
#include "storefleet/test_support/env.hpp"
#include "storefleet/test_support/process.hpp"
#include "storefleet/test_support/wait.hpp"

extern char** environ;  // NOLINT(readability-redundant-declaration)

namespace storefleet::projector {
namespace {

using test_support::Clock;

using test_support::Env;

// The real projector binary as a child process, its output in a log file.
class ProjectorProcess {
public:
    // `instance_id`: static group membership, so a restart gets its partitions back at once.
    ProjectorProcess(std::string schema, std::string group, std::string instance_id,
                     std::string log_path)
        : schema_(std::move(schema)),
          group_(std::move(group)),
          instance_id_(std::move(instance_id)),
          log_path_(std::move(log_path)) {}
    ~ProjectorProcess() { Kill(SIGKILL); }
    ProjectorProcess(const ProjectorProcess&) = delete;
    ProjectorProcess& operator=(const ProjectorProcess&) = delete;

    void Start() {
        // Everything the child needs is built before fork(): it only opens, dups and execs.
        std::vector<std::string> env;
        for (char** e = environ; *e != nullptr; ++e) {
            const std::string entry = *e;
            if (entry.starts_with("STOREFLEET_READ_SCHEMA=") ||
                entry.starts_with("STOREFLEET_KAFKA_GROUP=") ||
                entry.starts_with("STOREFLEET_HTTP_PORT=") ||
                entry.starts_with("STOREFLEET_KAFKA_INSTANCE_ID=")) {
                continue;
            }
            env.push_back(entry);
        }
        env.push_back("STOREFLEET_READ_SCHEMA=" + schema_);
        env.push_back("STOREFLEET_KAFKA_GROUP=" + group_);
        env.emplace_back("STOREFLEET_HTTP_PORT=0");
        if (!instance_id_.empty()) env.push_back("STOREFLEET_KAFKA_INSTANCE_ID=" + instance_id_);
        std::vector<char*> envp;
        for (auto& entry : env) envp.push_back(entry.data());
        envp.push_back(nullptr);
        std::string binary = STOREFLEET_PROJECTOR_BIN;
        char* argv[] = {binary.data(), nullptr};
        const int log = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        ASSERT_GE(log, 0) << log_path_;
        pid_ = ::fork();
        ASSERT_GE(pid_, 0);
        if (pid_ == 0) {
            ::dup2(log, 1);
            ::dup2(log, 2);
            ::execve(argv[0], argv, envp.data());
            ::_exit(127);
        }
        ::close(log);
    }

    // Sends `signal` and reaps the child; returns its wait status (-1 if none ran).
    int Kill(int signal) {
        if (pid_ <= 0) return -1;
        ::kill(pid_, signal);
        int status = 0;
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
        return status;
    }

    [[nodiscard]] bool Running() {
        if (pid_ <= 0) return false;
        int status = 0;
        return ::waitpid(pid_, &status, WNOHANG) == 0;
    }

    [[nodiscard]] std::string LogTail() const {
        std::ifstream in(log_path_);
        std::vector<std::string> lines;
        for (std::string line; std::getline(in, line);) lines.push_back(line);
        std::string out;
        for (std::size_t i = lines.size() > 15 ? lines.size() - 15 : 0; i < lines.size(); ++i) {
            out += lines[i] + "\n";
        }
        return out;
    }

private:
    std::string schema_;
    std::string group_;
    std::string instance_id_;
    std::string log_path_;
    pid_t pid_ = -1;
};

// What the test publishes about one store, and how it must end.
struct StorePlan {
    std::string store_id;
    int kind = 0;  // see Scenario
    std::string create_id;
    std::string delete_id;
    int64_t create_offset = -1;
    int64_t delete_offset = -1;
    std::string expected_status;
};

class ProjectorReplayTest : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_FALSE(Env("STOREFLEET_PG_URL").empty())
            << "STOREFLEET_PG_URL is not set: run through tests/with-stack";
        ASSERT_FALSE(Env("STOREFLEET_KAFKA_BROKERS").empty());
        suffix_ = RandomHex(4);
        tenant_ = "it-replay-" + suffix_;
        live_schema_ = "it_live_" + suffix_;
        replay_schema_ = "it_replay_" + suffix_;
        pool_ = std::make_unique<pg::Pool>(Env("STOREFLEET_PG_URL"), 1);
        publisher_ = std::make_unique<kafka::KafkaPublisher>(Env("STOREFLEET_KAFKA_BROKERS"),
                                                             "it-replay-" + suffix_);
    }

    void TearDown() override {
        if (HasFailure()) {
            std::cout << "kept schemas " << live_schema_ << " and " << replay_schema_
                      << " for inspection\n";
            return;
        }
        pool_->WithTransaction([&](pqxx::work& txn) {
            txn.exec("drop schema if exists " + live_schema_ + " cascade");
            txn.exec("drop schema if exists " + replay_schema_ + " cascade");
        });
    }

    v1::Envelope NewEvent(const StorePlan& store, int64_t occurred_at_us) {
        auto envelope = events::NewEnvelope(tenant_, store.store_id, "corr-" + store.store_id);
        envelope.mutable_occurred_at()->set_seconds(occurred_at_us / 1'000'000);
        envelope.mutable_occurred_at()->set_nanos(static_cast<int32_t>(occurred_at_us % 1'000'000) *
                                                  1000);
        return envelope;
    }

    // The provisioner's clock: hours behind intake's for even stores, ahead for odd ones.
    int64_t ProvisionerClock(const StorePlan& store) {
        const int64_t hours = (store.kind + 1) * 3'600'000'000LL;
        return NowMicros() + ((std::hash<std::string>{}(store.store_id) % 2 == 0) ? -hours : hours);
    }

    void AddCommand(std::vector<kafka::OutgoingMessage>& out, const v1::Envelope& envelope) {
        out.push_back({events::kCommandsTopic, envelope.store_id(), events::Encode(envelope), {}});
        distinct_.insert(envelope.event_id());
    }

    // A status event of the command at `command_offset`, as the provisioner emits it.
    v1::Envelope Status(StorePlan& store, int64_t command_offset, uint32_t step_index,
                        v1::StoreStatus status, const std::string& step) {
        auto envelope = NewEvent(store, ProvisionerClock(store));
        auto* changed = envelope.mutable_store_status_changed();
        changed->set_status(status);
        changed->set_step(step);
        changed->set_sequence(command_offset < 0
                                  ? 0
                                  : (static_cast<uint64_t>(command_offset + 1) << 20) |
                                        (uint64_t{step_index} << 8));
        changed->set_namespace_("store-" + store.store_id.substr(0, 8));
        changed->set_name("shop-" + store.store_id.substr(0, 8));
        changed->set_engine_name("woocommerce");
        changed->set_simulated(true);
        if (status == v1::STORE_STATUS_READY) {
            changed->set_url("http://" + store.store_id.substr(0, 8) + ".stores.test");
            changed->set_admin_url("http://" + store.store_id.substr(0, 8) + ".stores.test/admin");
        }
        if (status == v1::STORE_STATUS_FAILED) {
            changed->set_reason("the chart did not become ready");
        }
        events::SetTypeFromPayload(envelope);
        return envelope;
    }

    void AddStatus(std::vector<kafka::OutgoingMessage>& out, const v1::Envelope& envelope) {
        out.push_back({events::kStatusTopic, envelope.store_id(), events::Encode(envelope), {}});
        distinct_.insert(envelope.event_id());
    }

    // Publishes in chunks of `chunk`, calling `between(i)` after chunk i.
    void Publish(const std::vector<kafka::OutgoingMessage>& messages, std::size_t chunk,
                 const std::function<void(std::size_t)>& between = nullptr) {
        for (std::size_t i = 0, n = 0; i < messages.size(); i += chunk, ++n) {
            const std::size_t end = std::min(i + chunk, messages.size());
            std::vector<kafka::OutgoingMessage> part(
                messages.begin() + static_cast<std::ptrdiff_t>(i),
                messages.begin() + static_cast<std::ptrdiff_t>(end));
            ASSERT_TRUE(publisher_->PublishAndWait(part, std::chrono::seconds(30)).ok());
            published_ += part.size();
            for (const auto& message : part) {
                published_ids_.insert(events::Decode(message.payload)->event_id());
            }
            if (between) between(n);
        }
    }

    // The offsets in store-commands of the given command event ids (the first, if twice).
    std::map<std::string, int64_t> CommandOffsets(const std::set<std::string>& ids) {
        std::map<std::string, int64_t> found;
        kafka::KafkaConsumer consumer({.brokers = Env("STOREFLEET_KAFKA_BROKERS"),
                                       .group_id = "it-offsets-" + RandomHex(4),
                                       .client_id = "it-offsets",
                                       .topics = {events::kCommandsTopic},
                                       .on_assign = nullptr,
                                       .on_revoke = nullptr,
                                       .overrides = {}});
        const auto deadline = Clock::now() + std::chrono::seconds(60);
        while (found.size() < ids.size() && Clock::now() < deadline) {
            for (const auto& message : consumer.Poll(std::chrono::milliseconds(500), 500)) {
                auto envelope = events::Decode(message.payload);
                if (envelope.ok() && ids.contains(envelope->event_id())) {
                    found.try_emplace(envelope->event_id(), message.offset);
                }
            }
        }
        consumer.Close();
        EXPECT_EQ(found.size(), ids.size()) << "commands not read back in time";
        return found;
    }

    int64_t published_events() const { return static_cast<int64_t>(published_ids_.size()); }

    int64_t Scalar(const std::string& sql) {
        return pool_->WithTransaction(
            [&](pqxx::work& txn) { return txn.exec_params(sql, tenant_)[0][0].as<int64_t>(); });
    }

    // How many of this run's events the schema has recorded (0 before it exists).
    int64_t Recorded(const std::string& schema) {
        if (Scalar("select count(*) from pg_tables where schemaname = '" + schema +
                   "' and tablename = 'store_events' and $1 <> ''") == 0) {
            return 0;
        }
        return Scalar("select count(*) from " + schema + ".store_events where tenant_id = $1");
    }

    // Seconds from `since` to now, or -1 if the wait before returned -1 (timed out).
    static double SecondsSince(Clock::time_point since, double waited) {
        if (waited < 0) return -1;
        return std::chrono::duration<double>(Clock::now() - since).count();
    }

    // Polls until `done` or the deadline; returns the seconds it took, or -1.
    static double WaitFor(const std::function<bool()>& done, std::chrono::seconds limit) {
        const auto start = Clock::now();
        if (!test_support::WaitUntil(done, limit, std::chrono::milliseconds(50))) return -1;
        return test_support::Seconds(Clock::now() - start);
    }

    std::string suffix_;
    std::string tenant_;
    std::string live_schema_;
    std::string replay_schema_;
    std::unique_ptr<pg::Pool> pool_;
    std::unique_ptr<kafka::KafkaPublisher> publisher_;
    std::set<std::string> distinct_;
    std::set<std::string> published_ids_;  // distinct events published so far
    std::size_t published_ = 0;
};

TEST_F(ProjectorReplayTest, ALiveReadModelKilledTwiceEqualsAFreshReplayRowForRow) {
    // Five kinds of store, ten of each:
    //  0 ready;  1 created then deleted;  2 deleted while provisioning, the create's late
    //  steps published after the deletion request (stale);  3 failed;  4 its create
    //  published twice (a relay republish) and its first steps emitted twice (a replayed
    //  command: same ids, same sequences), plus a status from an old producer (sequence 0).
    std::vector<StorePlan> stores(50);
    const char* expected[] = {"ready", "deleted", "deleted", "failed", "ready"};
    for (std::size_t i = 0; i < stores.size(); ++i) {
        stores[i].store_id = NewUuid();
        stores[i].kind = static_cast<int>(i % 5);
        stores[i].expected_status = expected[stores[i].kind];
    }

    // Phase 1: the creates.
    std::vector<kafka::OutgoingMessage> phase1;
    std::set<std::string> create_ids;
    for (auto& store : stores) {
        auto create = NewEvent(store, NowMicros());
        auto* requested = create.mutable_store_requested();
        requested->set_name("shop-" + store.store_id.substr(0, 8));
        requested->set_engine(v1::ENGINE_WOOCOMMERCE);
        requested->set_plan("small");
        requested->set_host(store.store_id.substr(0, 8) + ".stores.test");
        requested->set_requested_by(tenant_);
        events::SetTypeFromPayload(create);
        store.create_id = create.event_id();
        create_ids.insert(store.create_id);
        AddCommand(phase1, create);
        if (store.kind == 4) AddCommand(phase1, create);
    }
    Publish(phase1, 500);
    for (const auto& [id, offset] : CommandOffsets(create_ids)) {
        for (auto& store : stores) {
            if (store.create_id == id) store.create_offset = offset;
        }
    }

    ProjectorProcess live(live_schema_, "it-live-" + suffix_, "it-live-" + suffix_ + "-0",
                          ::testing::TempDir() + "projector-live-" + suffix_ + ".log");
    live.Start();

    // Phase 2: first steps of every create; deletion requests of kinds 1 and 2.
    std::vector<kafka::OutgoingMessage> phase2;
    std::set<std::string> delete_ids;
    std::map<std::string, v1::Envelope> first_steps;  // kind 4's, re-emitted in phase 3
    for (auto& store : stores) {
        for (uint32_t step = 1; step <= 2; ++step) {
            auto status = Status(store, store.create_offset, step, v1::STORE_STATUS_PROVISIONING,
                                 step == 1 ? "namespace" : "guardrails");
            if (store.kind == 4) first_steps.emplace(status.event_id(), status);
            AddStatus(phase2, status);
        }
        if (store.kind == 1 || store.kind == 2) {
            auto remove = NewEvent(store, NowMicros());
            remove.mutable_store_deletion_requested()->set_requested_by(tenant_);
            events::SetTypeFromPayload(remove);
            store.delete_id = remove.event_id();
            delete_ids.insert(store.delete_id);
            AddCommand(phase2, remove);
        }
    }
    // The live projector is up and has applied phase 1 before phase 2 starts.
    ASSERT_GE(WaitFor([&] { return Recorded(live_schema_) >= static_cast<int64_t>(stores.size()); },
                      std::chrono::seconds(60)),
              0)
        << live.LogTail();
    // Each kill lands right after a chunk was published, while the projector works on it;
    // recovery is from the restart to its next recorded event.
    Clock::time_point restarted1;
    int64_t at_kill1 = 0;
    Publish(phase2, 20, [&](std::size_t chunk) {
        if (chunk != 2) return;
        at_kill1 = Recorded(live_schema_);
        const int status = live.Kill(SIGKILL);
        EXPECT_TRUE(WIFSIGNALED(status));
        std::cout << "kill -9 #1 with " << at_kill1 << " events recorded\n";
        live.Start();
        restarted1 = Clock::now();
    });
    const double recovery1 = SecondsSince(
        restarted1,
        WaitFor([&] { return Recorded(live_schema_) > at_kill1; }, std::chrono::seconds(60)));
    for (const auto& [id, offset] : CommandOffsets(delete_ids)) {
        for (auto& store : stores) {
            if (store.delete_id == id) store.delete_offset = offset;
        }
    }

    // Phase 3: everything else, stale events after the deletion requests included.
    std::vector<kafka::OutgoingMessage> phase3;
    for (auto& store : stores) {
        switch (store.kind) {
            case 0:
                AddStatus(phase3, Status(store, store.create_offset, 3,
                                         v1::STORE_STATUS_PROVISIONING, "secret"));
                AddStatus(phase3, Status(store, store.create_offset, 4,
                                         v1::STORE_STATUS_PROVISIONING, "helm"));
                AddStatus(phase3, Status(store, store.create_offset, 5, v1::STORE_STATUS_READY,
                                         "readiness"));
                break;
            case 1:
                AddStatus(phase3, Status(store, store.delete_offset, 2, v1::STORE_STATUS_DELETING,
                                         "helm-uninstall"));
                AddStatus(phase3, Status(store, store.delete_offset, 4, v1::STORE_STATUS_DELETED,
                                         "namespace"));
                break;
            case 2:
                AddStatus(phase3, Status(store, store.create_offset, 3,
                                         v1::STORE_STATUS_PROVISIONING, "secret"));
                AddStatus(phase3, Status(store, store.create_offset, 5, v1::STORE_STATUS_READY,
                                         "readiness"));
                AddStatus(phase3, Status(store, store.delete_offset, 2, v1::STORE_STATUS_DELETING,
                                         "helm-uninstall"));
                AddStatus(phase3, Status(store, store.delete_offset, 4, v1::STORE_STATUS_DELETED,
                                         "namespace"));
                break;
            case 3:
                AddStatus(phase3,
                          Status(store, store.create_offset, 6, v1::STORE_STATUS_FAILED, "helm"));
                break;
            case 4:
                for (const auto& [id, status] : first_steps) {
                    if (status.store_id() == store.store_id) AddStatus(phase3, status);
                }
                AddStatus(phase3,
                          Status(store, -1, 0, v1::STORE_STATUS_FAILED, "from an old provisioner"));
                AddStatus(phase3, Status(store, store.create_offset, 5, v1::STORE_STATUS_READY,
                                         "readiness"));
                break;
            default:
                break;
        }
    }
    // Stores interleave at random, but each store's events keep the order its provisioner
    // published them in: shuffle the slots, then deal each store's events into its slots.
    {
        std::map<std::string, std::vector<kafka::OutgoingMessage>> by_store;
        for (const auto& message : phase3) by_store[message.key].push_back(message);
        std::vector<std::string> slots;
        for (const auto& message : phase3) slots.push_back(message.key);
        std::shuffle(slots.begin(), slots.end(), std::mt19937(42));
        std::map<std::string, std::size_t> next;
        for (std::size_t i = 0; i < slots.size(); ++i) {
            phase3[i] = by_store[slots[i]][next[slots[i]]++];
        }
    }
    // Kill #2 lands inside a batch's transaction for certain: the test holds a lock on the
    // live consumer_offsets, so the projector's next batch inserts its events and rows and
    // then waits to save its offsets; it is killed there, and none of that may remain.
    Clock::time_point restarted2;
    int64_t at_kill2 = 0;
    pqxx::connection blocker(Env("STOREFLEET_PG_URL"));
    std::optional<pqxx::work> lock;
    Publish(phase3, 25, [&](std::size_t chunk) {
        if (chunk == 1) {
            ASSERT_GE(WaitFor([&] { return Recorded(live_schema_) == published_events(); },
                              std::chrono::seconds(30)),
                      0);
            lock.emplace(blocker);
            lock->exec("lock table " + live_schema_ + ".consumer_offsets in exclusive mode");
            at_kill2 = Recorded(live_schema_);
            return;
        }
        if (chunk != 2) return;
        const double blocked = WaitFor(
            [&] {
                return Scalar(
                           "select count(*) from pg_stat_activity where wait_event_type = "
                           "'Lock' and query like '%consumer_offsets%' and $1 <> ''") > 0;
            },
            std::chrono::seconds(30));
        EXPECT_GE(blocked, 0) << "the projector's batch never reached its offsets";
        const int status = live.Kill(SIGKILL);
        EXPECT_TRUE(WIFSIGNALED(status));
        lock->abort();  // the dead client's transaction goes on, finds no client, rolls back
        lock.reset();
        const double gone = WaitFor(
            [&] {
                return Scalar(
                           "select count(*) from pg_stat_activity where "
                           "query like '%consumer_offsets%' and state <> 'idle' and "
                           "pid <> pg_backend_pid() and $1 <> ''") == 0;
            },
            std::chrono::seconds(30));
        EXPECT_GE(gone, 0);
        EXPECT_EQ(Recorded(live_schema_), at_kill2) << "a killed batch left rows behind";
        std::cout << "kill -9 #2 inside a batch's transaction, with " << at_kill2
                  << " events recorded\n";
        live.Start();
        restarted2 = Clock::now();
    });
    const double recovery2 = SecondsSince(
        restarted2,
        WaitFor([&] { return Recorded(live_schema_) > at_kill2; }, std::chrono::seconds(60)));
    const auto expected_events = static_cast<int64_t>(distinct_.size());
    const double catch_up = WaitFor([&] { return Recorded(live_schema_) == expected_events; },
                                    std::chrono::seconds(90));
    ASSERT_GE(catch_up, 0) << Recorded(live_schema_) << " of " << expected_events << "\n"
                           << live.LogTail();
    ASSERT_TRUE(live.Running()) << live.LogTail();

    // The replay: a fresh group from offset 0 of both topics into a schema of its own.
    ProjectorProcess replay(replay_schema_, "it-replay-" + suffix_, "",
                            ::testing::TempDir() + "projector-replay-" + suffix_ + ".log");
    const auto replay_start = Clock::now();
    replay.Start();
    const double replayed = WaitFor([&] { return Recorded(replay_schema_) == expected_events; },
                                    std::chrono::seconds(90));
    ASSERT_GE(replayed, 0) << replay.LogTail();

    const std::string diff_command =
        std::string(STOREFLEET_DIFF_BIN) + " --wait 60 " + live_schema_ + " " + replay_schema_;
    auto [code, output] = test_support::RunShell(diff_command);
    const double replay_seconds =
        std::chrono::duration<double>(Clock::now() - replay_start).count();
    EXPECT_EQ(code, 0) << output;
    std::cout << output;
    std::cout << "published " << published_ << " messages, " << expected_events
              << " distinct events, 50 stores; recovery after kill -9: " << recovery1 << " s, "
              << recovery2 << " s; live caught up " << catch_up << " s after the last publish; "
              << "replay equal after " << replay_seconds << " s\n";

    // Each event recorded once, in both.
    for (const auto& schema : {live_schema_, replay_schema_}) {
        EXPECT_EQ(Scalar("select count(*) - count(distinct event_id) from " + schema +
                         ".store_events where tenant_id = $1"),
                  0);
        EXPECT_EQ(Recorded(schema), expected_events) << schema;
    }

    // Every store ended where it must, whatever the clocks said.
    auto rows = pool_->WithTransaction([&](pqxx::work& txn) {
        return txn.exec_params("select store_id::text, status, coalesce(url, '') from " +
                                   live_schema_ + ".stores where tenant_id = $1",
                               tenant_);
    });
    ASSERT_EQ(rows.size(), stores.size());
    std::map<std::string, std::pair<std::string, std::string>> status_of;
    for (const auto& row : rows) {
        status_of[row[0].as<std::string>()] = {row[1].as<std::string>(), row[2].as<std::string>()};
    }
    for (const auto& store : stores) {
        EXPECT_EQ(status_of[store.store_id].first, store.expected_status)
            << "kind " << store.kind << " store " << store.store_id;
        if (store.kind == 0 || store.kind == 2 || store.kind == 4) {
            EXPECT_FALSE(status_of[store.store_id].second.empty()) << "url of " << store.store_id;
        }
    }

    // The timeline in sequence order is the causal one; by occurred_at it would not be.
    const auto& deleted_early = stores[2];
    auto timeline = pool_->WithTransaction([&](pqxx::work& txn) {
        return txn.exec_params("select type, coalesce(status, '') from " + live_schema_ +
                                   ".store_events where store_id = $1::uuid "
                                   "order by sequence, occurred_at, event_id",
                               deleted_early.store_id);
    });
    std::vector<std::string> order;
    for (const auto& row : timeline) order.push_back(row[1].as<std::string>());
    EXPECT_EQ(order,
              (std::vector<std::string>{"requested", "provisioning", "provisioning", "provisioning",
                                        "ready", "deleting", "deleting", "deleted"}));

    // The tool does see a difference: one changed row in the replay.
    pool_->WithTransaction([&](pqxx::work& txn) {
        txn.exec_params(
            "update " + replay_schema_ + ".stores set status = 'ready' where store_id = $1::uuid",
            stores[1].store_id);
    });
    auto [changed_code, changed_output] = test_support::RunShell(diff_command);
    EXPECT_EQ(changed_code, 1) << changed_output;
    EXPECT_NE(changed_output.find(stores[1].store_id), std::string::npos) << changed_output;
    EXPECT_NE(changed_output.find("status " + live_schema_ + "=\"deleted\" " + replay_schema_ +
                                  "=\"ready\""),
              std::string::npos)
        << changed_output;

    EXPECT_EQ(WEXITSTATUS(live.Kill(SIGTERM)), 0) << live.LogTail();
    EXPECT_EQ(WEXITSTATUS(replay.Kill(SIGTERM)), 0) << replay.LogTail();
}

}  // namespace
}  // namespace storefleet::projector
