#pragma once

#include "config.hpp"
#include "intake_store.hpp"

namespace storefleet::intake {

// The bootstrap tenant and the platform's admin from their token files (config): each is
// created once and never revived, so an admin's revocation, rotation or quota change
// outlives every restart (IntakeStore::SeedTenant). A token file that is missing or too
// short throws std::runtime_error naming the file.
void SeedBootstrapTenants(IntakeStore& store, const IntakeConfig& config);

}  // namespace storefleet::intake
