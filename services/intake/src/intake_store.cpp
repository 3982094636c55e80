#include "intake_store.hpp"

#include <algorithm>
#include <future>
#include <stdexcept>

#include "intake_migrations.hpp"
#include "storefleet/common/ids.hpp"
#include "storefleet/common/log.hpp"
#include "storefleet/events/envelope.hpp"
#include "storefleet/events/status.hpp"
#include "storefleet/pg/array_literal.hpp"
#include "storefleet/pg/migrations.hpp"

namespace storefleet::intake {
namespace {

// A token authenticates while it is neither revoked nor expired: the rule is the function
// intake.principal_of_token (migration 9), which the query service calls too.
constexpr const char* kSelectPrincipalByToken =
    "select tenant_id, admin, rate_per_second, token_id from intake.principal_of_token($1)";
// Reserves one store of the quota; no row back means the quota is used up. Run last in
// the transaction so the tenant row stays locked only until the commit.
constexpr const char* kReserveQuota =
    "update intake.tenants set live_stores = live_stores + 1 "
    "where id = $1 and live_stores < store_quota returning live_stores";
// Concurrent creates without an Idempotency-Key, written together (migration 6).
constexpr const char* kCreateStores =
    "select intake.create_stores($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], "
    "$6::text[], "
    "$7::text[], $8, $9::text[])";
constexpr const char* kSelectQuota =
    "select live_stores, store_quota from intake.tenants where id = $1";
// A store is deleted (its namespace is gone): its name and its unit of quota are free.
// Idempotent: a replayed event finds the row deleted already and changes nothing.
constexpr const char* kMarkDeleted = R"SQL(
with gone as (
    update intake.stores set state = 'deleted', deleted_at = now()
    where store_id = $1::uuid and state <> 'deleted' returning tenant_id)
update intake.tenants t set live_stores = greatest(t.live_stores - 1, 0)
from gone where t.id = gone.tenant_id)SQL";
// The provisioner gave up deleting it (a namespace stuck terminating): DELETE may resend.
constexpr const char* kMarkDeletionFailed =
    "update intake.stores set state = 'deletion_failed' where store_id = $1::uuid and state = "
    "'deleting'";
// A tenant named at start (STOREFLEET_BOOTSTRAP_TENANT) is created with the file's quota
// once; later starts leave it as an admin may have changed it.
constexpr const char* kSeedTenant =
    "insert into intake.tenants (id, store_quota) values ($1, $2) on conflict (id) do nothing";
// Serialises replicas seeding the same tenant at once.
constexpr const char* kLockTenant = "select 1 from intake.tenants where id = $1 for update";
constexpr const char* kSelectTokenByHash =
    "select tenant_id, revoked_at is not null from intake.api_tokens where token_sha256 = $1";
// A token file that changed: the token the file held before is revoked. Tokens issued or
// rotated by an admin (from_file false) are not the file's, so they stay.
constexpr const char* kRevokeEarlierFileTokens =
    "update intake.api_tokens set revoked_at = now() "
    "where tenant_id = $1 and from_file and revoked_at is null";
constexpr const char* kInsertFileToken =
    "insert into intake.api_tokens (token_id, tenant_id, name, role, token_sha256, from_file) "
    "values (md5($2)::uuid, $1, 'bootstrap', $3, $2, true)";
constexpr const char* kAuditSeed =
    "insert into intake.audit_log (actor, action, tenant_id, target, detail) "
    "values ('intake-start', 'token.seed', $1, md5($2)::uuid::text, '{\"from\": \"token "
    "file\"}'::jsonb)";
constexpr const char* kPruneIdempotencyKeys =
    "delete from intake.idempotency_keys where created_at < now() - make_interval(secs => $1)";
constexpr const char* kFindIdempotencyKey =
    "select request_sha256, http_status, response::text from intake.idempotency_keys "
    "where tenant_id = $1 and key = $2";
constexpr const char* kInsertIdempotencyKey =
    "insert into intake.idempotency_keys (tenant_id, key, request_sha256, http_status, response) "
    "values ($1, $2, $3, $4, $5::jsonb) on conflict do nothing";
constexpr const char* kInsertStore =
    "insert into intake.stores (store_id, tenant_id, name, engine, plan, host, correlation_id) "
    "values ($1, $2, $3, $4, $5, $6, $7) on conflict do nothing returning store_id";
constexpr const char* kInsertOutbox =
    "insert into intake.outbox (topic, key, payload) values ($1, $2, $3)";
constexpr const char* kSelectStoreForDeletion =
    "select name, state from intake.stores where store_id = $1 and tenant_id = $2 for update";
constexpr const char* kMarkDeleting =
    "update intake.stores set state = 'deleting', deletion_requested_at = now() where store_id = "
    "$1";

// The name was validated on the way in (ValidateStoreRequest).
v1::Engine EngineOf(const std::string& name) {
    return events::ParseEngine(name).value_or(v1::ENGINE_WOOCOMMERCE);
}

// Thrown inside a transaction to roll it back and answer with `error`.
struct Refused {
    Error error;
};

void AddToOutbox(pqxx::work& txn, const v1::Envelope& envelope) {
    txn.exec_params(kInsertOutbox, events::kCommandsTopic, envelope.store_id(),
                    pqxx::binarystring(events::Encode(envelope)));
}

}  // namespace

IntakeStore::IntakeStore(pg::Pool& pool, std::string store_domain)
    : pool_(pool),
      store_domain_(std::move(store_domain)),
      batcher_(std::make_unique<CreateBatcher>(
          [this](const std::vector<CreateItem>& items) { return WriteCreates(items); })) {}

IntakeStore::~IntakeStore() = default;

void IntakeStore::Migrate() {
    auto lease = pool_.Acquire();
    pg::ApplyMigrations(*lease, "intake", Migrations());
}

IntakeStore::SeedOutcome IntakeStore::SeedTenant(const std::string& tenant_id,
                                                 const std::string& token, int store_quota,
                                                 bool admin) {
    const std::string token_sha256 = Sha256Hex(token);
    return pool_.WithTransaction([&](pqxx::work& txn) {
        txn.exec_params(kSeedTenant, tenant_id, store_quota);
        txn.exec_params(kLockTenant, tenant_id);
        auto known = txn.exec_params(kSelectTokenByHash, token_sha256);
        if (!known.empty()) {
            // Seen before: never revived, never moved. A revoked token stays revoked.
            if (known[0][0].as<std::string>() != tenant_id) {
                throw std::runtime_error(
                    "the bootstrap token of tenant '" + tenant_id +
                    "' already belongs to another tenant: give each tenant its own token");
            }
            return known[0][1].as<bool>() ? SeedOutcome::kTokenRevoked : SeedOutcome::kTokenKept;
        }
        txn.exec_params(kRevokeEarlierFileTokens, tenant_id);
        txn.exec_params(kInsertFileToken, tenant_id, token_sha256, admin ? "admin" : "tenant");
        txn.exec_params(kAuditSeed, tenant_id, token_sha256);
        return SeedOutcome::kTokenAdded;
    });
}

std::optional<http::Principal> IntakeStore::Authenticate(const std::string& token_sha256) {
    auto lease = pool_.Acquire();
    try {
        pqxx::nontransaction session(*lease);
        auto rows = session.exec_params(kSelectPrincipalByToken, token_sha256);
        if (rows.empty()) return std::nullopt;
        return http::Principal{rows[0][0].as<std::string>(), rows[0][1].as<bool>(),
                               rows[0][2].as<double>(), rows[0][3].as<std::string>()};
    } catch (const pqxx::broken_connection&) {
        lease.MarkBroken();
        throw;
    }
}

int64_t IntakeStore::PruneIdempotencyKeys(std::chrono::seconds older_than) {
    return pool_.WithTransaction([&](pqxx::work& txn) {
        return static_cast<int64_t>(
            txn.exec_params(kPruneIdempotencyKeys, older_than.count()).affected_rows());
    });
}

namespace {

struct NewStore {
    std::string store_id;
    std::string host;
    v1::Envelope envelope;
    Accepted accepted;
};

NewStore DescribeNewStore(const Tenant& tenant, const StoreRequest& request,
                          const std::string& store_domain, const std::string& correlation_id) {
    NewStore store;
    store.store_id = NewUuid();
    store.host = request.name + "." + tenant.id + "." + store_domain;
    store.envelope = events::NewEnvelope(tenant.id, store.store_id, correlation_id);
    auto* requested = store.envelope.mutable_store_requested();
    requested->set_name(request.name);
    requested->set_engine(EngineOf(request.engine));
    requested->set_plan(request.plan);
    requested->set_host(store.host);
    std::string admin_email = request.admin_email;
    if (admin_email.empty())
        admin_email = "admin@" + (store.host.size() <= 90 ? store.host : store_domain);
    requested->set_admin_email(admin_email);
    requested->set_requested_by(tenant.id);
    if (request.placement != "any") requested->set_placement(request.placement);
    events::SetTypeFromPayload(store.envelope);
    store.accepted = {202,
                      {{"id", store.store_id},
                       {"name", request.name},
                       {"engine", request.engine},
                       {"plan", request.plan},
                       {"host", store.host},
                       {"status", "requested"},
                       {"correlation_id", correlation_id}}};
    return store;
}

Error NameTaken(const Tenant& tenant, const StoreRequest& request) {
    Error error = Error::Permanent(
        "name_taken", "tenant " + tenant.id + " already has a store named '" + request.name + "'");
    error.field = "name";
    return error;
}

template <typename Txn>
Error QuotaError(Txn& txn, const Tenant& tenant) {
    auto quota = txn.exec_params(kSelectQuota, tenant.id);
    if (quota.empty()) return Error::Permanent("unauthorized", "tenant no longer exists");
    return Error::Permanent("quota_exceeded",
                            "tenant " + tenant.id + " already has " +
                                quota[0][0].template as<std::string>() + " of its " +
                                quota[0][1].template as<std::string>() + " stores");
}

}  // namespace

Result<Accepted> IntakeStore::CreateStore(const Tenant& tenant, const StoreRequest& request,
                                          const std::string& idempotency_key,
                                          const std::string& correlation_id) {
    if (idempotency_key.empty()) {
        // The batched path, waited for here (the HTTP API answers from the batcher instead).
        std::promise<Result<Accepted>> answered;
        CreateStoreAsync(tenant, request, correlation_id,
                         [&answered](Result<Accepted> result, const std::exception_ptr& error) {
                             if (error) {
                                 answered.set_exception(error);
                             } else {
                                 answered.set_value(std::move(result));
                             }
                         });
        return answered.get_future().get();
    }
    NewStore store = DescribeNewStore(tenant, request, store_domain_, correlation_id);
    // Placement is part of the request; the default's hash is the one written before placement
    // counted, so keys stored then still match their retries.
    const std::string request_hash = Sha256Hex(
        request.name + "\n" + request.engine + "\n" + request.plan + "\n" + request.admin_email +
        (request.placement == "any" ? "" : "\nplacement=" + request.placement));
    try {
        return pool_.WithTransaction([&](pqxx::work& txn) -> Accepted {
            auto previous = txn.exec_params(kFindIdempotencyKey, tenant.id, idempotency_key);
            if (!previous.empty()) {
                if (previous[0][0].as<std::string>() != request_hash) {
                    throw Refused{Error::Permanent(
                        "idempotency_key_reused",
                        "this Idempotency-Key was used with a different request body")};
                }
                return Accepted{previous[0][1].as<int>(),
                                nlohmann::json::parse(previous[0][2].as<std::string>())};
            }
            auto inserted =
                txn.exec_params(kInsertStore, store.store_id, tenant.id, request.name,
                                request.engine, request.plan, store.host, correlation_id);
            if (inserted.empty()) throw Refused{NameTaken(tenant, request)};
            AddToOutbox(txn, store.envelope);
            auto stored =
                txn.exec_params(kInsertIdempotencyKey, tenant.id, idempotency_key, request_hash,
                                store.accepted.http_status, store.accepted.body.dump());
            if (stored.affected_rows() == 0) {
                throw Refused{Error::Retryable(
                    "idempotency_conflict",
                    "a request with this Idempotency-Key is in progress; retry it")};
            }
            if (txn.exec_params(kReserveQuota, tenant.id).empty())
                throw Refused{QuotaError(txn, tenant)};
            return store.accepted;
        });
    } catch (const Refused& refused) {
        return refused.error;
    }
}

Result<Accepted> IntakeStore::ResultOf(const Tenant& tenant, const StoreRequest& request,
                                       const Accepted& accepted, CreateOutcome outcome) {
    switch (outcome) {
        case CreateOutcome::kCreated:
            return accepted;
        case CreateOutcome::kNameTaken:
            return NameTaken(tenant, request);
        case CreateOutcome::kNoQuota:
            break;
    }
    return pool_.WithoutTransaction(
        [&](pqxx::nontransaction& session) { return QuotaError(session, tenant); });
}

void IntakeStore::CreateStoreAsync(const Tenant& tenant, const StoreRequest& request,
                                   const std::string& correlation_id, CreateDone done) {
    NewStore store = DescribeNewStore(tenant, request, store_domain_, correlation_id);
    CreateItem item{store.store_id, tenant.id,  request.name,   request.engine,
                    request.plan,   store.host, correlation_id, events::Encode(store.envelope)};
    batcher_->SubmitAsync(
        std::move(item),
        [this, tenant, request, accepted = std::move(store.accepted), done = std::move(done)](
            CreateOutcome outcome, const std::exception_ptr& error) {
            if (error) {
                done(Error::Retryable("unavailable", "the create was not written"), error);
                return;
            }
            std::optional<Result<Accepted>> result;
            try {
                result.emplace(ResultOf(tenant, request, accepted, outcome));
            } catch (...) {
                // The quota's wording needs Postgres, which just failed.
                done(Error::Retryable("unavailable", "the create was not written"),
                     std::current_exception());
                return;
            }
            done(std::move(*result), nullptr);
        });
}

namespace {

std::string Hex(const std::string& bytes) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (unsigned char byte : bytes) {
        out += kDigits[byte >> 4];
        out += kDigits[byte & 0xf];
    }
    return out;
}

}  // namespace

std::vector<CreateOutcome> IntakeStore::WriteCreates(const std::vector<CreateItem>& items) {
    // By tenant, so that concurrent batches (other replicas) lock tenant rows in one order.
    std::vector<std::size_t> order(items.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
        return items[a].tenant_id < items[b].tenant_id;
    });
    std::vector<std::string> ids, tenants, names, engines, plans, hosts, correlations, commands;
    for (auto* column :
         {&ids, &tenants, &names, &engines, &plans, &hosts, &correlations, &commands}) {
        column->reserve(items.size());
    }
    for (std::size_t i : order) {
        const CreateItem& item = items[i];
        ids.push_back(item.store_id);
        tenants.push_back(item.tenant_id);
        names.push_back(item.name);
        engines.push_back(item.engine);
        plans.push_back(item.plan);
        hosts.push_back(item.host);
        correlations.push_back(item.correlation_id);
        commands.push_back(Hex(item.command));
    }
    using pg::ArrayLiteral;
    const std::string id_array = ArrayLiteral(ids), tenant_array = ArrayLiteral(tenants),
                      name_array = ArrayLiteral(names), engine_array = ArrayLiteral(engines),
                      plan_array = ArrayLiteral(plans), host_array = ArrayLiteral(hosts),
                      correlation_array = ArrayLiteral(correlations),
                      command_array = ArrayLiteral(commands);
    // One statement in autocommit: the batch commits whole or not at all. A lost connection
    // is retried once (a batch that did commit reads as created again, counted once); a
    // deadlock with another writer of the same tenant rows a few times.
    const auto start = std::chrono::steady_clock::now();
    int broken = 0;
    for (int deadlocks = 0;;) {
        auto lease = pool_.Acquire();
        try {
            pqxx::nontransaction session(*lease);
            auto rows = session.exec_params(kCreateStores, id_array, tenant_array, name_array,
                                            engine_array, plan_array, host_array, correlation_array,
                                            events::kCommandsTopic, command_array);
            std::vector<CreateOutcome> sorted;
            sorted.reserve(items.size());
            auto parser = rows[0][0].as_array();
            for (auto element = parser.get_next(); element.first != pqxx::array_parser::done;
                 element = parser.get_next()) {
                if (element.first != pqxx::array_parser::string_value) continue;
                sorted.push_back(element.second == "created"      ? CreateOutcome::kCreated
                                 : element.second == "name_taken" ? CreateOutcome::kNameTaken
                                                                  : CreateOutcome::kNoQuota);
            }
            if (sorted.size() != items.size()) {
                throw std::logic_error("create_stores answered " + std::to_string(sorted.size()) +
                                       " outcomes for " + std::to_string(items.size()) +
                                       " creates");
            }
            std::vector<CreateOutcome> outcomes(items.size());
            for (std::size_t k = 0; k < order.size(); ++k) outcomes[order[k]] = sorted[k];
            if (batch_observer_) {
                batch_observer_(items.size(), std::chrono::duration<double>(
                                                  std::chrono::steady_clock::now() - start)
                                                  .count());
            }
            return outcomes;
        } catch (const pqxx::broken_connection&) {
            lease.MarkBroken();
            if (++broken > 1) throw;
        } catch (const pqxx::sql_error& error) {
            const std::string& state = error.sqlstate();
            if ((state != "40P01" && state != "40001") || ++deadlocks > 3) throw;
        }
    }
}

Result<Accepted> IntakeStore::RequestDeletion(const Tenant& tenant, const std::string& store_id,
                                              const std::string& correlation_id) {
    if (!IsUuid(store_id))
        return Error::Permanent("not_found", "no store with id '" + store_id + "'");
    return pool_.WithTransaction([&](pqxx::work& txn) -> Result<Accepted> {
        auto rows = txn.exec_params(kSelectStoreForDeletion, store_id, tenant.id);
        if (rows.empty())
            return Error::Permanent("not_found", "no store with id '" + store_id + "'");
        Accepted accepted{
            202, {{"id", store_id}, {"status", "deleting"}, {"correlation_id", correlation_id}}};
        const auto state = rows[0][1].as<std::string>();
        if (state == "deleted")
            return Error::Permanent("not_found", "no store with id '" + store_id + "'");
        if (state == "deleting") return accepted;  // already asked: same answer, nothing sent
        // active, or deletion_failed: (re)send the deletion. The quota and the name stay
        // taken until the store is deleted.
        txn.exec_params(kMarkDeleting, store_id);
        auto envelope = events::NewEnvelope(tenant.id, store_id, correlation_id);
        envelope.mutable_store_deletion_requested()->set_requested_by(tenant.id);
        events::SetTypeFromPayload(envelope);
        AddToOutbox(txn, envelope);
        return accepted;
    });
}

Status IntakeStore::ApplyStoreStatus(const std::string& store_id, v1::StoreStatus status,
                                     const std::string& step) {
    if (!IsUuid(store_id)) return Status::Ok();  // not a store of ours
    if (status == v1::STORE_STATUS_DELETED) {
        pool_.WithTransaction([&](pqxx::work& txn) { txn.exec_params(kMarkDeleted, store_id); });
    } else if (status == v1::STORE_STATUS_FAILED && step == "deletion") {
        pool_.WithTransaction(
            [&](pqxx::work& txn) { txn.exec_params(kMarkDeletionFailed, store_id); });
    }
    return Status::Ok();
}

}  // namespace storefleet::intake
