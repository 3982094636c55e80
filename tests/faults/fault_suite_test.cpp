// The fault suite: the real platform on the local real stack (tests/with-stack), broken on
// purpose while stores are in flight — provisioner replicas killed -9, added and removed,
// Kafka, kube-apiserver and Postgres stopped, the projector and intake killed -9, poison
// commands, deletions at awkward moments, store changes with every provisioner killed -9,
// drift made while every provisioner is stopped, fleet rollouts to a broken version, through
// kill -9s, with creates, deletes and an abort — and checked for the guarantees of
// docs/reliability.md: nothing lost, nothing doubled, order kept per store, one runner per
// store, no secret rotated, quota and name freed only when deleted, one Helm revision per
// generation (and one per drift repair). Every case prints its figures as
// "[figure] ...: ..." lines. Polls with deadlines; the only waits of fixed length are the
// faults themselves (Kafka down for 20 s, the API server for 30 s, ...).
//
// One file per case (case_*.cpp), the shared fixture and per-store checks in fixture.hpp,
// the stack's provisioner logs in provisioner_logs.hpp, the suite-end check in
// replay_check.hpp. This file holds the suite's order and main().
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "cases.hpp"
#include "failure_recap.hpp"
#include "fixture.hpp"
#include "replay_check.hpp"

namespace storefleet::faults {
namespace {

// The last case: Postgres restarted under load, then the suite-end check. An assertion that
// stops the case itself (a stack part that would not come back) skips the check, as the
// replay would then compare a platform still broken.
void PostgresRestartedUnderLoadThenTheReadModelEqualsAFreshReplay() {
    PostgresRestartedUnderLoad();
    if (::testing::Test::HasFatalFailure()) return;
    CheckTheSuiteEnd();
}

// The suite's order, which matters: the cases run one after another on one platform, and
// the last one ends with the suite-end check (replay_check.hpp), whose replay must cover the
// events of every case before it. Test names are Faults.<name>.
struct Case {
    const char* name;
    void (*run)();
};
constexpr Case kSuiteOrder[] = {
    {"ReplicasKilledAddedAndRemovedWhileFiftyStoresAreInFlight",
     ReplicasKilledAddedAndRemovedWhileFiftyStoresAreInFlight},
    {"KafkaStoppedTwentySecondsUnderCreatesAndDeletes",
     KafkaStoppedTwentySecondsUnderCreatesAndDeletes},
    {"KubeApiServerStoppedThirtySecondsDuringProvisioning",
     KubeApiServerStoppedThirtySecondsDuringProvisioning},
    {"ProjectorAndIntakeKilledMidStream", ProjectorAndIntakeKilledMidStream},
    {"PoisonCommandsGoToTheDeadLetterTopicAndThePartitionKeepsMoving",
     PoisonCommandsGoToTheDeadLetterTopicAndThePartitionKeepsMoving},
    {"DeletionEdgeCases", DeletionEdgeCases},
    {"ChangesConvergeOnceWhileEveryProvisionerIsKilled",
     ChangesConvergeOnceWhileEveryProvisionerIsKilled},
    {"DriftMadeWhileEveryProvisionerIsStoppedIsRepairedOnce",
     DriftMadeWhileEveryProvisionerIsStoppedIsRepairedOnce},
    {"ABrokenVersionHaltsAfterItsCanaryWhichIsRolledBack",
     ABrokenVersionHaltsAfterItsCanaryWhichIsRolledBack},
    {"ARolloutFinishesOnceThroughKillsOfTheProvisionerAndIntake",
     ARolloutFinishesOnceThroughKillsOfTheProvisionerAndIntake},
    {"CreatesAndDeletesDuringARolloutAndAnAbortMidWave",
     CreatesAndDeletesDuringARolloutAndAnAbortMidWave},
    // Last, always: the replay covers every event the suite produced.
    {"PostgresRestartedUnderLoadThenTheReadModelEqualsAFreshReplay",
     PostgresRestartedUnderLoadThenTheReadModelEqualsAFreshReplay},
};

class FaultCase final : public Faults {
public:
    explicit FaultCase(void (*run)()) : run_(run) {}
    void TestBody() override { run_(); }

private:
    void (*run_)();
};

// Registered at run time, in kSuiteOrder, rather than by TEST_F in each file: the order of
// static registration across files would be the linker's, and the replay must come last.
void RegisterTheCasesInOrder() {
    for (const auto& entry : kSuiteOrder) {
        ::testing::RegisterTest("Faults", entry.name, nullptr, nullptr, __FILE__, __LINE__,
                                [run = entry.run]() -> Faults* { return new FaultCase(run); });
    }
}

}  // namespace
}  // namespace storefleet::faults

int main(int argc, char** argv) {
    using namespace storefleet::faults;
    ::testing::InitGoogleTest(&argc, argv);
    RegisterTheCasesInOrder();
    auto* recap = new storefleet::test_support::FailureRecap;  // owned by gtest's listener list
    ::testing::UnitTest::GetInstance()->listeners().Append(recap);
    if (RepoRoot().empty()) {
        std::cerr << "STOREFLEET_ROOT must name the repository (ctest sets it)\n";
        return 1;
    }
    if (Env("STOREFLEET_PG_URL").empty() || Env("STOREFLEET_KAFKA_BROKERS").empty() ||
        Env("KUBECONFIG").empty()) {
        std::cerr << "faults: run under tests/with-stack (no stack environment)\n";
        return 1;
    }
    // The platform this suite needs: three provisioner replicas, a short "stuck namespace"
    // threshold for the finalizer case. Started here (idempotent if it already runs);
    // stopped at the end only if this run started it.
    setenv("STOREFLEET_PROVISIONER_REPLICAS", "3", 1);           // NOLINT(concurrency-mt-unsafe)
    setenv("STOREFLEET_NAMESPACE_STUCK_AFTER_SECONDS", "5", 0);  // NOLINT(concurrency-mt-unsafe)
    // The chart catalogue of the platform under test: the product's plus a WooCommerce version
    // that never becomes Ready (test_catalogue.py), for the rollout cases; the product's
    // catalogue never holds it.
    const std::string catalogue = StateDir() + "/faults-chart-catalogue";
    auto built = RunShell("python3 " + RepoRoot() + "/tests/faults/test_catalogue.py " + catalogue);
    if (built.rc != 0) {
        std::cerr << "faults: tests/faults/test_catalogue.py failed:\n" << built.output << "\n";
        return 1;
    }
    setenv("STOREFLEET_CHART_CATALOGUE", catalogue.c_str(), 1);  // NOLINT(concurrency-mt-unsafe)
    const bool was_running = !Env("STOREFLEET_URL").empty();
    auto up = Platform("up");
    if (up.rc != 0) {
        std::cerr << "faults: infra/local/platform up failed:\n" << up.output << "\n";
        Platform("down");
        return 1;
    }
    auto platform = storefleet::test_support::ReadPlatformEndpoints();
    if (!platform.error.empty()) {
        std::cerr << "faults: " << platform.error << "\n";
        return 1;
    }
    TheApi().Configure(platform.url, platform.intake_url, platform.token);
    const auto start = Clock::now();
    const int result = RUN_ALL_TESTS();
    Figure("suite wall time", Seconds(Clock::now() - start), "s");
    std::cout << Platform("ps").output;
    if (!was_running) Platform("down");
    recap->Print();
    const auto* unit = ::testing::UnitTest::GetInstance();
    if (result == 0 && unit->skipped_test_count() > 0) {
        std::cerr << "faults: " << unit->skipped_test_count() << " cases were skipped\n";
        return 1;
    }
    return result;
}
