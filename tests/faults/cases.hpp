// The fault cases, one file each (case_*.cpp). Each is the body of one test of the suite;
// fault_suite_test.cpp registers them in the suite's order.
#pragma once

namespace storefleet::faults {

void ReplicasKilledAddedAndRemovedWhileFiftyStoresAreInFlight();  // case 1, case_replicas.cpp
void KafkaStoppedTwentySecondsUnderCreatesAndDeletes();           // case 2, case_kafka_outage.cpp
void KubeApiServerStoppedThirtySecondsDuringProvisioning();  // case 3, case_apiserver_outage.cpp
void ProjectorAndIntakeKilledMidStream();  // case 5, case_projector_intake_killed.cpp
void PoisonCommandsGoToTheDeadLetterTopicAndThePartitionKeepsMoving();  // case 6,
                                                                        // case_poison_commands.cpp
void DeletionEdgeCases();           // case 7, case_deletions.cpp
void PostgresRestartedUnderLoad();  // case 4, case_postgres_outage.cpp

// case 8, case_lifecycle_changes.cpp
void ChangesConvergeOnceWhileEveryProvisionerIsKilled();
// case 9, case_drift_repair.cpp
void DriftMadeWhileEveryProvisionerIsStoppedIsRepairedOnce();
// cases 10-12, case_rollout_broken.cpp, case_rollout_kills.cpp, case_rollout_changes.cpp
void ABrokenVersionHaltsAfterItsCanaryWhichIsRolledBack();
void ARolloutFinishesOnceThroughKillsOfTheProvisionerAndIntake();
void CreatesAndDeletesDuringARolloutAndAnAbortMidWave();

}  // namespace storefleet::faults
