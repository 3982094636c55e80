// The fault suite: the real platform on the local real stack (tests/with-stack), broken on
// purpose while stores are in flight — provisioner replicas killed -9, added and removed,
// Kafka, kube-apiserver and Postgres stopped, the projector and intake killed -9, poison
// commands, deletions at awkward moments — and checked for the guarantees of
// docs/reliability.md: nothing lost, nothing doubled, order kept per store, one runner per
// store, no secret rotated, quota and name freed only when deleted. Every case prints its
// figures as "[figure] ...: ..." lines. Polls with deadlines; the only waits of fixed
// length are the faults themselves (Kafka down for 20 s, the API server for 30 s, ...).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <pqxx/pqxx>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "harness.hpp"
#include "storefleet/common/ids.hpp"
#include "storefleet/events/envelope.hpp"
#include "storefleet/events/status.hpp"
#include "storefleet/kafka/publisher.hpp"

namespace storefleet::faults {
namespace {

constexpr int32_t kCommandPartitions = 12;
const std::string kRun = std::to_string(std::time(nullptr) % 100000);  // NOLINT(cert-err58-cpp)

std::string Lower(std::string text) {
    for (auto& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return text;
}

// Runs `action` when the scope ends (a fault is undone even when an assertion returns).
class ScopeExit {
public:
    explicit ScopeExit(std::function<void()> action) : action_(std::move(action)) {}
    ~ScopeExit() {
        if (action_) action_();
    }
    ScopeExit(const ScopeExit&) = delete;
    ScopeExit& operator=(const ScopeExit&) = delete;

private:
    std::function<void()> action_;
};

// The cases share one fixture only to bound their output: a fault that breaks every store
// would otherwise bury the log in per-store failures. STORE_FAILURE(kind) reports the
// first few failures of a kind in full and counts the rest; TearDown reports the count.
class Faults : public ::testing::Test {
public:
    static bool Admit(const std::string& kind) { return ++counts_[kind] <= kShownPerKind; }

protected:
    void SetUp() override { counts_.clear(); }
    void TearDown() override {
        for (const auto& [kind, count] : counts_) {
            if (count > kShownPerKind) ADD_FAILURE() << "... and " << count - kShownPerKind << " more: " << kind;
        }
    }

private:
    static constexpr int kShownPerKind = 5;
    static inline std::map<std::string, int> counts_;
};

// (the switch, as in gtest's own macros, keeps `if (x) STORE_FAILURE(k) << ...;` unambiguous)
#define STORE_FAILURE(kind)        \
    switch (0)                     \
    case 0:                        \
    default:                       \
        if (!Faults::Admit(kind)) { \
        } else                     \
            ADD_FAILURE()

// Polls `condition` every 100 ms until it holds or the deadline; true if it held.
bool PollUntil(const std::function<bool()>& condition, std::chrono::milliseconds deadline) {
    const auto until = Clock::now() + deadline;
    while (Clock::now() < until) {
        if (condition()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return condition();
}

// Holds a fault for `duration` (the fault's length is the point, not a condition).
void HoldFault(std::chrono::seconds duration) { std::this_thread::sleep_for(duration); }

// Stores a case is done with: deleted when the case ends (the simulated nodes have room
// for a couple of hundred stores, and the suite creates more), and checked to end
// "deleted" before the replay check of the last case.
std::mutex cleanup_mutex;
std::vector<std::string> cleanup_ids;  // guarded by cleanup_mutex
int cleanup_refused = 0;               // guarded by cleanup_mutex

// Sends DELETE for each store when the scope ends (even when an assertion returned early).
class DeleteAtEnd {
public:
    explicit DeleteAtEnd(const std::vector<std::string>& ids) : ids_(ids) {}
    ~DeleteAtEnd() {
        for (const auto& id : ids_) {
            if (id.empty()) continue;
            const long code = TheApi().DeleteStore(id).code;
            std::lock_guard lock(cleanup_mutex);
            cleanup_ids.push_back(id);
            if (code != 202) ++cleanup_refused;
        }
    }
    DeleteAtEnd(const DeleteAtEnd&) = delete;
    DeleteAtEnd& operator=(const DeleteAtEnd&) = delete;

private:
    const std::vector<std::string>& ids_;
};

std::string Status(const json& store) { return store.is_object() ? store.value("status", "") : ""; }

// Per-store checks shared by the cases: the timeline has no event twice (same id), and
// `status` appears `expected` times (-1: any number).
struct TimelineCheck {
    int events = 0;
    int duplicates = 0;
    std::map<std::string, int> statuses;
    std::vector<std::string> order;  // statuses in timeline order
};

TimelineCheck CheckTimeline(const std::string& id) {
    TimelineCheck check;
    auto reply = TheApi().Timeline(id);
    if (reply.code != 200) {
        STORE_FAILURE("timeline not readable") << "GET /api/v1/stores/" << id << "/events: " << reply.code;
    }
    if (reply.code != 200 || !reply.body.is_array()) return check;
    std::set<std::string> ids;
    for (const auto& event : reply.body) {
        ++check.events;
        if (!ids.insert(event.value("event_id", "")).second) ++check.duplicates;
        const std::string status = event["status"].is_string() ? event["status"].get<std::string>() : "";
        ++check.statuses[status];
        check.order.push_back(status);
    }
    return check;
}

// The Helm history of a store's release: revisions, and the ones nobody asked for.
struct HistoryCheck {
    int revisions = 0;
    std::vector<std::string> unwanted;  // "rev 3: uninstalled (...)"
    std::string last_status;
};

HistoryCheck CheckHistory(const std::string& id) {
    HistoryCheck check;
    json history = HelmHistory(id);
    if (!history.is_array()) {
        check.unwanted.push_back("no history: " + history.dump());
        return check;
    }
    for (const auto& revision : history) {
        ++check.revisions;
        const std::string status = revision.value("status", "");
        const std::string description = revision.value("description", "");
        check.last_status = status;
        const bool rollback = Lower(description).find("rollback") != std::string::npos ||
                              status == "pending-rollback";
        const bool uninstall = status == "uninstalled" || status == "uninstalling";
        if (rollback || uninstall) {
            check.unwanted.push_back("rev " + std::to_string(revision.value("revision", 0)) + ": " + status + " (" +
                                     description + ")");
        }
    }
    return check;
}

// ---- provisioner logs: which partitions a replica holds, and when they move ----------

struct Assignment {
    double time = 0;
    std::string replica;
    std::vector<std::string> partitions;
    bool assigned = true;  // false: revoked or lost
    bool started = false;  // a "provisioner started" line: the process's assignment is empty
};

std::vector<std::string> Split(const std::string& text, char separator) {
    std::vector<std::string> parts;
    std::stringstream stream(text);
    std::string part;
    while (std::getline(stream, part, separator)) {
        if (!part.empty()) parts.push_back(part);
    }
    return parts;
}

std::vector<Assignment> ReadAssignments(const std::string& replica) {
    std::vector<Assignment> events;
    std::ifstream in(StateDir() + "/platform/" + replica + ".log");
    std::string line;
    while (std::getline(in, line)) {
        if (line.find("partitions") == std::string::npos && line.find("provisioner started") == std::string::npos) {
            continue;
        }
        auto entry = json::parse(line, nullptr, false);
        if (entry.is_discarded()) continue;
        const std::string msg = entry.value("msg", "");
        Assignment event;
        event.time = ParseLogTime(entry.value("ts", ""));
        event.replica = replica;
        if (msg == "provisioner started") {
            event.started = true;
        } else if (msg == "partitions assigned" || msg == "partitions revoked" || msg == "partitions lost") {
            event.assigned = msg == "partitions assigned";
            event.partitions = Split(entry.value("partitions", ""), ',');
        } else {
            continue;
        }
        events.push_back(std::move(event));
    }
    return events;
}

std::set<std::string> HeldAt(const std::string& replica, double when) {
    std::set<std::string> held;
    for (const auto& event : ReadAssignments(replica)) {
        if (event.time > when) break;
        if (event.started) {
            held.clear();
        } else if (event.assigned) {
            held.insert(event.partitions.begin(), event.partitions.end());
        } else {
            for (const auto& p : event.partitions) held.erase(p);
        }
    }
    return held;
}

// Seconds from `kill_time` until every partition of `held` was assigned again (to anyone),
// or -1 if that is not in the logs yet.
double ReassignedAfter(const std::set<std::string>& held, double kill_time, const std::vector<std::string>& replicas) {
    std::map<std::string, double> first;
    for (const auto& replica : replicas) {
        for (const auto& event : ReadAssignments(replica)) {
            if (event.time < kill_time || !event.assigned || event.started) continue;
            for (const auto& p : event.partitions) {
                if (held.count(p) != 0U && (first.count(p) == 0U || event.time < first[p])) first[p] = event.time;
            }
        }
    }
    if (first.size() < held.size()) return -1;
    double latest = kill_time;
    for (const auto& [p, t] : first) latest = std::max(latest, t);
    return latest - kill_time;
}

// Helm's pending-release recoveries (an uninstall of a release left pending-install, a
// rollback of one left pending-upgrade) the provisioners logged for a store's namespace.
// `helm history` cannot show them all: an uninstall without --keep-history erases the
// release's records, and the next install starts again at revision 1.
std::vector<std::string> RecoveriesOf(const std::string& store_id) {
    std::vector<std::string> found;
    for (const char* replica : {"provisioner", "provisioner-2", "provisioner-3", "provisioner-4"}) {
        std::ifstream in(StateDir() + "/platform/" + replica + ".log");
        std::string line;
        while (std::getline(in, line)) {
            if (line.find("recovering a release left") == std::string::npos) continue;
            if (line.find("store-" + store_id) == std::string::npos) continue;
            auto entry = json::parse(line, nullptr, false);
            if (entry.is_discarded()) continue;
            found.push_back(std::string(replica) + " " + entry.value("ts", "") + " " + entry.value("msg", ""));
        }
    }
    return found;
}

std::set<std::string> ProvisionerReplicas() {
    std::set<std::string> names;
    auto ps = PlatformCommand("ps");
    std::istringstream lines(ps.output);
    std::string line;
    while (std::getline(lines, line)) {
        std::istringstream words(line);
        std::string name;
        std::string pid;
        std::string port;
        std::string state;
        words >> name >> pid >> port >> state;
        if (name.rfind("provisioner", 0) == 0 && state == "running") names.insert(name);
    }
    return names;
}

// ---- case 1 ------------------------------------------------------------------------------

TEST_F(Faults, ReplicasKilledAddedAndRemovedWhileFiftyStoresAreInFlight) {
    constexpr int kStores = 50;
    const unsigned seed = static_cast<unsigned>(std::time(nullptr));
    std::mt19937 random(seed);
    Figure("case 1 random seed", std::to_string(seed));
    // Three replicas to start with (main() asked for them); make sure they all run.
    for (const char* name : {"provisioner", "provisioner-2", "provisioner-3"}) {
        auto started = PlatformCommand(std::string("start ") + name);
        ASSERT_EQ(started.rc, 0) << started.output;
    }

    // "Across 3 replicas": wait until the group has spread the partitions over all three.
    const auto balance_start = Clock::now();
    const bool balanced = PollUntil(
        [] {
            const double now = WallNow();
            for (const char* name : {"provisioner", "provisioner-2", "provisioner-3"}) {
                if (HeldAt(name, now).empty()) return false;
            }
            return true;
        },
        std::chrono::seconds(60));
    EXPECT_TRUE(balanced) << "the three replicas did not all get partitions";
    Figure("case 1 three replicas hold partitions after", Seconds(Clock::now() - balance_start), "s");

    const auto start = Clock::now();
    std::vector<std::string> ids;
    DeleteAtEnd cleanup(ids);
    for (int i = 0; i < kStores; ++i) {
        auto reply = TheApi().CreateStore("f1-" + kRun + "-" + std::to_string(i), i % 5 == 4 ? "medusa" : "woocommerce");
        ASSERT_EQ(reply.code, 202) << reply.body.dump();
        ids.push_back(reply.body.value("id", ""));
    }

    // The chaos: three kill -9 at random moments (each restarted after a moment), one
    // replica added (provisioner-4) and one removed with TERM (provisioner-3).
    struct Kill {
        std::string replica;
        double wall = 0;
        std::set<std::string> held;
        double restart_after = 0;
    };
    std::vector<Kill> kills;
    std::vector<std::string> chaos_log;
    std::pair<std::string, double> removal;  // the replica removed with TERM, and when
    std::mutex chaos_mutex;
    std::thread chaos([&] {
        std::uniform_int_distribution<int> pause_ms(500, 4000);
        std::uniform_int_distribution<int> restart_ms(500, 2500);
        for (int round = 0; round < 3; ++round) {
            std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms(random)));
            auto live = ProvisionerReplicas();
            if (live.empty()) break;
            auto victim = *std::next(live.begin(), static_cast<long>(random() % live.size()));
            Kill kill;
            kill.replica = victim;
            kill.wall = WallNow();
            auto killed = PlatformCommand("kill " + victim + " -9");
            std::this_thread::sleep_for(std::chrono::milliseconds(restart_ms(random)));
            auto restarted = PlatformCommand("start " + victim);
            kill.restart_after = WallNow() - kill.wall;
            {
                std::lock_guard lock(chaos_mutex);
                chaos_log.push_back("kill -9 " + victim + " rc=" + std::to_string(killed.rc) + ", restarted rc=" +
                                    std::to_string(restarted.rc) + " " + restarted.output);
                kills.push_back(kill);
            }
            if (round == 0) {
                auto added = PlatformCommand("start provisioner-4");
                std::lock_guard lock(chaos_mutex);
                chaos_log.push_back("added provisioner-4 rc=" + std::to_string(added.rc) + " " + added.output);
            } else if (round == 1) {
                // Removed for good: a replica other than the one just killed, so each kill's
                // recovery figure measures the restart, not the removal.
                const std::string leaving = victim == "provisioner-3" ? "provisioner-2" : "provisioner-3";
                const auto removed_at = Clock::now();
                const double removed_wall = WallNow();
                auto removed = PlatformCommand("kill " + leaving + " TERM");
                std::lock_guard lock(chaos_mutex);
                chaos_log.push_back("removed " + leaving + " (TERM) rc=" + std::to_string(removed.rc) + " in " +
                                    std::to_string(Seconds(Clock::now() - removed_at)) + " s");
                removal = {leaving, removed_wall};
            }
        }
    });

    std::map<std::string, SecretFingerprint> first_secret;
    std::map<std::string, double> ready_at;
    std::map<std::string, std::set<std::string>> want;
    for (const auto& id : ids) want[id] = {"ready"};
    auto last = WaitForStores(want, std::chrono::seconds(180), [&](const std::string& id, const json&) {
        first_secret[id] = CredentialsSecret(id);
        ready_at[id] = Seconds(Clock::now() - start);
    });
    chaos.join();
    // Stores that were Ready before the chaos ended must still be Ready after it.
    last = WaitForStores(want, std::chrono::seconds(20));
    const double total = Seconds(Clock::now() - start);
    for (const auto& line : chaos_log) std::cout << "[chaos] " << line << "\n";

    int not_ready = 0;
    for (const auto& id : ids) {
        if (Status(last[id]) != "ready") {
            ++not_ready;
            STORE_FAILURE("stores not Ready") << "store " << id << " not Ready (stuck or failed): " << last[id].dump();
        }
    }
    int rotated = 0;
    int unwanted_revisions = 0;
    int duplicate_events = 0;
    int ready_twice = 0;
    int recovered_releases = 0;
    std::map<int, int> revision_counts;
    for (const auto& id : ids) {
        auto history = CheckHistory(id);
        ++revision_counts[history.revisions];
        unwanted_revisions += static_cast<int>(history.unwanted.size());
        for (const auto& entry : history.unwanted) {
            STORE_FAILURE("unwanted Helm revisions") << "store " << id << " Helm history: " << entry;
        }
        if (history.last_status != "deployed") {
            STORE_FAILURE("releases not deployed") << "store " << id << " release is '" << history.last_status << "'";
        }
        auto recoveries = RecoveriesOf(id);
        recovered_releases += recoveries.empty() ? 0 : 1;
        for (const auto& entry : recoveries) {
            std::cout << "[case 1] store " << id << " (" << Status(last[id]) << "): " << entry << "\n";
        }
        auto now = CredentialsSecret(id);
        if (first_secret.count(id) != 0U) {
            if (first_secret[id].uid.empty()) {
                STORE_FAILURE("no Secret at Ready") << "no credentials Secret when " << id << " turned Ready";
            }
            if (!(now == first_secret[id])) {
                ++rotated;
                STORE_FAILURE("secrets rotated") << "store " << id << " credentials Secret changed: uid " << first_secret[id].uid << " -> "
                              << now.uid;
            }
        }
        auto timeline = CheckTimeline(id);
        duplicate_events += timeline.duplicates;
        if (timeline.duplicates != 0) {
            STORE_FAILURE("duplicate timeline events") << id;
        }
        if (timeline.statuses["ready"] > 1) {
            ++ready_twice;
            STORE_FAILURE("Ready more than once") << "store " << id << " turned Ready " << timeline.statuses["ready"] << " times";
        }
    }
    std::string revisions;
    for (const auto& [n, count] : revision_counts) revisions += std::to_string(count) + "x" + std::to_string(n) + " ";
    Figure("case 1 stores Ready", std::to_string(kStores - not_ready) + "/" + std::to_string(kStores));
    Figure("case 1 total time (first POST to all Ready, chaos included)", total, "s");
    if (!ready_at.empty()) {
        double slowest = 0;
        for (const auto& [id, t] : ready_at) slowest = std::max(slowest, t);
        Figure("case 1 slowest store POST -> Ready", slowest, "s");
    }
    Figure("case 1 Helm revisions per store (count x revisions)", revisions);
    Figure("case 1 unwanted rollbacks/uninstalls", std::to_string(unwanted_revisions));
    Figure("case 1 stores whose release a recovery uninstalled or rolled back (from the logs)",
           std::to_string(recovered_releases));
    Figure("case 1 secrets rotated", std::to_string(rotated));
    Figure("case 1 duplicate timeline events", std::to_string(duplicate_events));
    Figure("case 1 stores Ready more than once", std::to_string(ready_twice));

    // Recovery: from each kill (and the removal) to the replica's partitions being assigned again.
    const std::vector<std::string> all = {"provisioner", "provisioner-2", "provisioner-3", "provisioner-4"};
    if (!removal.first.empty()) {
        const auto held = HeldAt(removal.first, removal.second);
        double moved = -1;
        PollUntil([&] { return (moved = ReassignedAfter(held, removal.second, all)) >= 0; }, std::chrono::seconds(30));
        Figure("case 1 " + removal.first + " removed with TERM (" + std::to_string(held.size()) +
                   " partitions): partitions moving again after",
               moved, "s");
    }
    for (auto& kill : kills) {
        kill.held = HeldAt(kill.replica, kill.wall);
        double recovered = -1;
        PollUntil([&] { return (recovered = ReassignedAfter(kill.held, kill.wall, all)) >= 0; },
                  std::chrono::seconds(30));
        std::string held;
        for (const auto& p : kill.held) held += p.substr(p.find('/') + 1) + ",";
        if (kill.held.empty()) {
            Figure("case 1 kill -9 " + kill.replica + " (it held no partitions at that moment)", "-");
            continue;
        }
        Figure("case 1 kill -9 " + kill.replica + " (held partitions " + (held.empty() ? "none" : held) +
                   " restarted after " + std::to_string(kill.restart_after).substr(0, 4) + " s): partitions moving again after",
               recovered, "s");
        EXPECT_GE(recovered, 0) << kill.replica << "'s partitions were not assigned again";
    }
}

// ---- case 2 ------------------------------------------------------------------------------

// A stream of creates (and, for every other store, a delete right after) through the API.
struct Stream {
    struct Accepted {
        std::string id;
        bool delete_accepted = false;
        int delete_code = 0;
    };
    std::mutex mutex;
    std::vector<Accepted> accepted;
    std::map<long, int> create_codes;
    std::atomic<bool> stop{false};
    std::thread thread;

    void Start(const std::string& prefix, bool with_deletes) {
        thread = std::thread([this, prefix, with_deletes] {
            for (int i = 0; !stop.load(); ++i) {
                auto reply = TheApi().CreateStore(prefix + std::to_string(i));
                Accepted entry;
                if (reply.code == 202) entry.id = reply.body.value("id", "");
                if (reply.code == 202 && with_deletes && i % 2 == 1) {
                    auto deleted = TheApi().DeleteStore(entry.id);
                    entry.delete_code = static_cast<int>(deleted.code);
                    entry.delete_accepted = deleted.code == 202;
                }
                std::lock_guard lock(mutex);
                ++create_codes[reply.code];
                if (!entry.id.empty()) accepted.push_back(entry);
                // pacing of the load generator: about 5 creates a second
                std::this_thread::sleep_for(std::chrono::milliseconds(200));
            }
        });
    }
    std::size_t Count() {
        std::lock_guard lock(mutex);
        return accepted.size();
    }
    void Stop() {
        stop = true;
        if (thread.joinable()) thread.join();
    }
    ~Stream() { Stop(); }
};

TEST_F(Faults, KafkaStoppedTwentySecondsUnderCreatesAndDeletes) {
    std::vector<std::string> kept;
    DeleteAtEnd cleanup(kept);
    Stream stream;
    stream.Start("f2-" + kRun + "-", true);
    ScopeExit restore([] { StackUp("kafka"); });
    ASSERT_TRUE(PollUntil([&] { return stream.Count() >= 5; }, std::chrono::seconds(30)));

    auto down_start = Clock::now();
    auto down = StackDown("kafka");
    ASSERT_EQ(down.rc, 0) << down.output;
    const auto down_done = Clock::now();
    const std::size_t before = stream.Count();
    Figure("case 2 infra/local/down kafka took", Seconds(down_done - down_start), "s");
    HoldFault(std::chrono::seconds(20));
    const std::size_t during = stream.Count() - before;
    const auto up_start = Clock::now();
    auto up = StackUp("kafka");
    ASSERT_EQ(up.rc, 0) << up.output;
    const auto up_done = Clock::now();
    Figure("case 2 Kafka down for", Seconds(up_start - down_done), "s");
    Figure("case 2 infra/local/up kafka took (same port)", Seconds(up_done - up_start), "s");
    Figure("case 2 requests accepted while Kafka was down", static_cast<double>(during));
    PollUntil([&] { return stream.Count() >= before + during + 10; }, std::chrono::seconds(10));
    stream.Stop();

    std::map<std::string, std::set<std::string>> want;
    std::map<std::string, bool> deleted;
    int deletes = 0;
    for (const auto& entry : stream.accepted) {
        if (!entry.delete_accepted) kept.push_back(entry.id);
        want[entry.id] = {entry.delete_accepted ? "deleted" : "ready"};
        deleted[entry.id] = entry.delete_accepted;
        deletes += entry.delete_accepted ? 1 : 0;
        if (!entry.delete_accepted && entry.delete_code != 0) {
            STORE_FAILURE("DELETE refused") << "DELETE of " << entry.id << " answered " << entry.delete_code;
        }
    }
    std::string codes;
    for (const auto& [code, count] : stream.create_codes) codes += std::to_string(code) + ":" + std::to_string(count) + " ";
    Figure("case 2 create answers (code:count)", codes);
    Figure("case 2 stores accepted / of them deleted", std::to_string(want.size()) + " / " + std::to_string(deletes));
    auto last = WaitForStores(want, std::chrono::seconds(150));
    Figure("case 2 Kafka back -> every accepted request at its end state", Seconds(Clock::now() - up_done), "s");
    int lost = 0;
    for (const auto& [id, statuses] : want) {
        if (statuses.count(Status(last[id])) == 0U) {
            ++lost;
            STORE_FAILURE("requests not at their end state")
                << "store " << id << " wanted " << *statuses.begin() << ", is " << last[id].dump();
        }
    }
    Figure("case 2 requests not at their end state", std::to_string(lost));

    // None twice, and the read model's timeline in order: requested first, the end state last.
    int doubled = 0;
    for (const auto& [id, statuses] : want) {
        auto timeline = CheckTimeline(id);
        if (timeline.duplicates != 0) {
            STORE_FAILURE("duplicate timeline events") << id;
        }
        const std::string end = *statuses.begin();
        if (timeline.statuses[end] > 1) {
            ++doubled;
            STORE_FAILURE("end state reached twice")
                << "store " << id << " reached " << end << " " << timeline.statuses[end] << " times";
        }
        if (!timeline.order.empty()) {
            if (timeline.order.front() != "requested") {
                STORE_FAILURE("timelines not starting 'requested'") << id << " starts " << timeline.order.front();
            }
            if (timeline.order.back() != end) {
                STORE_FAILURE("timelines not ending at the end state")
                    << id << " ends '" << timeline.order.back() << "', want '" << end << "'";
            }
            if (deleted[id]) {
                auto deleting = std::find(timeline.order.begin(), timeline.order.end(), "deleting");
                if (deleting == timeline.order.end()) {
                    STORE_FAILURE("no 'deleting' in a deleted store's timeline") << id;
                } else if (std::find(deleting, timeline.order.end(), "ready") != timeline.order.end()) {
                    STORE_FAILURE("'ready' after 'deleting'") << id << " turned ready after its deletion was requested";
                }
            }
        }
    }
    Figure("case 2 end states reached more than once", std::to_string(doubled));

    // Order per store on the topic: each store's commands in one partition, create before delete.
    std::map<std::string, std::vector<std::pair<std::string, storefleet::kafka::ConsumedMessage>>> commands;
    auto messages = ReadTopic(storefleet::events::kCommandsTopic, std::chrono::seconds(90), [&](const auto& got) {
        std::map<std::string, int> seen;
        for (const auto& message : got) {
            if (want.count(message.key) != 0U) ++seen[message.key];
        }
        for (const auto& [id, statuses] : want) {
            if (seen[id] < (deleted[id] ? 2 : 1)) return false;
        }
        return true;
    });
    int copies = 0;
    std::set<std::string> event_ids;
    for (const auto& message : messages) {
        if (want.count(message.key) == 0U) continue;
        auto envelope = storefleet::events::Decode(message.payload);
        ASSERT_TRUE(envelope.ok()) << "undecodable command of store " << message.key;
        if (!event_ids.insert(envelope->event_id()).second) ++copies;
        commands[message.key].emplace_back(envelope->type(), message);
    }
    int out_of_order = 0;
    int published_twice = 0;
    for (const auto& [id, statuses] : want) {
        const auto& list = commands[id];
        std::map<std::string, std::set<std::string>> ids_by_type;
        std::set<int32_t> partitions;
        int64_t create_offset = -1;
        int64_t delete_offset = -1;
        for (const auto& [type, message] : list) {
            partitions.insert(message.partition);
            if (type == "StoreRequested" && create_offset < 0) create_offset = message.offset;
            if (type == "StoreDeletionRequested" && delete_offset < 0) delete_offset = message.offset;
            ids_by_type[type].insert(storefleet::events::Decode(message.payload)->event_id());
        }
        if (ids_by_type["StoreRequested"].size() > 1) {
            ++published_twice;
            STORE_FAILURE("creates published as distinct events") << "store " << id;
        }
        if (partitions.size() > 1) {
            STORE_FAILURE("commands in several partitions") << "store " << id;
        }
        if (create_offset < 0) {
            STORE_FAILURE("no StoreRequested on the topic") << "store " << id;
        }
        if (deleted[id]) {
            if (delete_offset < 0) {
                STORE_FAILURE("no StoreDeletionRequested on the topic") << "store " << id;
            }
            if (delete_offset >= 0 && create_offset >= 0 && delete_offset < create_offset) {
                ++out_of_order;
                STORE_FAILURE("delete before create") << "store " << id << ": delete at offset " << delete_offset << " before create at "
                              << create_offset;
            }
        }
    }
    Figure("case 2 stores whose delete was published before their create", std::to_string(out_of_order));
    Figure("case 2 command copies on the topic (same event id, at-least-once)", std::to_string(copies));
    Figure("case 2 creates published as two distinct events", std::to_string(published_twice));
}

// ---- case 3 ------------------------------------------------------------------------------

TEST_F(Faults, KubeApiServerStoppedThirtySecondsDuringProvisioning) {
    constexpr int kStores = 20;
    std::vector<std::string> ids;
    DeleteAtEnd cleanup(ids);
    const auto start = Clock::now();
    for (int i = 0; i < kStores; ++i) {
        auto reply = TheApi().CreateStore("f3-" + kRun + "-" + std::to_string(i));
        ASSERT_EQ(reply.code, 202) << reply.body.dump();
        ids.push_back(reply.body.value("id", ""));
    }
    ScopeExit restore([] { StackUp("k8s-apiserver"); });
    // Stop it while provisioning runs: once a few stores are past "requested" (the earlier
    // cases' deletions may still occupy the replicas for a while).
    PollUntil(
        [&] {
            int started = 0;
            for (const auto& id : ids) started += Status(TheApi().GetStore(id).body) != "requested" ? 1 : 0;
            return started >= 3;
        },
        std::chrono::seconds(90));
    int provisioning = 0;
    int ready_before = 0;
    for (const auto& id : ids) {
        const auto status = Status(TheApi().GetStore(id).body);
        provisioning += status == "provisioning" ? 1 : 0;
        ready_before += status == "ready" ? 1 : 0;
    }
    auto down = StackDown("k8s-apiserver");
    ASSERT_EQ(down.rc, 0) << down.output;
    const auto down_done = Clock::now();
    Figure("case 3 stores provisioning / ready when the API server stopped",
           std::to_string(provisioning) + " / " + std::to_string(ready_before));
    HoldFault(std::chrono::seconds(30));
    const auto up_start = Clock::now();
    auto up = StackUp("k8s-apiserver");
    ASSERT_EQ(up.rc, 0) << up.output;
    const auto up_done = Clock::now();
    Figure("case 3 kube-apiserver down for", Seconds(up_start - down_done), "s");
    Figure("case 3 infra/local/up k8s-apiserver took (same port)", Seconds(up_done - up_start), "s");

    std::map<std::string, std::set<std::string>> want;
    for (const auto& id : ids) want[id] = {"ready"};
    auto last = WaitForStores(want, std::chrono::seconds(180));
    Figure("case 3 API server back -> all Ready", Seconds(Clock::now() - up_done), "s");
    Figure("case 3 first POST -> all Ready", Seconds(Clock::now() - start), "s");
    int ready = 0;
    for (const auto& id : ids) {
        if (Status(last[id]) == "ready") {
            ++ready;
        } else {
            STORE_FAILURE("stores not Ready") << "store " << id << " not Ready: " << last[id].dump();
        }
        if (CheckTimeline(id).duplicates != 0) {
            STORE_FAILURE("duplicate timeline events") << id;
        }
        for (const auto& entry : CheckHistory(id).unwanted) {
            STORE_FAILURE("unwanted Helm revisions") << "store " << id << " Helm: " << entry;
        }
    }
    Figure("case 3 stores Ready", std::to_string(ready) + "/" + std::to_string(kStores));
    // The stack's StorageClass binds on first consumer, so no store pod is ever rejected
    // for a claim not bound yet; with Immediate binding nearly every one was, and one whose
    // retry raced kube-scheduler's volume cache waited 5 minutes (infra/local/parts/k8s.sh).
    int unbound_claim_rejections = 0;
    for (const auto& id : ids) {
        auto events = Kube().Get("/api/v1/namespaces/" + NamespaceOf(id) +
                                 "/events?fieldSelector=reason%3DFailedScheduling");
        if (!events.ok()) {
            STORE_FAILURE("events unreadable") << "store " << id << ": " << events.error().message;
            continue;
        }
        for (const auto& event : (*events)["items"]) {
            if (event.value("message", "").find("unbound immediate PersistentVolumeClaims") != std::string::npos) {
                // Repeats fold into one event (core/v1 count, or the events.k8s.io series).
                const bool counted = event.contains("count") && event["count"].is_number();
                const int count = counted ? event["count"].get<int>() : 0;
                unbound_claim_rejections += std::max(1, count);
            }
        }
    }
    Figure("case 3 pods rejected for an unbound immediate claim", std::to_string(unbound_claim_rejections));
    EXPECT_EQ(unbound_claim_rejections, 0);
}

// ---- case 5 ------------------------------------------------------------------------------

// Rows applied twice in the read model: two timeline rows of a store with the same sequence.
int DoubleAppliedRows() {
    pqxx::connection db(Env("STOREFLEET_PG_URL"));
    pqxx::work txn(db);
    // Only this suite's stores: the integration tier before it publishes synthetic events of
    // its own (with their own step numbering) to the same topics.
    auto rows = txn.exec_params(
        "select count(*) from (select e.store_id, e.sequence from read.store_events e "
        "join read.stores s on s.store_id = e.store_id where e.sequence is not null and s.name like $1 "
        "group by e.store_id, e.sequence having count(*) > 1) d",
        "%-" + kRun + "-%");
    return rows[0][0].as<int>();
}

TEST_F(Faults, ProjectorAndIntakeKilledMidStream) {
    // The projector, killed -9 while it applies the events of 20 stores.
    std::vector<std::string> ids;
    DeleteAtEnd cleanup(ids);
    for (int i = 0; i < 20; ++i) {
        auto reply = TheApi().CreateStore("f5a-" + kRun + "-" + std::to_string(i));
        ASSERT_EQ(reply.code, 202) << reply.body.dump();
        ids.push_back(reply.body.value("id", ""));
    }
    ScopeExit restore_projector([] { PlatformCommand("start projector"); });
    ScopeExit restore_intake([] { PlatformCommand("start intake"); });
    PollUntil([&] { return Status(TheApi().GetStore(ids.front()).body) == "provisioning"; }, std::chrono::seconds(30));
    auto killed = PlatformCommand("kill projector -9");
    ASSERT_EQ(killed.rc, 0) << killed.output;
    const auto restart_start = Clock::now();
    auto restarted = PlatformCommand("start projector");
    ASSERT_EQ(restarted.rc, 0) << restarted.output;
    Figure("case 5 projector restart took", Seconds(Clock::now() - restart_start), "s");
    std::map<std::string, std::set<std::string>> want;
    for (const auto& id : ids) want[id] = {"ready"};
    auto last = WaitForStores(want, std::chrono::seconds(120));
    Figure("case 5 projector killed -> all 20 Ready in the read model", Seconds(Clock::now() - restart_start), "s");
    for (const auto& id : ids) {
        if (Status(last[id]) != "ready") {
            STORE_FAILURE("stores not Ready") << id << " " << last[id].dump();
        }
        auto timeline = CheckTimeline(id);
        if (timeline.duplicates != 0) {
            STORE_FAILURE("duplicate timeline events") << id;
        }
        if (timeline.statuses["ready"] > 1) {
            STORE_FAILURE("Ready more than once") << id;
        }
    }

    // Intake, killed -9 under a stream of creates. Every create carries an Idempotency-Key
    // and is retried with it until it gets its 202, as a client would.
    std::atomic<bool> stop{false};
    std::mutex mutex;
    std::map<std::string, std::string> accepted;  // name -> id
    std::map<long, int> codes;
    std::thread client([&] {
        for (int i = 0; !stop.load(); ++i) {
            const std::string name = "f5b-" + kRun + "-" + std::to_string(i);
            const auto until = Clock::now() + std::chrono::seconds(60);
            while (Clock::now() < until) {
                auto reply = TheApi().CreateStore(name, "woocommerce", "faults-" + name);
                {
                    std::lock_guard lock(mutex);
                    ++codes[reply.code];
                }
                if (reply.code == 202) {
                    std::lock_guard lock(mutex);
                    accepted[name] = reply.body.value("id", "");
                    break;
                }
                // client retry pacing
                std::this_thread::sleep_for(std::chrono::milliseconds(100));
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(100));  // load pacing: ~10 creates/s
        }
    });
    auto count = [&] {
        std::lock_guard lock(mutex);
        return accepted.size();
    };
    PollUntil([&] { return count() >= 5; }, std::chrono::seconds(30));
    auto intake_killed = PlatformCommand("kill intake -9");
    EXPECT_EQ(intake_killed.rc, 0) << intake_killed.output;
    const auto intake_down = Clock::now();
    auto intake_up = PlatformCommand("start intake");
    EXPECT_EQ(intake_up.rc, 0) << intake_up.output;
    const std::size_t at_restart = count();
    PollUntil([&] { return count() >= at_restart + 5; }, std::chrono::seconds(30));
    Figure("case 5 intake killed -> accepting again", Seconds(Clock::now() - intake_down), "s");
    stop = true;
    client.join();
    std::string code_list;
    for (const auto& [code, n] : codes) code_list += std::to_string(code) + ":" + std::to_string(n) + " ";
    Figure("case 5 intake create answers (code:count, retries included)", code_list);

    want.clear();
    for (const auto& [name, id] : accepted) {
        want[id] = {"ready"};
        ids.push_back(id);
    }
    last = WaitForStores(want, std::chrono::seconds(120));
    int lost = 0;
    for (const auto& [name, id] : accepted) {
        if (Status(last[id]) != "ready") {
            ++lost;
            STORE_FAILURE("accepted stores not Ready")
                << "store " << name << " (" << id << ") accepted but not Ready: " << last[id].dump();
        }
        auto timeline = CheckTimeline(id);
        if (timeline.duplicates != 0) {
            STORE_FAILURE("duplicate timeline events") << id;
        }
        if (timeline.statuses["requested"] != 1) {
            STORE_FAILURE("requested not exactly once")
                << name << " requested " << timeline.statuses["requested"] << " times";
        }
    }
    // No store twice: one row per name in the read model.
    pqxx::connection db(Env("STOREFLEET_PG_URL"));
    pqxx::work txn(db);
    auto twice = txn.exec_params("select name, count(*) from read.stores where name like $1 group by name having count(*) > 1",
                                 "f5b-" + kRun + "-%");
    for (const auto& row : twice) ADD_FAILURE() << "store name " << row[0].c_str() << " appears " << row[1].c_str() << " times";
    txn.commit();
    const int doubled_rows = DoubleAppliedRows();
    EXPECT_EQ(doubled_rows, 0) << "read.store_events rows applied twice (same store and sequence)";
    Figure("case 5 intake stream stores accepted / lost / doubled",
           std::to_string(accepted.size()) + " / " + std::to_string(lost) + " / " + std::to_string(twice.size()));
    Figure("case 5 read-model rows applied twice (whole read model)", std::to_string(doubled_rows));
}

// ---- case 6 ------------------------------------------------------------------------------

TEST_F(Faults, PoisonCommandsGoToTheDeadLetterTopicAndThePartitionKeepsMoving) {
    // Work queued first, then the poison behind it in the partition of store A.
    std::vector<std::string> ids;
    DeleteAtEnd cleanup(ids);
    for (int i = 0; i < 6; ++i) {
        auto reply = TheApi().CreateStore("f6-" + kRun + "-" + std::to_string(i));
        ASSERT_EQ(reply.code, 202) << reply.body.dump();
        ids.push_back(reply.body.value("id", ""));
    }
    const std::string key = ids.front();
    const int32_t partition = PartitionForKey(key, kCommandPartitions);
    storefleet::kafka::KafkaPublisher publisher(Env("STOREFLEET_KAFKA_BROKERS"), "faults-poison");
    const std::string garbage = std::string("not a protobuf \xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff ") + kRun;
    auto not_a_command = storefleet::events::NewEnvelope("", NewUuid(), "faults-poison-" + kRun);
    not_a_command.set_type("StoreExploded");  // decodes, but carries no store command
    const std::string not_a_command_bytes = storefleet::events::Encode(not_a_command);
    std::vector<storefleet::kafka::OutgoingMessage> poison(2);
    poison[0].topic = storefleet::events::kCommandsTopic;
    poison[0].key = key;
    poison[0].payload = garbage;
    poison[1].topic = storefleet::events::kCommandsTopic;
    poison[1].key = key;
    poison[1].payload = not_a_command_bytes;
    const auto published = Clock::now();
    auto status = publisher.PublishAndWait(poison, std::chrono::seconds(30));
    ASSERT_TRUE(status.ok()) << status.error().message;

    // Stores created after the poison until one lands in the same partition.
    std::vector<std::string> after_same_partition;
    for (int i = 0; i < 80 && after_same_partition.size() < 2; ++i) {
        auto reply = TheApi().CreateStore("f6-after-" + kRun + "-" + std::to_string(i));
        ASSERT_EQ(reply.code, 202) << reply.body.dump();
        const std::string id = reply.body.value("id", "");
        ids.push_back(id);
        if (PartitionForKey(id, kCommandPartitions) == partition) after_same_partition.push_back(id);
    }
    ASSERT_FALSE(after_same_partition.empty()) << "no store id hashed to partition " << partition;
    Figure("case 6 poison partition", std::to_string(partition));

    // Both land on the dead-letter topic, with their reason.
    std::map<std::string, std::string> reasons;  // "undecodable"/"not a command" -> reason header
    auto dead = ReadTopic(storefleet::events::kDeadLetterTopic, std::chrono::seconds(120), [&](const auto& got) {
        int found = 0;
        for (const auto& message : got) {
            found += (message.payload == garbage || message.payload == not_a_command_bytes) ? 1 : 0;
        }
        return found >= 2;
    });
    for (const auto& message : dead) {
        if (message.payload != garbage && message.payload != not_a_command_bytes) continue;
        std::string reason;
        std::string headers;
        for (const auto& [name, value] : message.headers) {
            headers += name + "=" + value + "; ";
            if (name == "storefleet-reason") reason = value;
        }
        const std::string which = message.payload == garbage ? "undecodable bytes" : "an envelope that is no command";
        reasons[which] = reason;
        EXPECT_EQ(message.key, key) << which << " lost its key";
        std::cout << "[dead-letter] " << which << ": " << headers << "\n";
    }
    Figure("case 6 poison published -> both found on " + std::string(storefleet::events::kDeadLetterTopic),
           Seconds(Clock::now() - published), "s");
    EXPECT_EQ(reasons.count("undecodable bytes"), 1U) << "undecodable bytes not on the dead-letter topic";
    EXPECT_EQ(reasons.count("an envelope that is no command"), 1U) << "the non-command envelope not on the dead-letter topic";
    for (const auto& [which, reason] : reasons) EXPECT_FALSE(reason.empty()) << which << " has no storefleet-reason";

    // The partition keeps moving: the stores before and after the poison end Ready.
    std::map<std::string, std::set<std::string>> want;
    for (const auto& id : ids) want[id] = {"ready"};
    auto last = WaitForStores(want, std::chrono::seconds(120));
    for (const auto& id : ids) {
        if (Status(last[id]) != "ready") {
            STORE_FAILURE("stores not Ready") << id << " " << last[id].dump();
        }
    }
    for (const auto& id : after_same_partition) {
        EXPECT_EQ(Status(last[id]), "ready") << "store " << id << " behind the poison in partition " << partition;
    }
    Figure("case 6 stores behind the poison in its partition Ready",
           std::to_string(std::count_if(after_same_partition.begin(), after_same_partition.end(),
                                        [&](const auto& id) { return Status(last[id]) == "ready"; })) +
               "/" + std::to_string(after_same_partition.size()));
}

// ---- case 7 ------------------------------------------------------------------------------

TEST_F(Faults, DeletionEdgeCases) {
    const std::string prefix = "f7-" + kRun + "-";
    // Create then delete at once.
    auto at_once = TheApi().CreateStore(prefix + "at-once");
    ASSERT_EQ(at_once.code, 202);
    const std::string at_once_id = at_once.body.value("id", "");
    EXPECT_EQ(TheApi().DeleteStore(at_once_id).code, 202);
    // Delete twice (after it is Ready).
    auto twice = TheApi().CreateStore(prefix + "twice");
    ASSERT_EQ(twice.code, 202);
    const std::string twice_id = twice.body.value("id", "");
    // Delete while provisioning.
    auto during = TheApi().CreateStore(prefix + "during");
    ASSERT_EQ(during.code, 202);
    const std::string during_id = during.body.value("id", "");
    // A namespace held by a finalizer.
    const std::string held_name = prefix + "held";
    auto held = TheApi().CreateStore(held_name);
    ASSERT_EQ(held.code, 202);
    const std::string held_id = held.body.value("id", "");

    EXPECT_TRUE(PollUntil([&] { return Status(TheApi().GetStore(during_id).body) == "provisioning"; },
                          std::chrono::seconds(60)))
        << "never saw " << during_id << " provisioning";
    EXPECT_EQ(TheApi().DeleteStore(during_id).code, 202);

    auto ready = WaitForStores({{twice_id, {"ready"}}, {held_id, {"ready"}}}, std::chrono::seconds(120));
    ASSERT_EQ(Status(ready[twice_id]), "ready") << ready[twice_id].dump();
    ASSERT_EQ(Status(ready[held_id]), "ready") << ready[held_id].dump();
    EXPECT_EQ(TheApi().DeleteStore(twice_id).code, 202);
    EXPECT_EQ(TheApi().DeleteStore(twice_id).code, 202) << "a repeated DELETE must be accepted";

    // The finalizer: a ConfigMap in the store's namespace that nobody will release.
    const std::string ns = NamespaceOf(held_id);
    const std::string finalizer = "faults.storefleet.dev/hold";
    json config_map = {{"apiVersion", "v1"},
                       {"kind", "ConfigMap"},
                       {"metadata", {{"name", "faults-hold"}, {"namespace", ns}, {"finalizers", {finalizer}}}},
                       {"data", {{"why", "the fault suite holds this namespace"}}}};
    auto created = Kube().Call("POST", "/api/v1/namespaces/" + ns + "/configmaps", config_map.dump(), "application/json");
    ASSERT_TRUE(created.ok());
    ASSERT_LT(created->status, 300) << created->body;
    ScopeExit release([&] {
        (void)Kube().Call("PATCH", "/api/v1/namespaces/" + ns + "/configmaps/faults-hold",
                          R"({"metadata":{"finalizers":null}})", "application/merge-patch+json");
    });
    const auto delete_start = Clock::now();
    EXPECT_EQ(TheApi().DeleteStore(held_id).code, 202);
    json stuck;
    // The tenant hears that its deletion is held up, in plain words; what holds the namespace
    // (API-server text naming finalizers) is for the operators, in the provisioner's log.
    const bool reported = PollUntil(
        [&] {
            stuck = TheApi().GetStore(held_id).body;
            const std::string reason = stuck.is_object() && stuck["reason"].is_string() ? stuck["reason"].get<std::string>() : "";
            return reason.find("still being removed") != std::string::npos;
        },
        std::chrono::seconds(90));
    EXPECT_TRUE(reported) << "the store's reason does not say its deletion is held up: " << stuck.dump();
    if (reported) {
        Figure("case 7 DELETE -> reason says the deletion is held up", Seconds(Clock::now() - delete_start), "s");
        std::cout << "[case 7] stuck store: status " << Status(stuck) << ", reason: " << stuck.value("reason", "") << "\n";
        EXPECT_EQ(stuck.value("reason", "").find(finalizer), std::string::npos)
            << "API-server text reached the tenant: " << stuck.dump();
    }
    const bool logged = PollUntil(
        [&] {
            for (const char* replica : {"provisioner", "provisioner-2", "provisioner-3", "provisioner-4"}) {
                std::ifstream in(StateDir() + "/platform/" + replica + ".log");
                std::string line;
                while (std::getline(in, line)) {
                    if (line.find("stuck terminating") != std::string::npos && line.find(held_id) != std::string::npos &&
                        line.find(finalizer) != std::string::npos) {
                        return true;
                    }
                }
            }
            return false;
        },
        std::chrono::seconds(30));
    EXPECT_TRUE(logged) << "no provisioner log line names what holds " << ns;
    // The name stays taken (and the quota used) until the store is really deleted.
    auto reuse_early = TheApi().CreateStore(held_name);
    EXPECT_EQ(reuse_early.code, 409) << "the name of a store not yet deleted was given out again: "
                                     << reuse_early.body.dump();
    if (reuse_early.code == 202) (void)TheApi().DeleteStore(reuse_early.body.value("id", ""));

    auto released = Kube().Call("PATCH", "/api/v1/namespaces/" + ns + "/configmaps/faults-hold",
                                R"({"metadata":{"finalizers":null}})", "application/merge-patch+json");
    ASSERT_TRUE(released.ok());
    EXPECT_LT(released->status, 300) << released->body;
    const auto released_at = Clock::now();

    auto end = WaitForStores({{at_once_id, {"deleted"}}, {twice_id, {"deleted"}}, {during_id, {"deleted"}},
                              {held_id, {"deleted"}}},
                             std::chrono::seconds(150));
    for (const auto& [what, id] : std::map<std::string, std::string>{
             {"create then delete at once", at_once_id}, {"delete twice", twice_id},
             {"delete while provisioning", during_id}, {"namespace held by a finalizer", held_id}}) {
        EXPECT_EQ(Status(end[id]), "deleted") << what << ": " << end[id].dump();
        auto gone = Kube().Call("GET", "/api/v1/namespaces/" + NamespaceOf(id), "", "application/json");
        ASSERT_TRUE(gone.ok());
        EXPECT_EQ(gone->status, 404) << what << ": namespace still there";
        auto timeline = CheckTimeline(id);
        EXPECT_EQ(timeline.duplicates, 0) << what;
        if (!timeline.order.empty()) {
            EXPECT_EQ(timeline.order.back(), "deleted") << what;
        }
        std::string order;
        for (const auto& s : timeline.order) order += s + " ";
        std::cout << "[case 7] " << what << ": " << order << "\n";
    }
    if (Status(end[held_id]) == "deleted") {
        Figure("case 7 finalizer removed -> store deleted", Seconds(Clock::now() - released_at), "s");
    }
    // The name can be used again once deleted.
    auto reuse = TheApi().CreateStore(held_name);
    EXPECT_EQ(reuse.code, 202) << "name of a deleted store not reusable: " << reuse.body.dump();
    if (reuse.code == 202) {
        const std::string id = reuse.body.value("id", "");
        auto again = WaitForStores({{id, {"ready"}}}, std::chrono::seconds(120));
        EXPECT_EQ(Status(again[id]), "ready") << again[id].dump();
        EXPECT_EQ(TheApi().DeleteStore(id).code, 202);
        auto gone = WaitForStores({{id, {"deleted"}}}, std::chrono::seconds(120));
        EXPECT_EQ(Status(gone[id]), "deleted") << gone[id].dump();
    }
}

// ---- case 4 (last: its replay check covers every event the suite produced) -------------

TEST_F(Faults, PostgresRestartedUnderLoadThenTheReadModelEqualsAFreshReplay) {
    struct Answer {
        double sent = 0;  // seconds since the case started
        double done = 0;
        long code = 0;
        std::string retry_after;
        std::string id;
    };
    std::mutex mutex;
    std::vector<Answer> answers;
    std::atomic<bool> stop{false};
    const auto start = Clock::now();
    std::thread client([&] {
        for (int i = 0; !stop.load(); ++i) {
            Answer answer;
            answer.sent = Seconds(Clock::now() - start);
            // Straight to intake: its own answer, not nginx's.
            auto reply = TheApi().CallIntake(
                "POST", "/api/v1/stores",
                json{{"name", "f4-" + kRun + "-" + std::to_string(i)}, {"engine", "woocommerce"}}.dump());
            answer.done = Seconds(Clock::now() - start);
            answer.code = reply.code;
            answer.retry_after = reply.Header("Retry-After");
            if (reply.code == 202) answer.id = reply.body.value("id", "");
            {
                std::lock_guard lock(mutex);
                answers.push_back(answer);
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(100));  // load pacing
        }
    });
    auto accepted_count = [&] {
        std::lock_guard lock(mutex);
        return std::count_if(answers.begin(), answers.end(), [](const Answer& a) { return a.code == 202; });
    };
    ScopeExit restore([] { StackUp("postgres"); });
    PollUntil([&] { return accepted_count() >= 5; }, std::chrono::seconds(30));
    auto down = StackDown("postgres");
    ASSERT_EQ(down.rc, 0) << down.output;
    const double down_at = Seconds(Clock::now() - start);
    HoldFault(std::chrono::seconds(10));
    const double up_at = Seconds(Clock::now() - start);
    auto up = StackUp("postgres");
    ASSERT_EQ(up.rc, 0) << up.output;
    const double up_done = Seconds(Clock::now() - start);
    const auto accepted_at_up = accepted_count();
    PollUntil([&] { return accepted_count() >= accepted_at_up + 5; }, std::chrono::seconds(60));
    stop = true;
    client.join();

    std::map<long, int> during;
    int bad = 0;
    double first_accept_after_up = -1;
    for (const auto& answer : answers) {
        if (answer.sent >= down_at && answer.done <= up_at) {
            ++during[answer.code];
            if (answer.code != 503 || answer.retry_after.empty()) {
                ++bad;
                if (bad <= 5) {
                    ADD_FAILURE() << "while Postgres was down intake answered " << answer.code
                                  << " (Retry-After '" << answer.retry_after << "'); want 503 with Retry-After";
                }
            }
        }
        if (answer.sent >= up_done && answer.code == 202 && first_accept_after_up < 0) {
            first_accept_after_up = answer.done - up_done;
        }
    }
    std::string codes;
    for (const auto& [code, n] : during) codes += std::to_string(code) + ":" + std::to_string(n) + " ";
    Figure("case 4 Postgres down for", up_at - down_at, "s");
    Figure("case 4 intake answers while Postgres was down (code:count)", codes);
    Figure("case 4 answers that were not 503 + Retry-After", std::to_string(bad));
    Figure("case 4 Postgres back -> intake accepting again", first_accept_after_up, "s");
    EXPECT_GE(first_accept_after_up, 0) << "intake did not accept again after Postgres came back";
    EXPECT_GT(during[503], 0) << "no request was answered while Postgres was down";

    std::map<std::string, std::set<std::string>> want;
    for (const auto& answer : answers) {
        if (!answer.id.empty()) want[answer.id] = {"ready"};
    }
    auto last = WaitForStores(want, std::chrono::seconds(120));
    int lost = 0;
    for (const auto& [id, statuses] : want) {
        if (Status(last[id]) != "ready") {
            ++lost;
            STORE_FAILURE("accepted stores not Ready") << "store " << id << " accepted but not Ready: " << last[id].dump();
        }
        if (CheckTimeline(id).duplicates != 0) {
            STORE_FAILURE("duplicate timeline events") << id;
        }
    }
    Figure("case 4 stores accepted / not Ready", std::to_string(want.size()) + " / " + std::to_string(lost));
    const int doubled_rows = DoubleAppliedRows();
    EXPECT_EQ(doubled_rows, 0);

    // Every store the earlier cases deleted on their way out must end deleted (nothing
    // lost under load), and the platform must be quiet before the replay is compared.
    std::map<std::string, std::set<std::string>> cleaned;
    {
        std::lock_guard lock(cleanup_mutex);
        for (const auto& id : cleanup_ids) cleaned[id] = {"deleted"};
        Figure("suite DELETEs of finished stores refused", std::to_string(cleanup_refused));
    }
    const auto cleanup_start = Clock::now();
    auto cleaned_last = WaitForStores(cleaned, std::chrono::seconds(180));
    // A deletion that failed (say, Helm could not reach the API server while case 3 had it
    // stopped) breaks "transient faults are retried"; it is reported, then sent again as a
    // user would (DELETE on a failed deletion sends it again) and must then end deleted.
    std::map<std::string, std::set<std::string>> resent;
    int not_deleted = 0;
    for (const auto& [id, statuses] : cleaned) {
        const json& store = cleaned_last[id];
        if (Status(store) == "deleted") continue;
        ++not_deleted;
        const std::string reason = store.is_object() && store["reason"].is_string() ? store["reason"].get<std::string>() : "";
        {
            STORE_FAILURE("deletions that did not end deleted") << "store " << store.value("name", id) << " (" << id << ") deletion ended "
                          << Status(store) << " [" << store.value("step", "") << "]: " << reason;
        }
        if (Status(store) == "failed" && TheApi().DeleteStore(id).code == 202) resent[id] = {"deleted"};
    }
    Figure("suite stores deleted on the way out / not deleted (failed or stuck)",
           std::to_string(cleaned.size()) + " / " + std::to_string(not_deleted));
    if (!resent.empty()) {
        auto after = WaitForStores(resent, std::chrono::seconds(120));
        int deleted_after = 0;
        for (const auto& [id, statuses] : resent) deleted_after += Status(after[id]) == "deleted" ? 1 : 0;
        Figure("suite failed deletions sent again / then deleted",
               std::to_string(resent.size()) + " / " + std::to_string(deleted_after));
        EXPECT_EQ(deleted_after, static_cast<int>(resent.size())) << "a failed deletion sent again did not end deleted";
    }
    Figure("case 4 waited for the suite's deletions to finish", Seconds(Clock::now() - cleanup_start), "s");

    // The replay: a second projector, fresh group, fresh schema, from offset 0 of both topics;
    // storefleet-read-model-diff must find it equal to the live read model, row for row.
    const std::string schema = "faults_replay_" + kRun;
    const std::string group = "faults-replay-" + kRun;
    const std::string projector = Env("STOREFLEET_BUILD_DIR") + "/services/projector/storefleet-projector";
    const std::string log = StateDir() + "/platform/" + group + ".log";
    auto launched = Shell("env -u STOREFLEET_KAFKA_INSTANCE_ID STOREFLEET_KAFKA_GROUP=" + group +
                        " STOREFLEET_READ_SCHEMA=" + schema + " STOREFLEET_HTTP_PORT=0 nohup " + projector + " >" + log +
                        " 2>&1 </dev/null & echo $!");
    const std::string pid = launched.output.substr(0, launched.output.find_first_of("\r\n"));
    ASSERT_FALSE(pid.empty());
    ScopeExit stop_replay([&] {
        Shell("kill -TERM " + pid);
        try {
            pqxx::connection db(Env("STOREFLEET_PG_URL"));
            pqxx::work txn(db);
            txn.exec("drop schema if exists " + schema + " cascade");
            txn.commit();
        } catch (const std::exception&) {
        }
    });
    const auto replay_start = Clock::now();
    // The replay projector creates its schema (migrations) at start; the diff needs it.
    const bool schema_ready = PollUntil(
        [&] {
            try {
                pqxx::connection db(Env("STOREFLEET_PG_URL"));
                pqxx::work txn(db);
                auto row = txn.exec_params("select to_regclass($1) is not null", schema + ".consumer_offsets");
                return row[0][0].as<bool>();
            } catch (const std::exception&) {
                return false;
            }
        },
        std::chrono::seconds(60));
    ASSERT_TRUE(schema_ready) << "the replay projector did not create schema " << schema << "; see " << log;
    std::string diff_bin = Env("STOREFLEET_DIFF_BIN");
    if (diff_bin.empty()) diff_bin = Env("STOREFLEET_BUILD_DIR") + "/services/projector/storefleet-read-model-diff";
    auto diff = Shell(diff_bin + " --wait 150 --max-lines 40 read " + schema);
    Figure("case 4 fresh replay -> equal to the live read model (diff exit " + std::to_string(diff.rc) + ")",
           Seconds(Clock::now() - replay_start), "s");
    std::cout << "[case 4] storefleet-read-model-diff read " << schema << ":\n" << diff.output.substr(0, 4000) << "\n";
    EXPECT_EQ(diff.rc, 0) << "the live read model differs from a fresh replay (exit 1: rows differ; 3: offsets "
                             "never matched; 2: usage/connection); projector log "
                          << log;
}

}  // namespace
}  // namespace storefleet::faults

int main(int argc, char** argv) {
    using namespace storefleet::faults;
    ::testing::InitGoogleTest(&argc, argv);
    if (RepoRoot().empty()) {
        std::cerr << "STOREFLEET_ROOT must name the repository (ctest sets it)\n";
        return 1;
    }
    if (Env("STOREFLEET_PG_URL").empty() || Env("STOREFLEET_KAFKA_BROKERS").empty() || Env("KUBECONFIG").empty()) {
        std::cerr << "faults: run under tests/with-stack (no stack environment)\n";
        return 1;
    }
    // The platform this suite needs: three provisioner replicas, a short "stuck namespace"
    // threshold for the finalizer case. Started here (idempotent if it already runs);
    // stopped at the end only if this run started it.
    setenv("STOREFLEET_PROVISIONER_REPLICAS", "3", 1);            // NOLINT(concurrency-mt-unsafe)
    setenv("STOREFLEET_NAMESPACE_STUCK_AFTER_SECONDS", "5", 0);   // NOLINT(concurrency-mt-unsafe)
    const bool was_running = !Env("STOREFLEET_URL").empty();
    auto up = PlatformCommand("up");
    if (up.rc != 0) {
        std::cerr << "faults: infra/local/platform up failed:\n" << up.output << "\n";
        PlatformCommand("down");
        return 1;
    }
    std::map<std::string, std::string> values;
    {
        std::ifstream in(StateDir() + "/env.d/platform");
        std::string line;
        while (std::getline(in, line)) {
            if (auto eq = line.find('='); eq != std::string::npos) values[line.substr(0, eq)] = line.substr(eq + 1);
        }
    }
    std::string token;
    {
        std::ifstream in(values["STOREFLEET_TOKEN_FILE"]);
        std::getline(in, token);
    }
    if (values["STOREFLEET_URL"].empty() || token.empty()) {
        std::cerr << "faults: no platform URL or token in " << StateDir() << "/env.d/platform\n";
        return 1;
    }
    TheApi().Configure(values["STOREFLEET_URL"], values["STOREFLEET_INTAKE_URL"], token);
    const auto start = Clock::now();
    const int result = RUN_ALL_TESTS();
    Figure("suite wall time", Seconds(Clock::now() - start), "s");
    std::cout << PlatformCommand("ps").output;
    if (!was_running) PlatformCommand("down");
    const auto* unit = ::testing::UnitTest::GetInstance();
    if (result == 0 && unit->skipped_test_count() > 0) {
        std::cerr << "faults: " << unit->skipped_test_count() << " cases were skipped\n";
        return 1;
    }
    return result;
}
