#include "fixture.hpp"

#include <pqxx/pqxx>

#include <cctype>
#include <ctime>
#include <mutex>
#include <set>
#include <thread>

namespace storefleet::faults {

const std::string kRun = std::to_string(std::time(nullptr) % 100000);  // NOLINT(cert-err58-cpp)

void HoldFault(std::chrono::seconds duration) { std::this_thread::sleep_for(duration); }

namespace {
std::string Lower(std::string text) {
    for (auto& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return text;
}

std::mutex handed_over_mutex;
HandedOver handed_over;  // guarded by handed_over_mutex
}  // namespace

DeleteAtEnd::~DeleteAtEnd() {
    for (const auto& id : ids_) {
        if (id.empty()) continue;
        const long code = TheApi().DeleteStore(id).code;
        std::lock_guard lock(handed_over_mutex);
        handed_over.ids.push_back(id);
        if (code != 202) ++handed_over.refused;
    }
}

HandedOver HandedOverStores() {
    std::lock_guard lock(handed_over_mutex);
    return handed_over;
}

std::string Status(const json& store) { return store.is_object() ? store.value("status", "") : ""; }

TimelineCheck CheckTimeline(const std::string& id) {
    TimelineCheck check;
    auto reply = TheApi().Timeline(id);
    if (reply.code != 200) {
        STORE_FAILURE("timeline not readable")
            << "GET /api/v1/stores/" << id << "/events: " << reply.code;
    }
    if (reply.code != 200 || !reply.body.is_array()) return check;
    std::set<std::string> ids;
    for (const auto& event : reply.body) {
        ++check.events;
        if (!ids.insert(event.value("event_id", "")).second) ++check.duplicates;
        const std::string status =
            event["status"].is_string() ? event["status"].get<std::string>() : "";
        ++check.statuses[status];
        check.order.push_back(status);
    }
    return check;
}

HistoryCheck CheckHistory(const std::string& id) {
    HistoryCheck check;
    json history = HelmHistory(id);
    if (!history.is_array()) {
        check.unwanted.push_back("no history: " + history.dump());
        return check;
    }
    for (const auto& revision : history) {
        ++check.revisions;
        const std::string status = revision.value("status", "");
        const std::string description = revision.value("description", "");
        check.last_status = status;
        const bool rollback = Lower(description).find("rollback") != std::string::npos ||
                              status == "pending-rollback";
        const bool uninstall = status == "uninstalled" || status == "uninstalling";
        if (rollback || uninstall) {
            check.unwanted.push_back("rev " + std::to_string(revision.value("revision", 0)) + ": " +
                                     status + " (" + description + ")");
        }
    }
    return check;
}

int DoubleAppliedRows() {
    pqxx::connection db(Env("STOREFLEET_PG_URL"));
    pqxx::work txn(db);
    // Only this suite's stores: the integration tier before it publishes synthetic events of
    // its own (with their own step numbering) to the same topics.
    auto rows = txn.exec_params(
        "select count(*) from (select e.store_id, e.sequence from read.store_events e "
        "join read.stores s on s.store_id = e.store_id where e.sequence is not null and s.name "
        "like $1 "
        "group by e.store_id, e.sequence having count(*) > 1) d",
        "%-" + kRun + "-%");
    return rows[0][0].as<int>();
}

}  // namespace storefleet::faults
