// storefleet: the operator's command-line tool for tenants, their quotas and rates, their API
// tokens and the audit trail, run against the platform's Postgres (STOREFLEET_PG_URL). Every
// change is written to the audit trail with the actor "cli:<user>".
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "admin_store.hpp"
#include "intake_store.hpp"
#include "storefleet/common/log.hpp"

using namespace storefleet;

namespace {

constexpr const char* kUsage = R"(usage: storefleet [--json] COMMAND ...

  tenant create ID [--quota N] [--rate R]     a tenant (quota: stores; rate: requests/s, 0 = default)
  tenant list
  tenant set ID [--quota N] [--rate R]
  token issue TENANT --name NAME [--admin] [--expires-in 90d|12h|30m|600s]
                                              prints the token once; only its hash is kept
  token list TENANT
  token rotate TOKEN_ID                       revokes it and prints its replacement once
  token revoke TOKEN_ID                       stops working within a second everywhere
  stores TENANT [--limit N]
  audit [--tenant ID] [--limit N]

Environment: STOREFLEET_PG_URL (required).
)";

struct Args {
    std::vector<std::string> positional;
    std::map<std::string, std::string> options;  // --name value; flags map to "true"
    bool json = false;
};

Args Parse(int argc, char** argv) {
    Args args;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg == "--json") {
            args.json = true;
        } else if (arg == "--admin") {
            args.options["admin"] = "true";
        } else if (arg.rfind("--", 0) == 0) {
            if (i + 1 >= argc) throw std::invalid_argument(arg + " needs a value");
            args.options[arg.substr(2)] = argv[++i];
        } else {
            args.positional.push_back(arg);
        }
    }
    return args;
}

std::optional<std::string> Option(const Args& args, const std::string& name) {
    auto found = args.options.find(name);
    return found == args.options.end() ? std::nullopt : std::optional<std::string>(found->second);
}

// The whole of `text` as a T (int64_t or double); otherwise std::invalid_argument naming `what`.
template <typename T>
T Parse(const std::string& text, const std::string& what) {
    std::size_t used = 0;
    T value{};
    try {
        if constexpr (std::is_integral_v<T>) {
            value = std::stoll(text, &used);
        } else {
            value = std::stod(text, &used);
        }
    } catch (const std::exception&) {
        used = 0;
    }
    if (used != text.size() || text.empty()) {
        throw std::invalid_argument(
            what + (std::is_integral_v<T> ? " must be a whole number" : " must be a number") +
            ", got '" + text + "'");
    }
    return value;
}
int64_t Number(const std::string& text, const std::string& what) {
    return Parse<int64_t>(text, what);
}
double Decimal(const std::string& text, const std::string& what) {
    return Parse<double>(text, what);
}

// "90d", "12h", "30m", "600s" (or plain seconds).
std::chrono::seconds Duration(const std::string& text) {
    if (text.empty()) throw std::invalid_argument("--expires-in needs a duration like 90d");
    const char unit = text.back();
    const std::map<char, int64_t> seconds_per = {{'d', 86400}, {'h', 3600}, {'m', 60}, {'s', 1}};
    if (auto found = seconds_per.find(unit); found != seconds_per.end()) {
        return std::chrono::seconds(Number(text.substr(0, text.size() - 1), "--expires-in") *
                                    found->second);
    }
    return std::chrono::seconds(Number(text, "--expires-in"));
}

std::string Actor() {
    const char* user = std::getenv("SUDO_USER");
    if (user == nullptr) user = std::getenv("USER");
    return std::string("cli:") + (user != nullptr ? user : std::to_string(::getuid()));
}

void Need(const Args& args, std::size_t count) {
    if (args.positional.size() < count) throw std::invalid_argument("missing arguments");
}

template <typename T>
T Ok(Result<T> result) {
    if (!result.ok()) {
        throw std::runtime_error(result.error().message);
    }
    return std::move(result).value();
}

int Run(const Args& args, intake::AdminStore& admin) {
    Need(args, 1);
    const std::string& group = args.positional[0];
    const std::string command = args.positional.size() > 1 ? args.positional[1] : "";
    const std::string actor = Actor();
    auto print = [&](const nlohmann::json& json, const std::string& text) {
        if (args.json) {
            std::cout << json.dump(2) << "\n";
        } else {
            std::cout << text;
        }
    };
    auto quota = [&]() -> std::optional<int> {
        if (auto text = Option(args, "quota")) return static_cast<int>(Number(*text, "--quota"));
        return std::nullopt;
    };
    auto rate = [&]() -> std::optional<double> {
        if (auto text = Option(args, "rate")) return Decimal(*text, "--rate");
        return std::nullopt;
    };
    auto tenant_line = [](const intake::TenantInfo& t) {
        return t.id + "\tquota " + std::to_string(t.live_stores) + "/" +
               std::to_string(t.store_quota) + "\trate " +
               (t.rate_per_second > 0 ? std::to_string(t.rate_per_second) + "/s"
                                      : std::string("default")) +
               "\n";
    };
    auto token_line = [](const intake::TokenInfo& t) {
        return t.token_id + "\t" + t.name + "\t" + t.role + "\tcreated " + t.created_at +
               (t.expires_at.empty() ? "" : "\texpires " + t.expires_at) +
               (t.revoked_at.empty() ? "" : "\tREVOKED " + t.revoked_at) + "\n";
    };
    auto issued_text = [&](const intake::IssuedToken& issued) {
        std::cerr << "Token " << issued.info.token_id << " (" << issued.info.name << ", "
                  << issued.info.role << ") for tenant " << issued.info.tenant_id
                  << ". It is shown this once; only its SHA-256 is kept.\n";
        return issued.token + "\n";
    };

    if (group == "tenant" && command == "create") {
        Need(args, 3);
        auto tenant = Ok(admin.CreateTenant(actor, args.positional[2], quota().value_or(10),
                                            rate().value_or(0)));
        print(ToJson(tenant), tenant_line(tenant));
    } else if (group == "tenant" && command == "list") {
        nlohmann::json all = nlohmann::json::array();
        std::string text;
        for (const auto& tenant : admin.ListTenants()) {
            all.push_back(ToJson(tenant));
            text += tenant_line(tenant);
        }
        print(all, text);
    } else if (group == "tenant" && command == "set") {
        Need(args, 3);
        auto tenant = Ok(admin.UpdateTenant(actor, args.positional[2], quota(), rate()));
        print(ToJson(tenant), tenant_line(tenant));
    } else if (group == "token" && command == "issue") {
        Need(args, 3);
        auto name = Option(args, "name");
        if (!name) throw std::invalid_argument("token issue needs --name");
        std::optional<std::chrono::seconds> ttl;
        if (auto text = Option(args, "expires-in")) ttl = Duration(*text);
        auto issued = Ok(admin.IssueToken(actor, args.positional[2], *name,
                                          Option(args, "admin").has_value(), ttl));
        print(ToJson(issued), issued_text(issued));
    } else if (group == "token" && command == "list") {
        Need(args, 3);
        nlohmann::json all = nlohmann::json::array();
        std::string text;
        for (const auto& token : Ok(admin.ListTokens(args.positional[2]))) {
            all.push_back(ToJson(token));
            text += token_line(token);
        }
        print(all, text);
    } else if (group == "token" && command == "rotate") {
        Need(args, 3);
        auto issued = Ok(admin.RotateToken(actor, args.positional[2]));
        print(ToJson(issued), issued_text(issued));
    } else if (group == "token" && command == "revoke") {
        Need(args, 3);
        auto revoked = admin.RevokeToken(actor, args.positional[2]);
        if (!revoked.ok()) throw std::runtime_error(revoked.error().message);
        print({{"revoked", args.positional[2]}}, "revoked " + args.positional[2] + "\n");
    } else if (group == "stores") {
        Need(args, 2);
        const int limit =
            static_cast<int>(Number(Option(args, "limit").value_or("100"), "--limit"));
        auto stores = Ok(admin.TenantStores(args.positional[1], limit));
        std::string text;
        for (const auto& store : stores) {
            text += store["id"].get<std::string>() + "\t" + store["name"].get<std::string>() +
                    "\t" + store["engine"].get<std::string>() + "\t" +
                    store["status"].get<std::string>() + "\n";
        }
        print(stores, text);
    } else if (group == "audit") {
        const int limit = static_cast<int>(Number(Option(args, "limit").value_or("50"), "--limit"));
        nlohmann::json all = nlohmann::json::array();
        std::string text;
        for (const auto& entry : admin.Audit(limit, Option(args, "tenant").value_or(""))) {
            all.push_back(ToJson(entry));
            text += entry.at + "\t" + entry.actor + "\t" + entry.action + "\t" + entry.tenant_id +
                    "\t" + entry.target + "\t" + entry.detail + "\n";
        }
        print(all, text);
    } else {
        std::cerr << kUsage;
        return 2;
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    Args args;
    try {
        args = Parse(argc, argv);
    } catch (const std::exception& error) {
        std::cerr << "storefleet: " << error.what() << "\n" << kUsage;
        return 2;
    }
    if (args.positional.empty() || args.positional[0] == "help" || Option(args, "help")) {
        std::cerr << kUsage;
        return args.positional.empty() ? 2 : 0;
    }
    const char* url = std::getenv("STOREFLEET_PG_URL");
    if (url == nullptr || *url == '\0') {
        std::cerr << "storefleet: set STOREFLEET_PG_URL to the platform's Postgres\n";
        return 2;
    }
    log::Init("storefleet-cli",
              "warn");  // the output is for the operator; logs only when something is wrong
    try {
        pg::Pool pool(url, 1);
        intake::IntakeStore(pool, "unused").Migrate();  // a fresh database gets intake's tables
        intake::AdminStore admin(pool);
        return Run(args, admin);
    } catch (const std::invalid_argument& error) {
        std::cerr << "storefleet: " << error.what() << "\n" << kUsage;
        return 2;
    } catch (const std::exception& error) {
        std::cerr << "storefleet: " << error.what() << "\n";
        return 1;
    }
}
