#include "provisioner_logs.hpp"

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>

namespace storefleet::faults {

const std::vector<std::string>& AllProvisionerReplicas() {
    static const std::vector<std::string> replicas = {"provisioner", "provisioner-2",
                                                      "provisioner-3", "provisioner-4"};
    return replicas;
}

namespace {
std::vector<std::string> Split(const std::string& text, char separator) {
    std::vector<std::string> parts;
    std::stringstream stream(text);
    std::string part;
    while (std::getline(stream, part, separator)) {
        if (!part.empty()) parts.push_back(part);
    }
    return parts;
}

}  // namespace

std::vector<Assignment> ReadAssignments(const std::string& replica) {
    std::vector<Assignment> events;
    std::ifstream in(StateDir() + "/platform/" + replica + ".log");
    std::string line;
    while (std::getline(in, line)) {
        if (line.find("partitions") == std::string::npos &&
            line.find("provisioner started") == std::string::npos) {
            continue;
        }
        auto entry = json::parse(line, nullptr, false);
        if (entry.is_discarded()) continue;
        const std::string msg = entry.value("msg", "");
        Assignment event;
        event.time = ParseLogTime(entry.value("ts", ""));
        event.replica = replica;
        if (msg == "provisioner started") {
            event.started = true;
        } else if (msg == "partitions assigned" || msg == "partitions revoked" ||
                   msg == "partitions lost") {
            event.assigned = msg == "partitions assigned";
            event.partitions = Split(entry.value("partitions", ""), ',');
        } else {
            continue;
        }
        events.push_back(std::move(event));
    }
    return events;
}

std::set<std::string> HeldAt(const std::string& replica, double when) {
    std::set<std::string> held;
    for (const auto& event : ReadAssignments(replica)) {
        if (event.time > when) break;
        if (event.started) {
            held.clear();
        } else if (event.assigned) {
            held.insert(event.partitions.begin(), event.partitions.end());
        } else {
            for (const auto& p : event.partitions) held.erase(p);
        }
    }
    return held;
}

// Seconds from `kill_time` until every partition of `held` was assigned again (to anyone),
// or -1 if that is not in the logs yet.
double ReassignedAfter(const std::set<std::string>& held, double kill_time,
                       const std::vector<std::string>& replicas) {
    std::map<std::string, double> first;
    for (const auto& replica : replicas) {
        for (const auto& event : ReadAssignments(replica)) {
            if (event.time < kill_time || !event.assigned || event.started) continue;
            for (const auto& p : event.partitions) {
                if (held.count(p) != 0U && (first.count(p) == 0U || event.time < first[p]))
                    first[p] = event.time;
            }
        }
    }
    if (first.size() < held.size()) return -1;
    double latest = kill_time;
    for (const auto& [p, t] : first) latest = std::max(latest, t);
    return latest - kill_time;
}

// Helm's pending-release recoveries (an uninstall of a release left pending-install, a
// rollback of one left pending-upgrade) the provisioners logged for a store's namespace.
// `helm history` cannot show them all: an uninstall without --keep-history erases the
// release's records, and the next install starts again at revision 1.
std::vector<std::string> RecoveriesOf(const std::string& store_id) {
    std::vector<std::string> found;
    for (const auto& replica : AllProvisionerReplicas()) {
        std::ifstream in(StateDir() + "/platform/" + replica + ".log");
        std::string line;
        while (std::getline(in, line)) {
            if (line.find("recovering a release left") == std::string::npos) continue;
            if (line.find("store-" + store_id) == std::string::npos) continue;
            auto entry = json::parse(line, nullptr, false);
            if (entry.is_discarded()) continue;
            found.push_back(replica + " " + entry.value("ts", "") + " " + entry.value("msg", ""));
        }
    }
    return found;
}

bool AnyProvisionerLogged(const std::vector<std::string>& needles) {
    for (const auto& replica : AllProvisionerReplicas()) {
        std::ifstream in(StateDir() + "/platform/" + replica + ".log");
        std::string line;
        while (std::getline(in, line)) {
            if (std::all_of(needles.begin(), needles.end(), [&](const std::string& needle) {
                    return line.find(needle) != std::string::npos;
                })) {
                return true;
            }
        }
    }
    return false;
}

std::set<std::string> ProvisionerReplicas() {
    std::set<std::string> names;
    auto ps = Platform("ps");
    std::istringstream lines(ps.output);
    std::string line;
    while (std::getline(lines, line)) {
        std::istringstream words(line);
        std::string name;
        std::string pid;
        std::string port;
        std::string state;
        words >> name >> pid >> port >> state;
        if (name.rfind("provisioner", 0) == 0 && state == "running") names.insert(name);
    }
    return names;
}

}  // namespace storefleet::faults
