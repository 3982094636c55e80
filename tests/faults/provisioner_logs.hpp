// The provisioner replicas' logs in the stack's state folder: which partitions a replica
// holds and when they move, Helm release recoveries, and lines naming a store.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "harness.hpp"

namespace storefleet::faults {

// Every replica the suite may run (main() asks for three; case 1 adds provisioner-4).
const std::vector<std::string>& AllProvisionerReplicas();

struct Assignment {
    double time = 0;
    std::string replica;
    std::vector<std::string> partitions;
    bool assigned = true;  // false: revoked or lost
    bool started = false;  // a "provisioner started" line: the process's assignment is empty
};
std::vector<Assignment> ReadAssignments(const std::string& replica);

// The partitions `replica` held at wall time `when` (seconds since the epoch).
std::set<std::string> HeldAt(const std::string& replica, double when);

// Seconds from `kill_time` until every partition of `held` was assigned again (to anyone),
// or -1 if that is not in the logs yet.
double ReassignedAfter(const std::set<std::string>& held, double kill_time,
                       const std::vector<std::string>& replicas);

// Helm's pending-release recoveries (an uninstall of a release left pending-install, a
// rollback of one left pending-upgrade) the provisioners logged for a store's namespace.
// `helm history` cannot show them all: an uninstall without --keep-history erases the
// release's records, and the next install starts again at revision 1.
std::vector<std::string> RecoveriesOf(const std::string& store_id);

// Whether some replica logged a line containing every one of `needles`.
bool AnyProvisionerLogged(const std::vector<std::string>& needles);

// The provisioner replicas `infra/local/platform ps` lists as running.
std::set<std::string> ProvisionerReplicas();

}  // namespace storefleet::faults
