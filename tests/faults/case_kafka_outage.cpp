// Case 2: Kafka stopped for 20 s under a stream of creates and deletes: every accepted request
// reaches its end state once, timelines in order, and each store's commands in one partition,
// create before delete.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "cases.hpp"
#include "fixture.hpp"
#include "storefleet/events/envelope.hpp"
#include "storefleet/events/status.hpp"
#include "storefleet/test_support/scope_exit.hpp"

namespace storefleet::faults {

using test_support::ScopeExit;

namespace {

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

}  // namespace

void KafkaStoppedTwentySecondsUnderCreatesAndDeletes() {
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
            STORE_FAILURE("DELETE refused")
                << "DELETE of " << entry.id << " answered " << entry.delete_code;
        }
    }
    std::string codes;
    for (const auto& [code, count] : stream.create_codes)
        codes += std::to_string(code) + ":" + std::to_string(count) + " ";
    Figure("case 2 create answers (code:count)", codes);
    Figure("case 2 stores accepted / of them deleted",
           std::to_string(want.size()) + " / " + std::to_string(deletes));
    auto last = WaitForStores(want, std::chrono::seconds(150));
    Figure("case 2 Kafka back -> every accepted request at its end state",
           Seconds(Clock::now() - up_done), "s");
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
            STORE_FAILURE("end state reached twice") << "store " << id << " reached " << end << " "
                                                     << timeline.statuses[end] << " times";
        }
        if (!timeline.order.empty()) {
            if (timeline.order.front() != "requested") {
                STORE_FAILURE("timelines not starting 'requested'")
                    << id << " starts " << timeline.order.front();
            }
            if (timeline.order.back() != end) {
                STORE_FAILURE("timelines not ending at the end state")
                    << id << " ends '" << timeline.order.back() << "', want '" << end << "'";
            }
            if (deleted[id]) {
                auto deleting = std::find(timeline.order.begin(), timeline.order.end(), "deleting");
                if (deleting == timeline.order.end()) {
                    STORE_FAILURE("no 'deleting' in a deleted store's timeline") << id;
                } else if (std::find(deleting, timeline.order.end(), "ready") !=
                           timeline.order.end()) {
                    STORE_FAILURE("'ready' after 'deleting'")
                        << id << " turned ready after its deletion was requested";
                }
            }
        }
    }
    Figure("case 2 end states reached more than once", std::to_string(doubled));

    // Order per store on the topic: each store's commands in one partition, create before delete.
    std::map<std::string, std::vector<std::pair<std::string, storefleet::kafka::ConsumedMessage>>>
        commands;
    auto messages = ReadTopic(storefleet::events::kCommandsTopic, std::chrono::seconds(90),
                              [&](const auto& got) {
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
            if (type == "StoreDeletionRequested" && delete_offset < 0)
                delete_offset = message.offset;
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
                STORE_FAILURE("delete before create")
                    << "store " << id << ": delete at offset " << delete_offset
                    << " before create at " << create_offset;
            }
        }
    }
    Figure("case 2 stores whose delete was published before their create",
           std::to_string(out_of_order));
    Figure("case 2 command copies on the topic (same event id, at-least-once)",
           std::to_string(copies));
    Figure("case 2 creates published as two distinct events", std::to_string(published_twice));
}

}  // namespace storefleet::faults
