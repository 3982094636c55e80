// storefleet: the operator's command-line tool for tenants, their quotas and rates, their API
// tokens and the audit trail, run against the platform's Postgres (STOREFLEET_PG_URL). Every
// change is written to the audit trail with the actor "cli:<user>".
//
// Arguments are parsed by CLI11 (Debian's libcli11-dev): `--help`/`-h` at every level and
// `--version` print to stdout and exit 0; a wrong argument prints one line and a hint to
// stderr and exits 2; a refused change (unknown tenant, duplicate id) exits 1. Commands that
// only read never run migrations: pointed at a database without intake's tables they say so
// and change nothing. Commands that write create intake's tables on a fresh database, as
// before (the platform's intake does the same when it starts).
#include <unistd.h>

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "admin_store.hpp"
#include "intake_store.hpp"
#include "storefleet/common/log.hpp"

using namespace storefleet;

namespace {

// "90d", "12h", "30m", "600s" or plain seconds; std::invalid_argument otherwise.
std::chrono::seconds Duration(const std::string& text) {
    const std::map<char, int64_t> seconds_per = {{'d', 86400}, {'h', 3600}, {'m', 60}, {'s', 1}};
    int64_t factor = 1;
    std::string digits = text;
    if (!text.empty()) {
        if (auto found = seconds_per.find(text.back()); found != seconds_per.end()) {
            factor = found->second;
            digits.pop_back();
        }
    }
    std::size_t used = 0;
    int64_t amount = -1;
    try {
        amount = std::stoll(digits, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    if (digits.empty() || used != digits.size() || amount <= 0) {
        throw std::invalid_argument("expected a duration like 90d, 12h, 30m or 600s, got '" + text +
                                    "'");
    }
    return std::chrono::seconds(amount * factor);
}

std::string Actor() {
    const char* user = std::getenv("SUDO_USER");
    if (user == nullptr) user = std::getenv("USER");
    return std::string("cli:") + (user != nullptr ? user : std::to_string(::getuid()));
}

template <typename T>
T Ok(Result<T> result) {
    if (!result.ok()) throw std::runtime_error(result.error().message);
    return std::move(result).value();
}

std::string TenantLine(const intake::TenantInfo& t) {
    return t.id + "\tquota " + std::to_string(t.live_stores) + "/" + std::to_string(t.store_quota) +
           "\trate " +
           (t.rate_per_second > 0 ? std::to_string(t.rate_per_second) + "/s"
                                  : std::string("default")) +
           "\n";
}

std::string TokenLine(const intake::TokenInfo& t) {
    return t.token_id + "\t" + t.name + "\t" + t.role + "\tcreated " + t.created_at +
           (t.expires_at.empty() ? "" : "\texpires " + t.expires_at) +
           (t.revoked_at.empty() ? "" : "\tREVOKED " + t.revoked_at) + "\n";
}

// What the operator gave on the command line.
struct Inputs {
    bool json = false;
    std::string tenant_id;
    std::string token_id;
    std::string name;
    std::string expires_in;
    bool admin = false;
    int quota = 10;
    double rate = 0;
};

// One command: the CLI11 subcommand, whether it writes (only those may create intake's tables),
// and what it does with the admin store.
struct Command {
    CLI::App* app = nullptr;
    bool writes = false;
    std::function<void(intake::AdminStore&)> run;
};

class Tool {
public:
    Tool()
        : app_(
              "storefleet: tenants, their store quota and request rate, API tokens and the "
              "audit trail, on the platform's Postgres (STOREFLEET_PG_URL)") {
        app_.name("storefleet");
        app_.set_version_flag("--version", STOREFLEET_VERSION);
        app_.add_flag("--json", in_.json, "print JSON instead of text");
        app_.require_subcommand(1);
        app_.footer("Environment: STOREFLEET_PG_URL (required for every command).");
        AddTenantCommands();
        AddTokenCommands();
        AddReadCommands();
    }

    // Parses argv; returns the exit code when the tool is done already (help, version, a wrong
    // argument), nothing when a command is to run.
    std::optional<int> Parse(int argc, char** argv) {
        try {
            app_.parse(argc, argv);
        } catch (const CLI::CallForHelp& e) {
            return app_.exit(e);  // usage on stdout, 0
        } catch (const CLI::CallForAllHelp& e) {
            return app_.exit(e);
        } catch (const CLI::CallForVersion& e) {
            return app_.exit(e);
        } catch (const CLI::ParseError& e) {
            std::cerr << "storefleet: " << e.what() << "\nRun 'storefleet --help' for usage.\n";
            return 2;
        }
        // `storefleet tenant` alone. (Not require_subcommand: with it, `tenant rename` would say
        // only that a subcommand is required instead of naming what was not understood.)
        for (const CLI::App* group : groups_) {
            if (group->parsed() && group->get_subcommands().empty()) {
                std::string names;
                for (const CLI::App* each : group->get_subcommands({})) {
                    names += (names.empty() ? "" : ", ") + each->get_name();
                }
                std::cerr << "storefleet: " << group->get_name() << " needs a command: " << names
                          << "\nRun 'storefleet " << group->get_name() << " --help' for usage.\n";
                return 2;
            }
        }
        return std::nullopt;
    }

    // The command the operator chose.
    const Command& Chosen() const {
        for (const auto& command : commands_) {
            if (command.app->parsed()) return command;
        }
        throw std::logic_error("no command parsed");
    }

private:
    void Print(const nlohmann::json& json, const std::string& text) const {
        std::cout << (in_.json ? json.dump(2) + "\n" : text);
    }

    void PrintIssued(const intake::IssuedToken& issued) const {
        std::cerr << "Token " << issued.info.token_id << " (" << issued.info.name << ", "
                  << issued.info.role << ") for tenant " << issued.info.tenant_id
                  << ". It is shown this once; only its SHA-256 is kept.\n";
        Print(intake::ToJson(issued), issued.token + "\n");
    }

    CLI::App* Add(CLI::App* parent, const std::string& name, const std::string& what, bool writes,
                  std::function<void(intake::AdminStore&)> run) {
        CLI::App* app = parent->add_subcommand(name, what);
        commands_.push_back({app, writes, std::move(run)});
        return app;
    }

    void AddTenantCommands() {
        CLI::App* tenant =
            app_.add_subcommand("tenant", "tenants: their store quota and request rate");
        groups_.push_back(tenant);

        CLI::App* create = Add(tenant, "create", "create a tenant", true, [this](auto& admin) {
            auto created = Ok(admin.CreateTenant(Actor(), in_.tenant_id, in_.quota, in_.rate));
            Print(intake::ToJson(created), TenantLine(created));
        });
        create->add_option("ID", in_.tenant_id, "the tenant's id (a DNS label)")->required();
        create->add_option("--quota", in_.quota, "live stores allowed")
            ->check(CLI::Range(0, 1000000))
            ->capture_default_str();
        create->add_option("--rate", in_.rate, "requests per second (0: the default)")
            ->check(CLI::Range(0.0, 1000000.0))
            ->capture_default_str();

        Add(tenant, "list", "every tenant with its stores, quota and rate", false,
            [this](auto& admin) {
                nlohmann::json all = nlohmann::json::array();
                std::string text;
                for (const auto& each : admin.ListTenants()) {
                    all.push_back(intake::ToJson(each));
                    text += TenantLine(each);
                }
                Print(all, text);
            });

        CLI::App* set =
            Add(tenant, "set", "change a tenant's quota or rate", true, [this](auto& admin) {
                std::optional<int> new_quota;
                std::optional<double> new_rate;
                if (quota_given_->count() > 0) new_quota = in_.quota;
                if (rate_given_->count() > 0) new_rate = in_.rate;
                auto updated = Ok(admin.UpdateTenant(Actor(), in_.tenant_id, new_quota, new_rate));
                Print(intake::ToJson(updated), TenantLine(updated));
            });
        set->add_option("ID", in_.tenant_id, "the tenant's id")->required();
        quota_given_ = set->add_option("--quota", in_.quota, "live stores allowed")
                           ->check(CLI::Range(0, 1000000));
        rate_given_ = set->add_option("--rate", in_.rate, "requests per second (0: the default)")
                          ->check(CLI::Range(0.0, 1000000.0));
    }

    void AddTokenCommands() {
        CLI::App* token = app_.add_subcommand("token", "API tokens: issue, list, rotate, revoke");
        groups_.push_back(token);

        CLI::App* issue = Add(
            token, "issue", "issue a token; it is printed once, only its hash is kept", true,
            [this](auto& admin) {
                std::optional<std::chrono::seconds> ttl;
                if (!in_.expires_in.empty()) ttl = Duration(in_.expires_in);
                PrintIssued(Ok(admin.IssueToken(Actor(), in_.tenant_id, in_.name, in_.admin, ttl)));
            });
        issue->add_option("TENANT", in_.tenant_id, "the tenant the token acts for")->required();
        issue->add_option("--name", in_.name, "what the token is for (shown in lists)")->required();
        issue->add_flag("--admin", in_.admin, "an admin token (the admin API, every tenant)");
        issue->add_option("--expires-in", in_.expires_in, "a lifetime: 90d, 12h, 30m or 600s")
            ->check(
                [](const std::string& text) {
                    try {
                        Duration(text);
                        return std::string();
                    } catch (const std::invalid_argument& error) {
                        return std::string(error.what());
                    }
                },
                "DURATION");

        CLI::App* list = Add(token, "list", "a tenant's tokens (never their secrets)", false,
                             [this](auto& admin) {
                                 nlohmann::json all = nlohmann::json::array();
                                 std::string text;
                                 for (const auto& each : Ok(admin.ListTokens(in_.tenant_id))) {
                                     all.push_back(intake::ToJson(each));
                                     text += TokenLine(each);
                                 }
                                 Print(all, text);
                             });
        list->add_option("TENANT", in_.tenant_id, "the tenant")->required();

        CLI::App* rotate =
            Add(token, "rotate", "revoke a token and print its replacement once", true,
                [this](auto& admin) { PrintIssued(Ok(admin.RotateToken(Actor(), in_.token_id))); });
        rotate->add_option("TOKEN_ID", in_.token_id, "the token's id (from token list)")
            ->required();

        CLI::App* revoke = Add(
            token, "revoke", "stop a token; within a second everywhere", true, [this](auto& admin) {
                auto revoked = admin.RevokeToken(Actor(), in_.token_id);
                if (!revoked.ok()) throw std::runtime_error(revoked.error().message);
                Print({{"revoked", in_.token_id}}, "revoked " + in_.token_id + "\n");
            });
        revoke->add_option("TOKEN_ID", in_.token_id, "the token's id (from token list)")
            ->required();
    }

    void AddReadCommands() {
        CLI::App* stores = Add(&app_, "stores", "a tenant's stores", false, [this](auto& admin) {
            auto found = Ok(admin.TenantStores(in_.tenant_id, stores_limit_));
            std::string text;
            for (const auto& store : found) {
                text += store["id"].template get<std::string>() + "\t" +
                        store["name"].template get<std::string>() + "\t" +
                        store["engine"].template get<std::string>() + "\t" +
                        store["status"].template get<std::string>() + "\n";
            }
            Print(found, text);
        });
        stores->add_option("TENANT", in_.tenant_id, "the tenant")->required();
        stores->add_option("--limit", stores_limit_, "at most this many")
            ->check(CLI::Range(1, 10000))
            ->capture_default_str();

        CLI::App* audit =
            Add(&app_, "audit", "who changed what, newest first", false, [this](auto& admin) {
                nlohmann::json all = nlohmann::json::array();
                std::string text;
                for (const auto& entry : admin.Audit(audit_limit_, in_.tenant_id)) {
                    all.push_back(intake::ToJson(entry));
                    text += entry.at + "\t" + entry.actor + "\t" + entry.action + "\t" +
                            entry.tenant_id + "\t" + entry.target + "\t" + entry.detail + "\n";
                }
                Print(all, text);
            });
        audit->add_option("--tenant", in_.tenant_id, "only this tenant's entries");
        audit->add_option("--limit", audit_limit_, "at most this many")
            ->check(CLI::Range(1, 10000))
            ->capture_default_str();
    }

    CLI::App app_;
    Inputs in_;
    std::vector<Command> commands_;
    std::vector<CLI::App*> groups_;  // tenant, token: each needs one of its commands
    CLI::Option* quota_given_ = nullptr;
    CLI::Option* rate_given_ = nullptr;
    int stores_limit_ = 100;
    int audit_limit_ = 50;
};

int RunTool(int argc, char** argv) {
    Tool tool;
    if (auto done = tool.Parse(argc, argv)) return *done;
    const Command& command = tool.Chosen();

    const char* url = std::getenv("STOREFLEET_PG_URL");
    if (url == nullptr || *url == '\0') {
        std::cerr << "storefleet: set STOREFLEET_PG_URL to the platform's Postgres\n";
        return 2;
    }
    // The output is for the operator; logs only when something is wrong.
    log::Init("storefleet-cli", "warn");
    try {
        pg::Pool pool(url, 1);
        if (command.writes) {
            intake::IntakeStore(pool, "unused").Migrate();  // a fresh database gets intake's tables
        } else if (intake::IntakeStore(pool, "unused").AppliedSchemaVersion() == 0) {
            std::cerr
                << "storefleet: this database has no intake tables yet (intake creates them "
                   "when it starts, or `storefleet-intake --migrate-only`); nothing changed\n";
            return 1;
        }
        intake::AdminStore admin(pool);
        command.run(admin);
        return 0;
    } catch (const std::invalid_argument& error) {
        std::cerr << "storefleet: " << error.what() << "\n";
        return 2;
    } catch (const std::exception& error) {
        std::cerr << "storefleet: " << error.what() << "\n";
        return 1;
    }
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return RunTool(argc, argv);
    } catch (const std::exception& error) {  // CLI11 building its parser, say
        std::fputs(("storefleet: " + std::string(error.what()) + "\n").c_str(), stderr);
        return 1;
    } catch (...) {
        std::fputs("storefleet: unexpected error\n", stderr);
        return 1;
    }
}
