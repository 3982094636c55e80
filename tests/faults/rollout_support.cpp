#include "rollout_support.hpp"

#include <pqxx/pqxx>

#include <fstream>
#include <thread>

#include "fixture.hpp"

namespace storefleet::faults {

namespace {
std::string FirstLine(const std::string& path) {
    std::ifstream file(path);
    std::string line;
    std::getline(file, line);
    return line;
}

Reply ToReply(const test_support::HttpReply& raw) {
    Reply reply;
    reply.code = raw.code;
    reply.headers = raw.headers;
    reply.body = json::parse(raw.body, nullptr, false);
    if (raw.code == -1) reply.body = json{{"curl_error", raw.error}};
    if (reply.body.is_discarded()) reply.body = json{{"raw", raw.body}};
    return reply;
}

const test_support::HttpClient& AdminClient() {
    static const test_support::HttpClient client = [] {
        const auto platform = test_support::ReadEnvFile(StateDir() + "/env.d/platform");
        const auto url = platform.find("STOREFLEET_URL");
        const auto token = platform.find("STOREFLEET_ADMIN_TOKEN_FILE");
        return test_support::HttpClient(url == platform.end() ? "" : url->second,
                                        token == platform.end() ? "" : FirstLine(token->second));
    }();
    return client;
}
}  // namespace

std::string OtherGoodVersion(const std::string& version) {
    return version == "0.2.0" ? "0.1.0" : "0.2.0";
}

Reply AdminCall(const std::string& method, const std::string& path, const std::string& body) {
    return ToReply(AdminClient().Send(method, path, body));
}

Reply OwnTenant::Call(const std::string& method, const std::string& path,
                      const std::string& body) const {
    return ToReply(client.Send(method, path, body));
}

OwnTenant MakeTenant(const std::string& id) {
    OwnTenant tenant;
    tenant.id = id;
    auto created =
        AdminCall("POST", "/api/v1/admin/tenants", json{{"id", id}, {"store_quota", 50}}.dump());
    EXPECT_EQ(created.code, 201) << created.body.dump();
    auto issued = AdminCall("POST", "/api/v1/admin/tenants/" + id + "/tokens",
                            json{{"name", "faults"}}.dump());
    EXPECT_EQ(issued.code, 201) << issued.body.dump();
    tenant.client = AdminClient().WithToken(issued.body.value("token", ""));
    return tenant;
}

StoreChart ChartOf(const Reply& reply) {
    StoreChart chart;
    chart.code = reply.code;
    if (reply.code != 200 || !reply.body.is_object()) return chart;
    const auto text = [](const json& value) {
        return value.is_string() ? value.get<std::string>() : std::string();
    };
    chart.status = text(reply.body.value("status", json()));
    chart.observed = text(reply.body.value("chart_version", json()));
    chart.desired =
        text(reply.body.value("desired", json::object()).value("chart_version", json()));
    chart.generation = reply.body.value("generation", int64_t{0});
    return chart;
}

StoreChart ChartOf(const std::string& id) { return ChartOf(TheApi().GetStore(id)); }

int HelmRevisions(const std::string& id) {
    const json history = HelmHistory(id);
    return history.is_array() ? static_cast<int>(history.size()) : -1;
}

json PollRollout(const std::string& rollout_id, const std::function<bool(const json&)>& until,
                 std::chrono::seconds deadline, const std::function<void(const json&)>& each) {
    json last;
    PollUntil(
        [&] {
            auto shown = AdminCall("GET", "/api/v1/admin/rollouts/" + rollout_id);
            if (shown.code != 200) return false;  // intake restarting: look again
            last = shown.body;
            if (each) each(last);
            return until(last);
        },
        deadline);
    return last;
}

bool AllReady(const std::vector<std::string>& ids, std::chrono::seconds deadline,
              const std::function<Reply(const std::string&)>& get) {
    std::vector<std::string> waiting;
    PollUntil(
        [&] {
            waiting.clear();
            for (const auto& id : ids) {
                const auto chart = ChartOf(get ? get(id) : TheApi().GetStore(id));
                if (chart.status != "ready") waiting.push_back(id + " (" + chart.status + ")");
            }
            return waiting.empty();
        },
        deadline);
    for (std::size_t i = 0; i < waiting.size() && i < 5; ++i)
        ADD_FAILURE() << "store not Ready: " << waiting[i];
    return waiting.empty();
}

std::map<std::string, RolloutStore> RolloutStores(const std::string& rollout_id) {
    std::map<std::string, RolloutStore> stores;
    pqxx::connection db(Env("STOREFLEET_PG_URL"));
    pqxx::work txn(db);
    for (const auto& row :
         txn.exec_params("select store_id::text, wave, state, coalesce(generation, 0) from "
                         "intake.rollout_stores where rollout_id = $1::uuid",
                         rollout_id)) {
        stores[row[0].as<std::string>()] = {row[1].as<int>(), row[2].as<std::string>(),
                                            row[3].as<int64_t>()};
    }
    return stores;
}

double IntakeFigure(const std::string& sql, const std::string& rollout_id) {
    pqxx::connection db(Env("STOREFLEET_PG_URL"));
    pqxx::work txn(db);
    auto rows = txn.exec_params(sql, rollout_id);
    return rows.empty() || rows[0][0].is_null() ? -1 : rows[0][0].as<double>();
}

}  // namespace storefleet::faults
