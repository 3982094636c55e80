#include "bootstrap.hpp"

#include "storefleet/common/log.hpp"

namespace storefleet::intake {
namespace {

void Seed(IntakeStore& store, const std::string& tenant, const std::string& file, int quota,
          bool admin) {
    const auto outcome = store.SeedTenant(tenant, ReadTokenFile(file), quota, admin);
    if (outcome == IntakeStore::SeedOutcome::kTokenRevoked) {
        log::Warn(
            "the token in the bootstrap token file was revoked by an admin and stays revoked; "
            "put a new token in the file to replace it",
            {{"tenant", tenant}, {"file", file}});
        return;
    }
    log::Info(outcome == IntakeStore::SeedOutcome::kTokenAdded ? "bootstrap token added"
                                                               : "bootstrap token unchanged",
              {{"tenant", tenant}});
}

}  // namespace

void SeedBootstrapTenants(IntakeStore& store, const IntakeConfig& config) {
    if (!config.bootstrap_tenant.empty()) {
        Seed(store, config.bootstrap_tenant, config.bootstrap_token_file, config.bootstrap_quota,
             false);
    }
    // The platform's own tenant holds the admin token; it has no store quota.
    if (!config.bootstrap_admin_token_file.empty())
        Seed(store, "platform", config.bootstrap_admin_token_file, 0, true);
}

}  // namespace storefleet::intake
