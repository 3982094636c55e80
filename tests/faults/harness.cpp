#include "harness.hpp"

#include <cstdio>
#include <ctime>
#include <iomanip>
#include <iostream>
#include <mutex>
#include <sstream>
#include <thread>

#include "storefleet/common/ids.hpp"

namespace storefleet::faults {

namespace {
std::mutex& OutputMutex() {
    static std::mutex mutex;
    return mutex;
}
}  // namespace

void Figure(const std::string& what, const std::string& value) {
    std::lock_guard lock(OutputMutex());
    std::cout << "[figure] " << what << ": " << value
              << std::endl;  // NOLINT(performance-avoid-endl)
}

void Figure(const std::string& what, double value, const std::string& unit) {
    std::ostringstream text;
    text << std::fixed << std::setprecision(2) << value << (unit.empty() ? "" : " " + unit);
    Figure(what, text.str());
}

CommandResult StackUp(const std::string& part) {
    return RunShell("bash " + RepoRoot() + "/infra/local/up " + part);
}
CommandResult StackDown(const std::string& part) {
    return RunShell("bash " + RepoRoot() + "/infra/local/down " + part);
}

std::string Reply::Header(const std::string& name) const {
    test_support::HttpReply raw;
    raw.headers = headers;
    return raw.Header(name);
}

void Api::Configure(std::string front_url, std::string intake_url, std::string token) {
    front_ = test_support::HttpClient(std::move(front_url), token);
    intake_ = test_support::HttpClient(std::move(intake_url), std::move(token));
}

Reply Api::Send(const test_support::HttpClient& client, const std::string& method,
                const std::string& path, const std::string& body,
                const std::vector<std::string>& headers) {
    auto raw = client.Send(method, path, body, headers);
    Reply reply;
    reply.code = raw.code;
    reply.headers = std::move(raw.headers);
    if (raw.code == -1) {
        reply.body = json{{"curl_error", raw.error}};
        return reply;
    }
    reply.body = json::parse(raw.body, nullptr, false);
    if (reply.body.is_discarded()) reply.body = json{{"raw", raw.body}};
    return reply;
}

Reply Api::Call(const std::string& method, const std::string& path, const std::string& body,
                const std::vector<std::string>& headers) const {
    return Send(front_, method, path, body, headers);
}

Reply Api::CallIntake(const std::string& method, const std::string& path, const std::string& body,
                      const std::vector<std::string>& headers) const {
    return Send(intake_, method, path, body, headers);
}

Reply Api::CreateStore(const std::string& name, const std::string& engine,
                       const std::string& idempotency_key) const {
    std::vector<std::string> headers;
    if (!idempotency_key.empty()) headers.push_back("Idempotency-Key: " + idempotency_key);
    return Call("POST", "/api/v1/stores", json{{"name", name}, {"engine", engine}}.dump(), headers);
}

Reply Api::DeleteStore(const std::string& id) const {
    return Call("DELETE", "/api/v1/stores/" + id);
}
Reply Api::GetStore(const std::string& id) const { return Call("GET", "/api/v1/stores/" + id); }
Reply Api::Timeline(const std::string& id) const {
    return Call("GET", "/api/v1/stores/" + id + "/events");
}

Api& TheApi() {
    static Api api;
    return api;
}

std::map<std::string, json> WaitForStores(
    const std::map<std::string, std::set<std::string>>& done, std::chrono::seconds deadline,
    const std::function<void(const std::string&, const json&)>& on_reached) {
    std::map<std::string, json> last;
    std::set<std::string> pending;
    for (const auto& [id, statuses] : done) pending.insert(id);
    const auto until = Clock::now() + deadline;
    while (!pending.empty() && Clock::now() < until) {
        for (auto it = pending.begin(); it != pending.end();) {
            auto reply = TheApi().GetStore(*it);
            if (reply.code == 200) {
                last[*it] = reply.body;
                const std::string status = reply.body.value("status", "");
                if (done.at(*it).count(status) != 0U) {
                    if (on_reached) on_reached(*it, reply.body);
                    it = pending.erase(it);
                    continue;
                }
                if (status == "failed") {
                    it = pending.erase(it);
                    continue;
                }
            }
            ++it;
        }
        if (!pending.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(300));
    }
    return last;
}

storefleet::kube::KubeClient& Kube() {
    static storefleet::kube::KubeClient client(storefleet::kube::LoadKubeconfig(Env("KUBECONFIG")));
    return client;
}

std::string NamespaceOf(const std::string& store_id) { return "store-" + store_id; }

SecretFingerprint CredentialsSecret(const std::string& store_id) {
    auto secret =
        Kube().Get("/api/v1/namespaces/" + NamespaceOf(store_id) + "/secrets/store-credentials");
    if (!secret.ok()) return {};
    SecretFingerprint print;
    print.uid = (*secret)["metadata"].value("uid", "");
    print.data_hash = Sha256Hex((*secret)["data"].dump());
    return print;
}

json HelmHistory(const std::string& store_id) {
    const std::string cache = Env("STOREFLEET_CACHE", Env("HOME") + "/.cache/storefleet");
    auto result = RunShell(cache + "/bin/helm history store -n " + NamespaceOf(store_id) +
                           " -o json --kubeconfig " + Env("KUBECONFIG") + " 2>/dev/null");
    auto parsed = json::parse(result.output, nullptr, false);
    if (result.rc != 0 || parsed.is_discarded()) return json{{"error", result.output}};
    return parsed;
}

std::vector<storefleet::kafka::ConsumedMessage> ReadTopic(
    const std::string& topic, std::chrono::seconds deadline,
    const std::function<bool(const std::vector<storefleet::kafka::ConsumedMessage>&)>& enough) {
    storefleet::kafka::KafkaConsumer::Options options;
    options.brokers = Env("STOREFLEET_KAFKA_BROKERS");
    options.group_id = "faults-reader-" + NewUuid();
    options.client_id = "faults-reader";
    options.topics = {topic};
    options.on_assign = [](std::vector<storefleet::kafka::PartitionOffset>& partitions) {
        for (auto& partition : partitions)
            partition.offset = -2;  // RdKafka::Topic::OFFSET_BEGINNING
    };
    storefleet::kafka::KafkaConsumer consumer(options);
    std::vector<storefleet::kafka::ConsumedMessage> messages;
    const auto until = Clock::now() + deadline;
    bool satisfied = false;
    while (Clock::now() < until) {
        auto batch = consumer.Poll(std::chrono::milliseconds(500), 1000);
        const bool quiet = batch.empty();
        for (auto& message : batch) messages.push_back(std::move(message));
        if (satisfied && quiet) break;
        if (!satisfied && enough(messages)) satisfied = true;
    }
    consumer.Close();
    return messages;
}

int32_t PartitionForKey(const std::string& key, int32_t partitions) {
    uint32_t crc = 0xFFFFFFFFU;
    for (unsigned char byte : key) {
        crc ^= byte;
        for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ (0xEDB88320U & (0U - (crc & 1U)));
    }
    crc ^= 0xFFFFFFFFU;
    return static_cast<int32_t>(crc % static_cast<uint32_t>(partitions));
}

double ParseLogTime(const std::string& ts) {
    std::tm tm{};
    int year = 0;
    int month = 0;
    int day = 0;
    int hour = 0;
    int minute = 0;
    double second = 0;
    if (std::sscanf(ts.c_str(), "%d-%d-%dT%d:%d:%lfZ", &year, &month, &day, &hour, &minute,
                    &second) != 6) {
        return -1;
    }
    tm.tm_year = year - 1900;
    tm.tm_mon = month - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = minute;
    tm.tm_sec = 0;
    return static_cast<double>(timegm(&tm)) + second;
}

double WallNow() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace storefleet::faults
