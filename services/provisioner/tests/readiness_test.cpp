#include "readiness.hpp"

#include <gtest/gtest.h>

namespace storefleet::provisioner {
namespace {

using nlohmann::json;

json Workload(int ready, int want, int generation = 1, int observed = 1) {
    return {{"metadata", {{"name", "web"}, {"generation", generation}}},
            {"spec", {{"replicas", want}}},
            {"status", {{"observedGeneration", observed}, {"availableReplicas", ready}, {"readyReplicas", ready}}}};
}

TEST(ReadinessTest, DeploymentNeedsAllReplicasOfTheCurrentGeneration) {
    EXPECT_TRUE(EvaluateWorkload("deployments", Workload(1, 1)).ready);
    EXPECT_FALSE(EvaluateWorkload("deployments", Workload(0, 1)).ready);
    EXPECT_FALSE(EvaluateWorkload("deployments", Workload(1, 1, 2, 1)).ready) << "spec changed, not observed yet";
    EXPECT_EQ(EvaluateWorkload("statefulsets", Workload(0, 1)).description, "statefulset web (0/1 ready)");
}

TEST(ReadinessTest, JobCompleteOrFailed) {
    json complete = {{"metadata", {{"name", "setup"}}},
                     {"status", {{"conditions", json::array({{{"type", "Complete"}, {"status", "True"}}})}}}};
    json failed = {{"metadata", {{"name", "setup"}}},
                   {"status", {{"conditions", json::array({{{"type", "Failed"}, {"status", "True"},
                                                             {"message", "BackoffLimitExceeded"}}})}}}};
    EXPECT_TRUE(EvaluateWorkload("jobs", complete).ready);
    auto state = EvaluateWorkload("jobs", failed);
    EXPECT_TRUE(state.failed);
    EXPECT_EQ(state.description, "job setup failed: BackoffLimitExceeded");
}

TEST(ReadinessTest, CombineNeedsAWorkloadAndNoFailure) {
    WorkloadState ready{true, false, "deployment web (1/1 ready)"};
    WorkloadState waiting{false, false, "statefulset db (0/1 ready)"};
    WorkloadState failed{false, true, "job setup failed: x"};
    EXPECT_FALSE(CombineWorkloads("ns", {})->ready);
    EXPECT_EQ(CombineWorkloads("ns", {})->waiting_for, "the chart's workloads to appear");
    EXPECT_FALSE(CombineWorkloads("ns", {{"jobs", ready}})->ready) << "a Job alone is not a store";
    EXPECT_TRUE(CombineWorkloads("ns", {{"deployments", ready}, {"jobs", ready}})->ready);
    auto partial = CombineWorkloads("ns", {{"deployments", ready}, {"statefulsets", waiting}});
    EXPECT_FALSE(partial->ready);
    EXPECT_EQ(partial->waiting_for, "statefulset db (0/1 ready)");
    auto broken = CombineWorkloads("ns", {{"deployments", ready}, {"jobs", failed}});
    ASSERT_FALSE(broken.ok());
    EXPECT_FALSE(broken.error().retryable());
}

}  // namespace
}  // namespace storefleet::provisioner
