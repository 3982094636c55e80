#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "storefleet/common/result.hpp"
#include "storefleet/pg/pool.hpp"

namespace storefleet::intake {

struct TenantInfo {
    std::string id;
    int store_quota = 0;
    int live_stores = 0;
    double rate_per_second = 0;  // 0: the service's default
    std::string created_at;      // RFC 3339
};

struct TokenInfo {
    std::string token_id;
    std::string tenant_id;
    std::string name;
    std::string role;  // "tenant" or "admin"
    std::string created_at;
    std::string expires_at;  // "" when it never expires
    std::string revoked_at;  // "" while it works
};

// A token just issued: the only time its secret is shown. Only its SHA-256 is stored.
struct IssuedToken {
    TokenInfo info;
    std::string token;
};

struct AuditEntry {
    int64_t id = 0;
    std::string at;
    std::string actor;
    std::string action;
    std::string tenant_id;
    std::string target;
    std::string detail;  // JSON
};

// Tenants, their quotas and rates, their API tokens, and the audit trail of every change to
// them, in intake's schema. Used by the `storefleet` admin tool and by intake's admin
// endpoints alike, so both do the same thing and write the same audit rows (in the same
// transaction as the change). `actor` names who acts: "cli:<user>" or "token:<token id>".
// Thread-safe (each call takes its own pooled connection). Expected refusals are Errors:
// invalid_request (with the field), not_found, conflict.
class AdminStore {
public:
    explicit AdminStore(pg::Pool& pool) : pool_(pool) {}

    Result<TenantInfo> CreateTenant(const std::string& actor, const std::string& tenant_id,
                                    int store_quota, double rate_per_second);
    std::vector<TenantInfo> ListTenants();
    Result<TenantInfo> UpdateTenant(const std::string& actor, const std::string& tenant_id,
                                    std::optional<int> store_quota,
                                    std::optional<double> rate_per_second);
    // `ttl`: none for a token that never expires.
    Result<IssuedToken> IssueToken(const std::string& actor, const std::string& tenant_id,
                                   const std::string& name, bool admin,
                                   std::optional<std::chrono::seconds> ttl);
    Result<std::vector<TokenInfo>> ListTokens(const std::string& tenant_id);
    // Revokes the token and issues a new one with the same tenant, name, role and lifetime.
    Result<IssuedToken> RotateToken(const std::string& actor, const std::string& token_id);
    Status RevokeToken(const std::string& actor, const std::string& token_id);
    // A tenant's stores not yet deleted (ledger and read model), newest first: id, tenant_id,
    // name, engine, plan, status, created_at. Every tenant's when `tenant_id` is empty.
    Result<std::vector<nlohmann::json>> TenantStores(const std::string& tenant_id, int limit);
    // Newest first; of one tenant when `tenant_id` is set.
    std::vector<AuditEntry> Audit(int limit, const std::string& tenant_id = "");

    // Tenant ids go into store host names: DNS labels of 1-30 characters.
    static bool ValidTenantId(const std::string& id);

private:
    pg::Pool& pool_;
};

}  // namespace storefleet::intake

namespace storefleet::intake {

// The JSON the admin API and `storefleet --json` show. A token's secret appears only in
// an IssuedToken's JSON (as "token"), never in a listing.
nlohmann::json ToJson(const TenantInfo& tenant);
nlohmann::json ToJson(const TokenInfo& token);
nlohmann::json ToJson(const IssuedToken& issued);
nlohmann::json ToJson(const AuditEntry& entry);

}  // namespace storefleet::intake
