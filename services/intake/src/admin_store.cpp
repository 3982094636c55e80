#include "admin_store.hpp"

#include <nlohmann/json.hpp>

#include <sstream>

#include "store_request.hpp"
#include "storefleet/common/ids.hpp"

namespace storefleet::intake {
namespace {

#define RFC3339(column) \
    "coalesce(to_char(" column " at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), '')"

constexpr const char* kTenantColumns =
    "id, store_quota, live_stores, coalesce(rate_per_second, 0)::float8, " RFC3339("created_at");
constexpr const char* kTokenColumns = "token_id::text, tenant_id, name, role, " RFC3339(
    "created_at") ", " RFC3339("expires_at") ", " RFC3339("revoked_at");

constexpr const char* kAudit =
    "insert into intake.audit_log (actor, action, tenant_id, target, detail) values ($1, $2, $3, "
    "$4, $5::jsonb)";

TenantInfo TenantFrom(const pqxx::row& r) {
    return {r[0].as<std::string>(), r[1].as<int>(), r[2].as<int>(), r[3].as<double>(),
            r[4].as<std::string>()};
}

TokenInfo TokenFrom(const pqxx::row& r) {
    return {r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<std::string>(),
            r[3].as<std::string>(), r[4].as<std::string>(), r[5].as<std::string>(),
            r[6].as<std::string>()};
}

// libpqxx 6 sends a null `const char*` as SQL NULL: nullable parameters pass through here.
template <typename T>
std::optional<std::string> Text(const std::optional<T>& value) {
    if (!value) return std::nullopt;
    std::ostringstream out;
    out.precision(17);
    out << *value;
    return out.str();
}
const char* OrNull(const std::optional<std::string>& text) {
    return text ? text->c_str() : nullptr;
}

Error NoTenant(const std::string& id) {
    return Error::Permanent("not_found", "no tenant '" + id.substr(0, 64) + "'");
}

std::optional<Error> CheckQuotaAndRate(std::optional<int> quota, std::optional<double> rate) {
    if (quota && (*quota < 0 || *quota > 1'000'000)) {
        return Error::Invalid("store_quota",
                              "store_quota must be a whole number from 0 to 1000000");
    }
    if (rate && (*rate < 0 || *rate > 100'000)) {
        return Error::Invalid("rate_per_second",
                              "rate_per_second must be from 0 (the default) to 100000");
    }
    return std::nullopt;
}

// Inserts a new token (a fresh secret, "sf_" + 32 random bytes: the prefix makes a leaked
// token easy to recognise for secret scanners) living `lifetime_seconds` (text; empty:
// forever). Only its hash is stored; the secret is returned once.
IssuedToken InsertToken(pqxx::work& txn, const std::string& tenant_id, const std::string& name,
                        const std::string& role, const std::optional<std::string>& lifetime) {
    IssuedToken issued;
    issued.token = "sf_" + RandomHex(32);
    auto rows = txn.exec_params(
        std::string("insert into intake.api_tokens (token_id, tenant_id, name, role, "
                    "token_sha256, expires_at) "
                    "values ($1::uuid, $2, $3, $4, $5, case when $6::bigint is null then null "
                    "else now() + make_interval(secs => $6::bigint) end) returning ") +
            kTokenColumns,
        NewUuid(), tenant_id, name, role, Sha256Hex(issued.token), OrNull(lifetime));
    issued.info = TokenFrom(rows[0]);
    return issued;
}

}  // namespace

bool AdminStore::ValidTenantId(const std::string& id) { return IsDnsLabel(id, 30); }

Result<TenantInfo> AdminStore::CreateTenant(const std::string& actor, const std::string& tenant_id,
                                            int store_quota, double rate_per_second) {
    if (!ValidTenantId(tenant_id)) {
        return Error::Invalid(
            "id",
            "a tenant id is 1-30 characters of a-z, 0-9 and '-', not starting or ending with '-'");
    }
    if (auto error = CheckQuotaAndRate(store_quota, rate_per_second)) return *error;
    return pool_.WithTransaction([&](pqxx::work& txn) -> Result<TenantInfo> {
        auto rows = txn.exec_params(
            std::string(
                "insert into intake.tenants (id, store_quota, rate_per_second) "
                "values ($1, $2, nullif($3::float8, 0)) on conflict do nothing returning ") +
                kTenantColumns,
            tenant_id, store_quota, rate_per_second);
        if (rows.empty())
            return Error{ErrorKind::kPermanent, "conflict", "tenant '" + tenant_id + "' exists",
                         "id"};
        txn.exec_params(
            kAudit, actor, "tenant.create", tenant_id, tenant_id,
            nlohmann::json{{"store_quota", store_quota}, {"rate_per_second", rate_per_second}}
                .dump());
        return TenantFrom(rows[0]);
    });
}

std::vector<TenantInfo> AdminStore::ListTenants() {
    return pool_.WithoutTransaction([&](pqxx::nontransaction& session) {
        std::vector<TenantInfo> tenants;
        for (const auto& row : session.exec(std::string("select ") + kTenantColumns +
                                            " from intake.tenants order by id")) {
            tenants.push_back(TenantFrom(row));
        }
        return tenants;
    });
}

Result<TenantInfo> AdminStore::UpdateTenant(const std::string& actor, const std::string& tenant_id,
                                            std::optional<int> store_quota,
                                            std::optional<double> rate_per_second) {
    if (auto error = CheckQuotaAndRate(store_quota, rate_per_second)) return *error;
    if (!store_quota && !rate_per_second) {
        return Error::Invalid("store_quota", "give store_quota, rate_per_second or both");
    }
    const auto quota_text = Text(store_quota);
    const auto rate_text = Text(rate_per_second);
    return pool_.WithTransaction([&](pqxx::work& txn) -> Result<TenantInfo> {
        auto rows = txn.exec_params(
            std::string("update intake.tenants set store_quota = coalesce($2::int, store_quota), "
                        "rate_per_second = case when $3::float8 is null then rate_per_second "
                        "else nullif($3::float8, 0) end where id = $1 returning ") +
                kTenantColumns,
            tenant_id, OrNull(quota_text), OrNull(rate_text));
        if (rows.empty()) return NoTenant(tenant_id);
        nlohmann::json detail = nlohmann::json::object();
        if (store_quota) detail["store_quota"] = *store_quota;
        if (rate_per_second) detail["rate_per_second"] = *rate_per_second;
        txn.exec_params(kAudit, actor, "tenant.update", tenant_id, tenant_id, detail.dump());
        return TenantFrom(rows[0]);
    });
}

Result<IssuedToken> AdminStore::IssueToken(const std::string& actor, const std::string& tenant_id,
                                           const std::string& name, bool admin,
                                           std::optional<std::chrono::seconds> ttl) {
    if (name.empty() || name.size() > 64)
        return Error::Invalid("name", "a token's name is 1-64 characters");
    if (ttl && (ttl->count() < 60 || ttl->count() > 10LL * 365 * 86400)) {
        return Error::Invalid("expires_in_seconds",
                              "a token lives from 60 s to 10 years (or forever: leave it out)");
    }
    const auto ttl_text = Text(ttl ? std::optional<int64_t>(ttl->count()) : std::nullopt);
    return pool_.WithTransaction([&](pqxx::work& txn) -> Result<IssuedToken> {
        if (txn.exec_params("select 1 from intake.tenants where id = $1", tenant_id).empty())
            return NoTenant(tenant_id);
        IssuedToken issued =
            InsertToken(txn, tenant_id, name, admin ? "admin" : "tenant", ttl_text);
        txn.exec_params(
            kAudit, actor, "token.issue", tenant_id, issued.info.token_id,
            nlohmann::json{
                {"name", name}, {"role", issued.info.role}, {"expires_at", issued.info.expires_at}}
                .dump());
        return issued;
    });
}

Result<std::vector<TokenInfo>> AdminStore::ListTokens(const std::string& tenant_id) {
    return pool_.WithoutTransaction([&](pqxx::nontransaction& session)
                                        -> Result<std::vector<TokenInfo>> {
        if (session.exec_params("select 1 from intake.tenants where id = $1", tenant_id).empty())
            return NoTenant(tenant_id);
        std::vector<TokenInfo> tokens;
        for (const auto& row : session.exec_params(
                 std::string("select ") + kTokenColumns +
                     " from intake.api_tokens where tenant_id = $1 order by created_at",
                 tenant_id)) {
            tokens.push_back(TokenFrom(row));
        }
        return tokens;
    });
}

Status AdminStore::RevokeToken(const std::string& actor, const std::string& token_id) {
    if (!IsUuid(token_id))
        return Error::Permanent("not_found", "no token '" + token_id.substr(0, 64) + "'");
    return pool_.WithTransaction([&](pqxx::work& txn) -> Status {
        auto rows = txn.exec_params(
            "update intake.api_tokens set revoked_at = coalesce(revoked_at, now()) where token_id "
            "= $1::uuid "
            "returning tenant_id",
            token_id);
        if (rows.empty()) return Error::Permanent("not_found", "no token '" + token_id + "'");
        txn.exec_params(kAudit, actor, "token.revoke", rows[0][0].as<std::string>(), token_id,
                        "{}");
        return Status::Ok();
    });
}

Result<IssuedToken> AdminStore::RotateToken(const std::string& actor, const std::string& token_id) {
    if (!IsUuid(token_id))
        return Error::Permanent("not_found", "no token '" + token_id.substr(0, 64) + "'");
    return pool_.WithTransaction([&](pqxx::work& txn) -> Result<IssuedToken> {
        auto old = txn.exec_params(
            "update intake.api_tokens set revoked_at = now() where token_id = $1::uuid and "
            "revoked_at is null "
            "returning tenant_id, name, role, extract(epoch from expires_at - created_at)::bigint",
            token_id);
        if (old.empty())
            return Error::Permanent("not_found", "no working token '" + token_id + "'");
        const auto lifetime = old[0][3].is_null()
                                  ? std::nullopt
                                  : std::optional<std::string>(old[0][3].as<std::string>());
        IssuedToken issued =
            InsertToken(txn, old[0][0].as<std::string>(), old[0][1].as<std::string>(),
                        old[0][2].as<std::string>(), lifetime);
        txn.exec_params(kAudit, actor, "token.rotate", issued.info.tenant_id, token_id,
                        nlohmann::json{{"new_token_id", issued.info.token_id}}.dump());
        return issued;
    });
}

Result<std::vector<nlohmann::json>> AdminStore::TenantStores(const std::string& tenant_id,
                                                             int limit) {
    return pool_.WithoutTransaction([&](pqxx::nontransaction& session)
                                        -> Result<std::vector<nlohmann::json>> {
        if (!tenant_id.empty() &&
            session.exec_params("select 1 from intake.tenants where id = $1", tenant_id).empty()) {
            return NoTenant(tenant_id);
        }
        // The status a client sees (the read model's stores_seen, which merges its row with
        // the ledger's), for the tenant's newest stores in the ledger.
        auto rows = session.exec_params(
            "select s.store_id, s.name, s.engine, s.plan, s.status, " RFC3339("i.created_at")
            ", i.tenant_id from (select store_id, tenant_id, created_at from intake.stores "
            "where ($1 = '' or tenant_id = $1) and state <> 'deleted' order by created_at desc limit $2) i "
            "cross join lateral read.stores_seen(array[i.store_id], array[i.tenant_id]) s "
            "order by i.created_at desc",
            tenant_id, limit);
        std::vector<nlohmann::json> stores;
        for (const auto& r : rows) {
            stores.push_back({{"id", r[0].as<std::string>()},
                              {"name", r[1].as<std::string>()},
                              {"engine", r[2].as<std::string>()},
                              {"plan", r[3].as<std::string>()},
                              {"status", r[4].as<std::string>()},
                              {"created_at", r[5].as<std::string>()},
                              {"tenant_id", r[6].as<std::string>()}});
        }
        return stores;
    });
}

std::vector<AuditEntry> AdminStore::Audit(int limit, const std::string& tenant_id) {
    return pool_.WithoutTransaction([&](pqxx::nontransaction& session) {
        std::vector<AuditEntry> entries;
        auto rows = session.exec_params(
            "select id, " RFC3339("at") ", actor, action, coalesce(tenant_id, ''), coalesce(target, ''), detail::text "
            "from intake.audit_log where ($1 = '' or tenant_id = $1) order by id desc limit $2",
            tenant_id, limit);
        for (const auto& r : rows) {
            entries.push_back({r[0].as<int64_t>(), r[1].as<std::string>(), r[2].as<std::string>(),
                               r[3].as<std::string>(), r[4].as<std::string>(),
                               r[5].as<std::string>(), r[6].as<std::string>()});
        }
        return entries;
    });
}

}  // namespace storefleet::intake

namespace storefleet::intake {
namespace {

nlohmann::json TextOrNull(const std::string& text) {
    return text.empty() ? nlohmann::json(nullptr) : nlohmann::json(text);
}

}  // namespace

nlohmann::json ToJson(const TenantInfo& tenant) {
    return {{"id", tenant.id},
            {"store_quota", tenant.store_quota},
            {"live_stores", tenant.live_stores},
            {"rate_per_second",
             tenant.rate_per_second > 0 ? nlohmann::json(tenant.rate_per_second) : nullptr},
            {"created_at", tenant.created_at}};
}

nlohmann::json ToJson(const TokenInfo& token) {
    return {{"id", token.token_id},
            {"tenant_id", token.tenant_id},
            {"name", token.name},
            {"role", token.role},
            {"created_at", token.created_at},
            {"expires_at", TextOrNull(token.expires_at)},
            {"revoked_at", TextOrNull(token.revoked_at)}};
}

nlohmann::json ToJson(const IssuedToken& issued) {
    nlohmann::json json = ToJson(issued.info);
    json["token"] = issued.token;
    return json;
}

nlohmann::json ToJson(const AuditEntry& entry) {
    nlohmann::json detail = nlohmann::json::parse(entry.detail, nullptr, false);
    return {{"id", entry.id},
            {"at", entry.at},
            {"actor", entry.actor},
            {"action", entry.action},
            {"tenant_id", TextOrNull(entry.tenant_id)},
            {"target", TextOrNull(entry.target)},
            {"detail", detail.is_discarded() ? nlohmann::json::object() : detail}};
}

}  // namespace storefleet::intake
