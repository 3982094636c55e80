// StoreCommandHandler: everything about a store under its lease, dead letters with why.
// The leases run against a small in-memory Lease API; the store's steps against fakes.
#include "store_command_handler.hpp"

#include <gtest/gtest.h>

#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "storefleet/events/envelope.hpp"
#include "storefleet/events/status.hpp"

namespace storefleet::provisioner {
namespace {

using nlohmann::json;

// Leases in the namespace "leases": created (201) unless `refuse` says otherwise, read and
// deleted. Anything else of the API is not expected here.
class FakeLeaseApi : public kube::KubeApi {
public:
    Result<kube::ApiResponse> Call(const std::string& method, const std::string& path,
                                   const std::string& body, const std::string&) override {
        std::lock_guard lock(mutex);
        calls.push_back(method + " " + path);
        if (refuse != 0) return kube::ApiResponse{refuse, R"({"reason":"Forbidden"})"};
        if (method == "POST") {
            auto lease = json::parse(body);
            lease["metadata"]["resourceVersion"] = "1";
            held.insert(lease["metadata"]["name"].get<std::string>());
            return kube::ApiResponse{201, lease.dump()};
        }
        if (method == "DELETE") {
            held.erase(path.substr(path.rfind('/') + 1));
            return kube::ApiResponse{200, "{}"};
        }
        return kube::ApiResponse{404, "{}"};
    }
    std::mutex mutex;
    std::vector<std::string> calls;
    std::set<std::string> held;
    long refuse = 0;
};

class NoHelm : public HelmRunner {
public:
    Status UpgradeInstall(const std::string&, const std::string&, const std::string&,
                          const std::vector<std::string>&, const json&,
                          const CancelToken&) override {
        return Error::Permanent("unexpected", "no Helm in these tests");
    }
    Status Uninstall(const std::string&, const std::string&, const CancelToken&) override {
        return Error::Permanent("unexpected", "no Helm in these tests");
    }
    Status Repair(const std::string&, const std::string&, const CancelToken&) override {
        return Error::Permanent("unexpected", "no Helm in these tests");
    }
};

// Records each status, and which store leases were held when it was published.
class RecordingStatuses : public StatusPublisher {
public:
    explicit RecordingStatuses(FakeLeaseApi& leases) : leases_(leases) {}
    Status Publish(const Command& command, const StatusUpdate& update,
                   const CancelToken&) override {
        std::lock_guard lock(leases_.mutex);
        updates.push_back(update);
        under_lease.push_back(leases_.held.count("store-" + command.envelope.store_id()) != 0U);
        return Status::Ok();
    }
    std::vector<StatusUpdate> updates;
    std::vector<bool> under_lease;

private:
    FakeLeaseApi& leases_;
};

class RecordingPublisher : public kafka::EventPublisher {
public:
    Status PublishAndWait(const std::vector<kafka::OutgoingMessage>& batch,
                          std::chrono::milliseconds) override {
        for (const auto& message : batch) sent.push_back(message);
        return Status::Ok();
    }
    std::vector<kafka::OutgoingMessage> sent;
};

class StoreCommandHandlerTest : public testing::Test {
protected:
    StoreCommandHandlerTest()
        : leases_(lease_api_, {.lease_namespace = "leases", .instance_id = "p1"}, registry_),
          statuses_(lease_api_),
          provisioner_(lease_api_, helm_, statuses_, registry_, {}),
          handler_(leases_, provisioner_, publisher_) {}

    // A deletion of a store whose id is not a UUID: the provisioner fails it at once with a
    // status, touching nothing else.
    static Command BadDeletion() {
        auto envelope = events::NewEnvelope("acme", "not-a-uuid", "corr");
        envelope.mutable_store_deletion_requested()->set_requested_by("test");
        events::SetTypeFromPayload(envelope);
        return {envelope, 0, 5};
    }

    metrics::Registry registry_;
    ShutdownFlag shutdown_;
    FakeLeaseApi lease_api_;
    StoreLeases leases_;
    NoHelm helm_;
    RecordingStatuses statuses_;
    StoreProvisioner provisioner_;
    RecordingPublisher publisher_;
    StoreCommandHandler handler_;
    AdmissionPermit no_permit_{nullptr};
};

TEST_F(StoreCommandHandlerTest, ACommandRunsUnderItsStoresLeaseAndGivesItBackAfter) {
    CancelToken cancel(shutdown_);
    EXPECT_EQ(handler_.Handle(BadDeletion(), cancel, no_permit_), CommandOutcome::kFinished);
    ASSERT_EQ(statuses_.updates.size(), 1U);
    EXPECT_EQ(statuses_.updates[0].status, v1::STORE_STATUS_FAILED);
    EXPECT_TRUE(statuses_.under_lease[0]) << "the status was published without the store's lease";
    EXPECT_TRUE(lease_api_.held.empty()) << "the lease was kept after the command";
}

TEST_F(StoreCommandHandlerTest, ACommandCancelledBeforeItHasTheLeaseDoesNothing) {
    CancelToken cancel(shutdown_);
    cancel.Cancel(CancelToken::Reason::kRevoked);
    EXPECT_EQ(handler_.Handle(BadDeletion(), cancel, no_permit_), CommandOutcome::kCancelled);
    EXPECT_TRUE(statuses_.updates.empty());
}

TEST_F(StoreCommandHandlerTest, ALeaseTheApiRefusesFailsTheCommandForTheDispatcherToRetry) {
    lease_api_.refuse = 403;
    CancelToken cancel(shutdown_);
    try {
        handler_.Handle(BadDeletion(), cancel, no_permit_);
        FAIL() << "ran without the store's lease";
    } catch (const std::runtime_error& error) {
        EXPECT_NE(std::string(error.what()).find("cannot take the store lease"), std::string::npos)
            << error.what();
    }
    EXPECT_TRUE(statuses_.updates.empty());
    EXPECT_FALSE(handler_.ReportGivenUp(BadDeletion(), 5, cancel).ok())
        << "reported without the store's lease";
}

TEST_F(StoreCommandHandlerTest, AGivenUpCommandsStoreIsToldFailedUnderItsLease) {
    CancelToken cancel(shutdown_);
    ASSERT_TRUE(handler_.ReportGivenUp(BadDeletion(), 5, cancel).ok());
    ASSERT_EQ(statuses_.updates.size(), 1U);
    EXPECT_EQ(statuses_.updates[0].status, v1::STORE_STATUS_FAILED);
    EXPECT_EQ(statuses_.updates[0].step_index, kGivenUpStepIndex);
    EXPECT_TRUE(statuses_.under_lease[0]);
}

TEST_F(StoreCommandHandlerTest, ADeadLetterSaysWhyHowOftenAndWhereFrom) {
    kafka::ConsumedMessage message;
    message.topic = "store-commands";
    message.partition = 2;
    message.offset = 41;
    message.key = "store-key";
    message.payload = "payload";
    ASSERT_TRUE(handler_.DeadLetter(message, "failed 5 times", 5).ok());
    ASSERT_EQ(publisher_.sent.size(), 1U);
    const auto& sent = publisher_.sent[0];
    EXPECT_EQ(sent.topic, events::kDeadLetterTopic);
    EXPECT_EQ(sent.key, "store-key");
    EXPECT_EQ(sent.payload, "payload");
    using Headers = std::vector<std::pair<std::string, std::string>>;
    EXPECT_EQ(sent.headers, (Headers{{"storefleet-reason", "failed 5 times"},
                                     {"storefleet-attempts", "5"},
                                     {"storefleet-source", "store-commands/2@41"}}));
}

}  // namespace
}  // namespace storefleet::provisioner
