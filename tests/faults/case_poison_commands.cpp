// Case 6: two poison commands (undecodable bytes, an envelope that is no command) in a store's
// partition: both reach the dead-letter topic with their reason and key, and the stores behind
// them in that partition still end Ready.
#include <gtest/gtest.h>

#include <algorithm>
#include <iostream>
#include <map>
#include <set>

#include "cases.hpp"
#include "fixture.hpp"
#include "storefleet/common/ids.hpp"
#include "storefleet/events/envelope.hpp"
#include "storefleet/events/status.hpp"
#include "storefleet/kafka/publisher.hpp"

namespace storefleet::faults {

void PoisonCommandsGoToTheDeadLetterTopicAndThePartitionKeepsMoving() {
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
    const std::string garbage =
        std::string("not a protobuf \xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff ") + kRun;
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
        if (PartitionForKey(id, kCommandPartitions) == partition)
            after_same_partition.push_back(id);
    }
    ASSERT_FALSE(after_same_partition.empty()) << "no store id hashed to partition " << partition;
    Figure("case 6 poison partition", std::to_string(partition));

    // Both land on the dead-letter topic, with their reason.
    std::map<std::string, std::string> reasons;  // "undecodable"/"not a command" -> reason header
    auto dead = ReadTopic(
        storefleet::events::kDeadLetterTopic, std::chrono::seconds(120), [&](const auto& got) {
            int found = 0;
            for (const auto& message : got) {
                found +=
                    (message.payload == garbage || message.payload == not_a_command_bytes) ? 1 : 0;
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
        const std::string which =
            message.payload == garbage ? "undecodable bytes" : "an envelope that is no command";
        reasons[which] = reason;
        EXPECT_EQ(message.key, key) << which << " lost its key";
        std::cout << "[dead-letter] " << which << ": " << headers << "\n";
    }
    Figure("case 6 poison published -> both found on " +
               std::string(storefleet::events::kDeadLetterTopic),
           Seconds(Clock::now() - published), "s");
    EXPECT_EQ(reasons.count("undecodable bytes"), 1U)
        << "undecodable bytes not on the dead-letter topic";
    EXPECT_EQ(reasons.count("an envelope that is no command"), 1U)
        << "the non-command envelope not on the dead-letter topic";
    for (const auto& [which, reason] : reasons)
        EXPECT_FALSE(reason.empty()) << which << " has no storefleet-reason";

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
        EXPECT_EQ(Status(last[id]), "ready")
            << "store " << id << " behind the poison in partition " << partition;
    }
    Figure(
        "case 6 stores behind the poison in its partition Ready",
        std::to_string(std::count_if(after_same_partition.begin(), after_same_partition.end(),
                                     [&](const auto& id) { return Status(last[id]) == "ready"; })) +
            "/" + std::to_string(after_same_partition.size()));
}

}  // namespace storefleet::faults
