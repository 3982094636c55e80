// Tenants, tokens and the audit trail on the real Postgres: the `storefleet` tool (run as a
// process, as an operator would) and intake's admin API (served in-process), both checked
// against the tables and against what a token can still do afterwards.
#include <gtest/gtest.h>

#include <chrono>

#include "admin_api.hpp"
#include "intake_store.hpp"
#include "storefleet/common/ids.hpp"
#include "storefleet/test_support/env.hpp"
#include "storefleet/test_support/http.hpp"
#include "storefleet/test_support/process.hpp"
#include "storefleet/test_support/wait.hpp"

namespace storefleet::intake {
namespace {

using json = nlohmann::json;
using test_support::HttpClient;

std::string PgUrl() { return test_support::Env("STOREFLEET_PG_URL"); }

struct ToolRun {
    int code = -1;
    std::string out;  // stdout only; the tool's notes go to stderr
    json Json() const { return json::parse(out); }
};

ToolRun Tool(const std::string& arguments) {
    auto run =
        test_support::RunShell(std::string(STOREFLEET_TOOL_BIN) + " " + arguments + " 2>/dev/null");
    return {run.rc, run.output};
}

class AdminToolTest : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_FALSE(PgUrl().empty())
            << "STOREFLEET_PG_URL is not set: run through tests/with-stack";
        store_.Migrate();
    }
    bool Works(const std::string& token) {
        return store_.Authenticate(Sha256Hex(token)).has_value();
    }

    pg::Pool pool_{PgUrl(), 2};
    IntakeStore store_{pool_, "stores.test"};
    const std::string tenant_ = "adm-" + RandomHex(4);
};

TEST_F(AdminToolTest, TheToolManagesTenantsAndTokensAndAuditsEveryChange) {
    ToolRun created = Tool("--json tenant create " + tenant_ + " --quota 2 --rate 5");
    ASSERT_EQ(created.code, 0) << created.out;
    EXPECT_EQ(created.Json()["store_quota"], 2);
    EXPECT_EQ(created.Json()["rate_per_second"], 5.0);
    EXPECT_EQ(Tool("tenant create " + tenant_).code, 1) << "a second tenant with the same id";
    EXPECT_EQ(Tool("tenant create Not_A_Label").code, 1);
    EXPECT_EQ(Tool("tenant set no-such-tenant-" + RandomHex(3) + " --quota 1").code, 1);
    EXPECT_EQ(Tool("token issue " + tenant_).code, 2) << "--name is required";

    ToolRun set = Tool("--json tenant set " + tenant_ + " --quota 3");
    ASSERT_EQ(set.code, 0);
    EXPECT_EQ(set.Json()["store_quota"], 3);

    ToolRun issued = Tool("--json token issue " + tenant_ + " --name ci --expires-in 1h");
    ASSERT_EQ(issued.code, 0) << issued.out;
    const std::string token = issued.Json()["token"];
    const std::string token_id = issued.Json()["id"];
    EXPECT_FALSE(issued.Json()["expires_at"].is_null());
    ASSERT_TRUE(Works(token));
    auto principal = store_.Authenticate(Sha256Hex(token));
    EXPECT_EQ(principal->tenant_id, tenant_);
    EXPECT_FALSE(principal->admin);
    EXPECT_EQ(principal->rate_per_second, 5.0);

    ToolRun listed = Tool("--json token list " + tenant_);
    ASSERT_EQ(listed.code, 0);
    ASSERT_EQ(listed.Json().size(), 1U);
    EXPECT_EQ(listed.out.find(token), std::string::npos) << "a listing never shows a token";
    EXPECT_FALSE(listed.Json()[0].contains("token"));
    const int stored_raw = pool_.WithTransaction([&](pqxx::work& txn) {
        return txn
            .exec_params(
                "select count(*) from intake.api_tokens where token_sha256 = $1 or name = $1",
                token)[0][0]
            .as<int>();
    });
    EXPECT_EQ(stored_raw, 0) << "only the hash is stored";

    ToolRun rotated = Tool("--json token rotate " + token_id);
    ASSERT_EQ(rotated.code, 0) << rotated.out;
    const std::string replacement = rotated.Json()["token"];
    EXPECT_FALSE(Works(token)) << "the rotated token is revoked";
    EXPECT_TRUE(Works(replacement));
    EXPECT_EQ(rotated.Json()["name"], "ci");
    EXPECT_FALSE(rotated.Json()["expires_at"].is_null()) << "the replacement keeps the lifetime";

    ASSERT_EQ(Tool("token revoke " + std::string(rotated.Json()["id"])).code, 0);
    EXPECT_FALSE(Works(replacement));
    EXPECT_EQ(Tool("token revoke 00000000-0000-4000-8000-000000000000").code, 1);

    ToolRun audit = Tool("--json audit --tenant " + tenant_);
    ASSERT_EQ(audit.code, 0);
    std::vector<std::string> actions;
    const json audit_entries = audit.Json();
    for (const auto& entry : audit_entries) {
        actions.push_back(entry["action"]);
        EXPECT_EQ(std::string(entry["actor"]).rfind("cli:", 0), 0U) << entry.dump();
    }
    EXPECT_EQ(actions, (std::vector<std::string>{"token.revoke", "token.rotate", "token.issue",
                                                 "tenant.update", "tenant.create"}));
    EXPECT_EQ(audit.out.find(token), std::string::npos) << "no secret in the audit trail";
}

TEST_F(AdminToolTest, HelpAndVersionGoToStdoutAndAWrongArgumentSaysWhatIsWrong) {
    const std::string tool = STOREFLEET_TOOL_BIN;
    for (const std::string asked : {" --help", " -h", " token issue --help", " tenant -h"}) {
        auto help = test_support::RunShell(tool + asked + " 2>/dev/null");
        EXPECT_EQ(help.rc, 0) << asked;
        EXPECT_NE(help.output.find("Usage: storefleet"), std::string::npos) << asked << help.output;
    }
    auto version = test_support::RunShell(tool + " --version 2>/dev/null");
    EXPECT_EQ(version.rc, 0);
    EXPECT_EQ(version.output, std::string(STOREFLEET_VERSION) + "\n");

    // Each mistake: exit 2, nothing on stdout, one line on stderr naming the argument.
    const std::vector<std::pair<std::string, std::string>> mistakes = {
        {"", "A subcommand is required"},
        {" tenant create", "ID is required"},
        {" token issue acme", "--name is required"},
        {" tenant set acme --quota -1", "--quota"},
        {" tenant set acme --rate lots", "--rate"},
        {" token issue acme --name ci --expires-in 5x", "expected a duration like 90d"},
        {" stores acme --limit 0", "--limit"},
        {" tenant rename acme", "rename"},
        {" token", "token needs a command: issue, list, rotate, revoke"},
    };
    for (const auto& [arguments, said] : mistakes) {
        auto out = test_support::RunShell(tool + arguments + " 2>/dev/null");
        auto err = test_support::RunShell(tool + arguments + " 2>&1 >/dev/null");
        EXPECT_EQ(out.rc, 2) << arguments;
        EXPECT_EQ(out.output, "") << arguments;
        EXPECT_NE(err.output.find(said), std::string::npos) << arguments << ": " << err.output;
    }
}

// Read-only commands never migrate: on a connection whose transactions are read-only they
// work, while a command that writes (and so first applies intake's migrations) is refused.
TEST_F(AdminToolTest, ReadOnlyCommandsNeverRunMigrations) {
    store_.SeedTenant(tenant_, RandomHex(16), 2);
    const std::string read_only_url = PgUrl() +
                                      (PgUrl().find('?') == std::string::npos ? "?" : "&") +
                                      "options=-c%20default_transaction_read_only%3Don";
    auto run = [&](const std::string& arguments) {
        return test_support::RunShell("STOREFLEET_PG_URL='" + read_only_url + "' " +
                                      STOREFLEET_TOOL_BIN + " " + arguments + " 2>&1");
    };
    for (const std::string& reads :
         std::vector<std::string>{"tenant list", "token list " + tenant_, "stores " + tenant_,
                                  "audit --tenant " + tenant_}) {
        auto result = run(reads);
        EXPECT_EQ(result.rc, 0) << reads << ": " << result.output;
    }
    auto write = run("tenant set " + tenant_ + " --quota 3");
    EXPECT_EQ(write.rc, 1) << "a write (with its migrations) must fail on a read-only connection";
    EXPECT_NE(write.output.find("read-only transaction"), std::string::npos) << write.output;
    auto listed = run("--json tenant list");
    ASSERT_EQ(listed.rc, 0) << listed.output;
    EXPECT_NE(listed.output.find("\"" + tenant_ + "\""), std::string::npos);
}

TEST_F(AdminToolTest,
       TheAdminApiNeedsAnAdminTokenAndARevokedTokenStopsWithinASecondOnEveryReplica) {
    const std::string admin_token = RandomHex(16);
    store_.SeedTenant(tenant_ + "-ops", admin_token, 0, /*admin=*/true);
    const std::string tenant_token = RandomHex(16);
    store_.SeedTenant(tenant_, tenant_token, 2);

    auto lookup = [this](const std::string& sha) { return store_.Authenticate(sha); };
    // Two replicas' caches: each keeps a known token for a second.
    http::Authenticator replica_a(
        lookup, {std::chrono::milliseconds(1000), std::chrono::milliseconds(0), 100});
    http::Authenticator replica_b(
        lookup, {std::chrono::milliseconds(1000), std::chrono::milliseconds(0), 100});
    http::RateLimiter limiter(1000, 1000);
    AdminStore admin_store(pool_);
    AdminApi api(admin_store, replica_a, limiter);
    metrics::Registry registry;
    http::HttpServer server({}, registry, [] { return true; });
    api.Register(server);
    server.Start();

    const auto admin = HttpClient::Local(server.Port(), admin_token);
    EXPECT_EQ(HttpClient::Local(server.Port(), tenant_token).Get("/api/v1/admin/tenants").code, 403)
        << "a tenant token is no admin";
    EXPECT_EQ(HttpClient::Local(server.Port()).Get("/api/v1/admin/tenants").code, 401);
    auto bad = admin.Post("/api/v1/admin/tenants/" + tenant_ + "/tokens", R"({"role":"root"})");
    EXPECT_EQ(bad.code, 400);
    auto issued =
        admin.Post("/api/v1/admin/tenants/" + tenant_ + "/tokens", R"({"name":"deploy"})");
    ASSERT_EQ(issued.code, 201) << issued.body;
    EXPECT_EQ(issued.Header("Cache-Control"), "no-store") << issued.headers;
    const std::string token = json::parse(issued.body)["token"];
    const std::string token_id = json::parse(issued.body)["id"];

    const auto now = http::Authenticator::Clock::now;
    ASSERT_TRUE(replica_a.Resolve("Bearer " + token, now()).has_value());
    ASSERT_TRUE(replica_b.Resolve("Bearer " + token, now()).has_value());
    auto revoked = admin.Delete("/api/v1/admin/tokens/" + token_id);
    ASSERT_EQ(revoked.code, 204) << revoked.body;
    ASSERT_TRUE(test_support::WaitUntil(
        [&] {
            return !replica_a.Resolve("Bearer " + token, now()) &&
                   !replica_b.Resolve("Bearer " + token, now());
        },
        std::chrono::milliseconds(1500)))
        << "a revoked token still works on a replica";

    auto tenants = admin.Get("/api/v1/admin/tenants");
    ASSERT_EQ(tenants.code, 200);
    bool listed = false;
    const json tenant_list = json::parse(tenants.body);
    for (const auto& tenant : tenant_list["items"]) listed = listed || tenant["id"] == tenant_;
    EXPECT_TRUE(listed) << tenants.body.substr(0, 500);
    auto audit = admin.Get("/api/v1/admin/audit?tenant=" + tenant_);
    ASSERT_EQ(audit.code, 200);
    auto entries = json::parse(audit.body)["items"];
    ASSERT_GE(entries.size(), 2U);
    EXPECT_EQ(entries[0]["action"], "token.revoke");
    EXPECT_EQ(std::string(entries[0]["actor"]).rfind("token:", 0), 0U);
    EXPECT_EQ(audit.body.find(token), std::string::npos);
    server.Stop();
}

}  // namespace
}  // namespace storefleet::intake
