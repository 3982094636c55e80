// The suite-end check ("replay last"): after every case has run, the platform must have lost
// nothing the cases handed over, and the live read model must equal a fresh replay of both
// topics from offset 0. It runs once, at the end of the last case in the suite's order
// (fault_suite_test.cpp), so that the replay covers every event every case produced: each
// kill -9, outage, poison command and deletion above leaves its trace in the topics and in
// the read model, and a replay that differs names the rows a fault broke.
//
// How the cases take part: each holds a DeleteAtEnd (fixture.hpp) for the stores it created;
// when the case ends their DELETEs are sent and their ids handed over to this check.
#pragma once

namespace storefleet::faults {

// Every store the cases handed over ends "deleted" (nothing lost under the faults). A
// deletion that failed (say, Helm could not reach the API server while case 3 had it
// stopped) is reported, then sent again as a user would and must then end deleted. Leaves
// the platform quiet, which the replay comparison needs. Figures: "suite ..." lines.
void ExpectHandedOverStoresDeleted();

// A second projector (fresh consumer group, fresh schema) replays store-commands and
// store-status from offset 0; storefleet-read-model-diff must find its read model equal to
// the live one, row for row (exit 0). The replay projector is stopped and its schema dropped
// afterwards, whatever the outcome.
void ExpectReadModelEqualsAFreshReplay();

// Both, in that order: what the last case of the suite calls once its own fault is over.
void CheckTheSuiteEnd();

}  // namespace storefleet::faults
