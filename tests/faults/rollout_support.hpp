// What the rollout cases (case_rollout_*.cpp, decision 13) share: the platform admin's calls,
// stores made Ready, a store's chart versions and Helm revisions, a rollout polled with a
// deadline, and the test-only broken chart version of the suite's catalogue
// (test_catalogue.py, built and named to the platform by fault_suite_test.cpp's main).
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "harness.hpp"

namespace storefleet::faults {

// A WooCommerce version whose pods never schedule on KWOK (test_catalogue.py): never Ready.
inline constexpr const char* kBrokenVersion = "9.0.0-never-ready";

// The two released WooCommerce versions (charts/releases): the other one than `version`.
std::string OtherGoodVersion(const std::string& version);

// Through the front door with the platform admin's token (STOREFLEET_ADMIN_TOKEN_FILE).
Reply AdminCall(const std::string& method, const std::string& path, const std::string& body = "");

// A tenant of the case's own (quota 50) and a client with its token, for a selector by tenant
// that no other case's store can match.
struct OwnTenant {
    std::string id;
    test_support::HttpClient client{""};
    Reply Call(const std::string& method, const std::string& path,
               const std::string& body = "") const;
};
OwnTenant MakeTenant(const std::string& id);

// What a store's GET says about its chart.
struct StoreChart {
    long code = 0;
    std::string status;
    std::string observed;  // chart_version
    std::string desired;   // desired.chart_version
    int64_t generation = 0;
};
StoreChart ChartOf(const Reply& reply);
StoreChart ChartOf(const std::string& id);

// Revisions in the store's Helm history (-1 when unreadable).
int HelmRevisions(const std::string& id);

// Polls GET /api/v1/admin/rollouts/{id} every 200 ms until `until(body)` or the deadline;
// `each(body)` sees every answer. The last body (null if none came).
json PollRollout(const std::string& rollout_id, const std::function<bool(const json&)>& until,
                 std::chrono::seconds deadline, const std::function<void(const json&)>& each = {});

// Every store of `ids` Ready (polled), else a failure naming the first few that are not.
bool AllReady(const std::vector<std::string>& ids, std::chrono::seconds deadline,
              const std::function<Reply(const std::string&)>& get = {});

// The rollout's stores from intake's schema: store id -> (wave, state, generation or 0).
struct RolloutStore {
    int wave = 0;
    std::string state;
    int64_t generation = 0;
};
std::map<std::string, RolloutStore> RolloutStores(const std::string& rollout_id);

// One number from intake's schema (a query returning one value).
double IntakeFigure(const std::string& sql, const std::string& rollout_id);

}  // namespace storefleet::faults
