// The fault suite's harness: the platform under test (started with infra/local/platform on
// the stack of tests/with-stack), its REST API, the stack's parts, the Kubernetes API, Helm
// and the Kafka topics. Everything here is used from the test thread unless it says so.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "storefleet/kafka/consumer.hpp"
#include "storefleet/kube/client.hpp"
#include "storefleet/test_support/env.hpp"
#include "storefleet/test_support/http.hpp"
#include "storefleet/test_support/platform.hpp"
#include "storefleet/test_support/process.hpp"
#include "storefleet/test_support/wait.hpp"

namespace storefleet::faults {

using nlohmann::json;
using test_support::Clock;
using test_support::CommandResult;
using test_support::Env;
using test_support::Platform;  // infra/local/platform ARGS
using test_support::RepoRoot;
using test_support::RunShell;
using test_support::Seconds;
using test_support::StateDir;

// "[figure] <what>: <value>" on stdout: the measured numbers docs/reliability.md quotes.
void Figure(const std::string& what, const std::string& value);
void Figure(const std::string& what, double value, const std::string& unit = "");

// infra/local/up PART, infra/local/down PART: a part of the stack started or stopped in place.
CommandResult StackUp(const std::string& part);
CommandResult StackDown(const std::string& part);

// json's implicit members; nothing here throws on move.
struct Reply {      // NOLINT(bugprone-exception-escape)
    long code = 0;  // -1: no HTTP answer (connection refused, timeout)
    json body;
    std::string headers;  // raw header lines
    [[nodiscard]] std::string Header(const std::string& name) const;
};

// The REST API through the front door (or intake directly). Thread-safe.
class Api {
public:
    void Configure(std::string front_url, std::string intake_url, std::string token);
    Reply Call(const std::string& method, const std::string& path, const std::string& body = "",
               const std::vector<std::string>& headers = {}) const;
    // POST straight to intake, bypassing nginx (to see intake's own answers).
    Reply CallIntake(const std::string& method, const std::string& path,
                     const std::string& body = "",
                     const std::vector<std::string>& headers = {}) const;
    Reply CreateStore(const std::string& name, const std::string& engine = "woocommerce",
                      const std::string& idempotency_key = "") const;
    Reply DeleteStore(const std::string& id) const;
    Reply GetStore(const std::string& id) const;
    Reply Timeline(const std::string& id) const;

private:
    static Reply Send(const test_support::HttpClient& client, const std::string& method,
                      const std::string& path, const std::string& body,
                      const std::vector<std::string>& headers);
    test_support::HttpClient front_{""};
    test_support::HttpClient intake_{""};
};
Api& TheApi();

// Polls each store until its status is in `done` or "failed" (terminal), or the deadline.
// `on_reached(id, store)` runs once per store when it first reaches a done status.
std::map<std::string, json> WaitForStores(
    const std::map<std::string, std::set<std::string>>& done, std::chrono::seconds deadline,
    const std::function<void(const std::string&, const json&)>& on_reached = {});

storefleet::kube::KubeClient& Kube();
std::string NamespaceOf(const std::string& store_id);

// The store's credentials Secret: uid and a hash of its data ("" when absent).
struct SecretFingerprint {
    std::string uid;
    std::string data_hash;
    bool operator==(const SecretFingerprint&) const = default;
};
SecretFingerprint CredentialsSecret(const std::string& store_id);

// `helm history store -n store-<id> -o json`: the release's revisions, oldest first.
json HelmHistory(const std::string& store_id);

// Reads a topic from its beginning with a consumer of libs/kafka in a fresh group until
// `enough(messages)` holds (then one more quiet poll) or the deadline.
std::vector<storefleet::kafka::ConsumedMessage> ReadTopic(
    const std::string& topic, std::chrono::seconds deadline,
    const std::function<bool(const std::vector<storefleet::kafka::ConsumedMessage>&)>& enough);

// The partition librdkafka's default partitioner (consistent_random: CRC32 of the key)
// gives a non-empty key.
int32_t PartitionForKey(const std::string& key, int32_t partitions);

// Seconds since the epoch of a log line's "ts" (2026-11-29T00:38:00.862194Z), or -1.
double ParseLogTime(const std::string& ts);
double WallNow();

}  // namespace storefleet::faults
