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
// Concurrent creates without an Idempotency-Key, written together (migrations 6, 7 and 10).
constexpr const char* kCreateStores =
    "select intake.create_stores($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], "
    "$6::text[], $7::text[], $8, $9::text[], $10::text[], $11::text[], $12::text[])";
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
    "insert into intake.stores (store_id, tenant_id, name, engine, plan, host, correlation_id, "
    "admin_email, placement, chart_version) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, "
    "nullif($10, '')) on conflict do nothing returning store_id";
constexpr const char* kInsertOutbox =
    "insert into intake.outbox (topic, key, payload) values ($1, $2, $3)";
constexpr const char* kMarkDeleting =
    "update intake.stores set state = 'deleting', deletion_requested_at = now() where store_id = "
    "$1";

// Who asked, as every command names it (StoreRequested, StoreChangeRequested,
// StoreDeletionRequested say the same): the tenant.
std::string RequestedBy(const Tenant& tenant) { return tenant.id; }

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

int IntakeStore::AppliedSchemaVersion() {
    return pool_.WithTransaction([](pqxx::work& txn) {
        auto table = txn.exec("select to_regclass('intake.schema_migrations') is not null");
        if (!table[0][0].as<bool>()) return 0;
        return txn.exec("select coalesce(max(version), 0) from intake.schema_migrations")[0][0]
            .as<int>();
    });
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
    std::string admin_email;    // as the command carries it (the default filled in)
    std::string placement;      // as the command carries it: "" or "real-node"
    std::string chart_version;  // as the command carries it: "" (not pinned)
    v1::Envelope envelope;
    Accepted accepted;
};

NewStore DescribeNewStore(const Tenant& tenant, const StoreRequest& request,
                          const std::string& store_domain, const std::string& chart_version,
                          const std::string& correlation_id) {
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
    requested->set_requested_by(RequestedBy(tenant));
    if (request.placement != "any") requested->set_placement(request.placement);
    requested->set_generation(1);
    requested->set_chart_version(chart_version);
    store.admin_email = requested->admin_email();
    store.placement = requested->placement();
    store.chart_version = chart_version;
    events::SetTypeFromPayload(store.envelope);
    store.accepted = {202,
                      {{"id", store.store_id},
                       {"name", request.name},
                       {"engine", request.engine},
                       {"plan", request.plan},
                       {"host", store.host},
                       {"status", "requested"},
                       {"generation", 1},
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
    NewStore store = DescribeNewStore(tenant, request, store_domain_, ChartDefault(request.engine),
                                      correlation_id);
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
                                request.engine, request.plan, store.host, correlation_id,
                                store.admin_email, store.placement, store.chart_version);
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
    NewStore store = DescribeNewStore(tenant, request, store_domain_, ChartDefault(request.engine),
                                      correlation_id);
    CreateItem item{.store_id = store.store_id,
                    .tenant_id = tenant.id,
                    .name = request.name,
                    .engine = request.engine,
                    .plan = request.plan,
                    .host = store.host,
                    .correlation_id = correlation_id,
                    .command = events::Encode(store.envelope),
                    .admin_email = store.admin_email,
                    .placement = store.placement,
                    .chart_version = store.chart_version};
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
    std::vector<std::string> ids, tenants, names, engines, plans, hosts, correlations, commands,
        admin_emails, placements, chart_versions;
    for (auto* column : {&ids, &tenants, &names, &engines, &plans, &hosts, &correlations, &commands,
                         &admin_emails, &placements, &chart_versions}) {
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
        admin_emails.push_back(item.admin_email);
        placements.push_back(item.placement);
        chart_versions.push_back(item.chart_version);
    }
    using pg::ArrayLiteral;
    const std::string id_array = ArrayLiteral(ids), tenant_array = ArrayLiteral(tenants),
                      name_array = ArrayLiteral(names), engine_array = ArrayLiteral(engines),
                      plan_array = ArrayLiteral(plans), host_array = ArrayLiteral(hosts),
                      correlation_array = ArrayLiteral(correlations),
                      command_array = ArrayLiteral(commands),
                      admin_email_array = ArrayLiteral(admin_emails),
                      placement_array = ArrayLiteral(placements),
                      chart_version_array = ArrayLiteral(chart_versions);
    // One statement in autocommit: the batch commits whole or not at all. A lost connection
    // is retried once (a batch that did commit reads as created again, counted once); a
    // deadlock with another writer of the same tenant rows a few times.
    const auto start = std::chrono::steady_clock::now();
    int broken = 0;
    for (int deadlocks = 0;;) {
        auto lease = pool_.Acquire();
        try {
            pqxx::nontransaction session(*lease);
            auto rows = session.exec_params(
                kCreateStores, id_array, tenant_array, name_array, engine_array, plan_array,
                host_array, correlation_array, events::kCommandsTopic, command_array,
                admin_email_array, placement_array, chart_version_array);
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

namespace {

// The row a change, a retry or a deletion decides on, locked until its transaction ends: the
// PATCH, retry and DELETE of one store take their turns on it, so none of them sees another
// half done, and their outbox rows are in the order they committed.
constexpr const char* kLockStore = R"SQL(
select state, generation, plan, suspended, admin_email, chart_version, failed_generation,
       name, engine, host, placement
  from intake.stores where store_id = $1::uuid and tenant_id = $2 for update)SQL";
// The same row for a platform change (a rollout), whoever the tenant.
constexpr const char* kLockStoreById = R"SQL(
select state, generation, plan, suspended, admin_email, chart_version, failed_generation,
       name, engine, host, placement, tenant_id
  from intake.stores where store_id = $1::uuid for update)SQL";
constexpr const char* kUpdateChartVersion =
    "update intake.stores set generation = $2::bigint, chart_version = $3 where store_id = "
    "$1::uuid";
constexpr const char* kUpdateDesiredState =
    "update intake.stores set generation = $2::bigint, plan = $3, suspended = $4, "
    "admin_email = $5 where store_id = $1::uuid";
// A retry is sent: the failure it retries is no longer the store's latest word, so a second
// retry waits until this one's outcome is reported.
// Its time lets readers show the retry under way at once (read.stores_seen).
constexpr const char* kForgetFailure =
    "update intake.stores set failed_generation = null, retry_requested_at = now() "
    "where store_id = $1::uuid";
constexpr const char* kAudit =
    "insert into intake.audit_log (actor, action, tenant_id, target, detail) "
    "values ($1, $2, $3, $4, $5::jsonb)";
// A convergence (not a deletion) failed: its generation may be retried. The largest
// generation reported failed is kept, and a status older by its sequence than the last one
// applied here changes nothing (a provisioner's late report after a newer one).
constexpr const char* kRecordFailure = R"SQL(
update intake.stores
   set failed_generation = greatest(coalesce(failed_generation, 0), $2::bigint),
       status_sequence = case when $3::bigint > 0
                              then greatest(coalesce(status_sequence, 0), $3::bigint)
                              else status_sequence end
 where store_id = $1::uuid and state <> 'deleted'
   and ($3::bigint = 0 or status_sequence is null or $3::bigint > status_sequence))SQL";
// Converged to `observed` (ready or suspended): a failure of that generation or an older
// one is over; a newer failure stays. The sequence is kept even when nothing failed, so a
// failure reported late for what already converged is recognised as older.
constexpr const char* kRecordConverged = R"SQL(
update intake.stores
   set failed_generation = case when failed_generation <= $2::bigint then null
                                else failed_generation end,
       observed_generation = greatest(observed_generation, $2::bigint),
       status_sequence = case when $3::bigint > 0
                              then greatest(coalesce(status_sequence, 0), $3::bigint)
                              else status_sequence end
 where store_id = $1::uuid and state <> 'deleted'
   and ($3::bigint = 0 or status_sequence is null or $3::bigint > status_sequence)
   and ($3::bigint > 0 or failed_generation <= $2::bigint))SQL";

struct LockedStore {
    std::string state;
    uint64_t generation = 1;
    DesiredState desired;
    std::optional<uint64_t> failed_generation;
    std::string name;
    std::string engine;
    std::string host;
    std::string placement;
};

std::optional<std::string> OptionalText(const pqxx::field& field) {
    if (field.is_null()) return std::nullopt;
    return field.as<std::string>();
}

LockedStore LockedStoreOf(const pqxx::row& row) {
    LockedStore store;
    store.state = row[0].as<std::string>();
    store.generation = row[1].as<uint64_t>();
    store.desired.plan = row[2].as<std::string>();
    store.desired.suspended = row[3].as<bool>();
    store.desired.admin_email = OptionalText(row[4]);
    store.desired.chart_version = OptionalText(row[5]);
    if (!row[6].is_null()) store.failed_generation = row[6].as<uint64_t>();
    store.name = row[7].as<std::string>();
    store.engine = row[8].as<std::string>();
    store.host = row[9].as<std::string>();
    store.placement = row[10].as<std::string>();
    return store;
}

std::optional<LockedStore> LockStore(pqxx::work& txn, const std::string& store_id,
                                     const std::string& tenant_id) {
    auto rows = txn.exec_params(kLockStore, store_id, tenant_id);
    if (rows.empty()) return std::nullopt;
    return LockedStoreOf(rows[0]);
}

Error NotFound(const std::string& store_id) {
    return Error::Permanent("not_found", "no store with id '" + store_id + "'");
}

ChangeOutcome Refusal(Error error, uint64_t generation = 0) {
    ChangeOutcome outcome;
    outcome.refused = std::move(error);
    outcome.generation = generation;
    return outcome;
}

// Who acted, for the audit trail: the API token, as the admin API names it.
std::string Actor(const Tenant& tenant) {
    return tenant.token_id.empty() ? "tenant:" + tenant.id : "token:" + tenant.token_id;
}

nlohmann::json DesiredJson(const DesiredState& desired) {
    return {{"plan", desired.plan},
            {"suspended", desired.suspended},
            {"admin_email",
             desired.admin_email ? nlohmann::json(*desired.admin_email) : nlohmann::json(nullptr)}};
}

// The API's ChangeAccepted.
nlohmann::json ChangeAccepted(const std::string& store_id, uint64_t generation,
                              const DesiredState& desired, const std::string& correlation_id) {
    return {{"id", store_id},
            {"generation", generation},
            {"desired", DesiredJson(desired)},
            {"desired_etag", DesiredEtag(generation)},
            {"correlation_id", correlation_id}};
}

ChangeOutcome Answer(int http_status, const std::string& store_id, uint64_t generation,
                     const DesiredState& desired, const std::string& correlation_id, bool sent) {
    ChangeOutcome outcome;
    outcome.http_status = http_status;
    outcome.body = ChangeAccepted(store_id, generation, desired, correlation_id);
    outcome.generation = generation;
    outcome.sent = sent;
    return outcome;
}

// A StoreChangeRequested: the whole desired state at `generation` and the store's facts, so
// a provisioner converges from this command alone.
v1::Envelope ChangeCommand(const Tenant& tenant, const std::string& store_id,
                           const LockedStore& store, const DesiredState& desired,
                           uint64_t generation, const std::vector<std::string>& changed, bool retry,
                           const std::string& correlation_id) {
    auto envelope = events::NewEnvelope(tenant.id, store_id, correlation_id);
    auto* command = envelope.mutable_store_change_requested();
    command->set_generation(generation);
    auto* wanted = command->mutable_desired();
    wanted->set_plan(desired.plan);
    wanted->set_suspended(desired.suspended);
    wanted->set_admin_email(desired.admin_email.value_or(""));
    wanted->set_chart_version(desired.chart_version.value_or(""));
    command->set_requested_by(RequestedBy(tenant));
    for (const auto& field : changed) command->add_changed(field);
    command->set_retry(retry);
    command->set_name(store.name);
    command->set_engine(EngineOf(store.engine));
    command->set_host(store.host);
    command->set_placement(store.placement);
    events::SetTypeFromPayload(envelope);
    return envelope;
}

// The deletion of a store that is active or whose deletion failed: marked deleting, the
// command in the outbox. The quota and the name stay taken until the store is deleted.
void SendDeletion(pqxx::work& txn, const Tenant& tenant, const std::string& store_id,
                  const std::string& correlation_id) {
    txn.exec_params(kMarkDeleting, store_id);
    auto envelope = events::NewEnvelope(tenant.id, store_id, correlation_id);
    envelope.mutable_store_deletion_requested()->set_requested_by(RequestedBy(tenant));
    events::SetTypeFromPayload(envelope);
    AddToOutbox(txn, envelope);
}

// Why a store that is not active cannot change.
Error NotChangeable(const std::string& state) {
    if (state == "deleted") return Error::Permanent("store_deleting", "the store is deleted");
    if (state == "deletion_failed") {
        return Error::Permanent("store_deleting",
                                "the store's deletion failed; it can only be deleted (DELETE or "
                                "POST .../retry sends the deletion again)");
    }
    return Error::Permanent("store_deleting", "the store is being deleted");
}

}  // namespace

Result<Accepted> IntakeStore::RequestDeletion(const Tenant& tenant, const std::string& store_id,
                                              const std::string& correlation_id) {
    if (!IsUuid(store_id)) return NotFound(store_id);
    return pool_.WithTransaction([&](pqxx::work& txn) -> Result<Accepted> {
        auto store = LockStore(txn, store_id, tenant.id);
        if (!store || store->state == "deleted") return NotFound(store_id);
        Accepted accepted{
            202, {{"id", store_id}, {"status", "deleting"}, {"correlation_id", correlation_id}}};
        if (store->state == "deleting")
            return accepted;  // already asked: same answer, nothing sent
        // active, or deletion_failed: (re)send the deletion.
        SendDeletion(txn, tenant, store_id, correlation_id);
        return accepted;
    });
}

ChangeOutcome IntakeStore::ChangeStore(const Tenant& tenant, const std::string& store_id,
                                       const StorePatch& patch, const IfMatch& if_match,
                                       const std::string& correlation_id) {
    if (!IsUuid(store_id)) return Refusal(NotFound(store_id));
    return pool_.WithTransaction([&](pqxx::work& txn) -> ChangeOutcome {
        auto store = LockStore(txn, store_id, tenant.id);
        if (!store) return Refusal(NotFound(store_id));
        if (store->state != "active")
            return Refusal(NotChangeable(store->state), store->generation);
        if (!if_match.Matches(store->generation)) {
            Error error =
                Error::Permanent("precondition_failed", if_match.Mismatch(store->generation));
            error.field = "If-Match";
            return Refusal(std::move(error), store->generation);
        }
        const auto changed = ChangedFields(store->desired, patch);
        if (changed.empty()) {
            return Answer(200, store_id, store->generation, store->desired, correlation_id,
                          /*sent=*/false);
        }
        const uint64_t generation = store->generation + 1;
        const DesiredState desired = Patched(store->desired, patch);
        txn.exec_params(kUpdateDesiredState, store_id, generation, desired.plan, desired.suspended,
                        desired.admin_email);
        AddToOutbox(txn, ChangeCommand(tenant, store_id, *store, desired, generation, changed,
                                       /*retry=*/false, correlation_id));
        txn.exec_params(kAudit, Actor(tenant), "store.change", tenant.id, store_id,
                        nlohmann::json{{"generation", generation}, {"changed", changed}}.dump());
        return Answer(202, store_id, generation, desired, correlation_id, /*sent=*/true);
    });
}

ChangeOutcome IntakeStore::RetryStore(const Tenant& tenant, const std::string& store_id,
                                      const std::string& correlation_id) {
    if (!IsUuid(store_id)) return Refusal(NotFound(store_id));
    return pool_.WithTransaction([&](pqxx::work& txn) -> ChangeOutcome {
        auto store = LockStore(txn, store_id, tenant.id);
        if (!store) return Refusal(NotFound(store_id));
        auto audit = [&](const char* what) {
            txn.exec_params(
                kAudit, Actor(tenant), "store.retry", tenant.id, store_id,
                nlohmann::json{{"generation", store->generation}, {"retry", what}}.dump());
        };
        if (store->state == "deletion_failed") {
            SendDeletion(txn, tenant, store_id, correlation_id);
            audit("deletion");
            return Answer(202, store_id, store->generation, store->desired, correlation_id,
                          /*sent=*/true);
        }
        if (store->state != "active") {
            return Refusal(Error::Permanent("nothing_to_retry",
                                            store->state == "deleted"
                                                ? "nothing to retry: the store is deleted"
                                                : "nothing to retry: the store is being deleted"),
                           store->generation);
        }
        if (store->failed_generation != store->generation) {
            return Refusal(Error::Permanent("nothing_to_retry",
                                            "nothing to retry: generation " +
                                                std::to_string(store->generation) +
                                                " has not failed (or its retry is under way)"),
                           store->generation);
        }
        txn.exec_params(kForgetFailure, store_id);
        AddToOutbox(txn, ChangeCommand(tenant, store_id, *store, store->desired, store->generation,
                                       {}, /*retry=*/true, correlation_id));
        audit("convergence");
        return Answer(202, store_id, store->generation, store->desired, correlation_id,
                      /*sent=*/true);
    });
}

ChartChange ChangeChartVersion(pqxx::work& txn, const std::string& store_id,
                               const std::string& version, const std::string& actor,
                               const std::string& correlation_id) {
    ChartChange change;
    auto rows = txn.exec_params(kLockStoreById, store_id);
    if (rows.empty()) return change;  // kNotActive
    const LockedStore store = LockedStoreOf(rows[0]);
    change.generation = store.generation;
    change.from_version = store.desired.chart_version.value_or("");
    if (store.state != "active") return change;
    if (store.desired.chart_version == version) {
        change.kind = ChartChange::kAlreadyThere;
        return change;
    }
    const Tenant tenant{rows[0][11].as<std::string>(), ""};
    change.generation = store.generation + 1;
    DesiredState desired = store.desired;
    desired.chart_version = version;
    txn.exec_params(kUpdateChartVersion, store_id, change.generation, version);
    AddToOutbox(txn, ChangeCommand(tenant, store_id, store, desired, change.generation,
                                   {"chart_version"}, /*retry=*/false, correlation_id));
    txn.exec_params(
        kAudit, actor, "store.chart_version", tenant.id, store_id,
        nlohmann::json{
            {"generation", change.generation}, {"from", change.from_version}, {"to", version}}
            .dump());
    change.kind = ChartChange::kSent;
    return change;
}

Status IntakeStore::ApplyStoreStatus(const StatusReport& report) {
    if (!IsUuid(report.store_id)) return Status::Ok();  // not a store of ours
    if (report.data) return ApplyDataStatus(report.store_id, *report.data);
    const auto sequence = static_cast<int64_t>(report.sequence);
    const auto generation = static_cast<int64_t>(std::max<uint64_t>(1, report.generation));
    switch (report.status) {
        case v1::STORE_STATUS_DELETED:
            pool_.WithTransaction(
                [&](pqxx::work& txn) { txn.exec_params(kMarkDeleted, report.store_id); });
            break;
        case v1::STORE_STATUS_FAILED:
        case v1::STORE_STATUS_DEGRADED:
            if (report.status == v1::STORE_STATUS_FAILED && report.step == "deletion") {
                pool_.WithTransaction([&](pqxx::work& txn) {
                    txn.exec_params(kMarkDeletionFailed, report.store_id);
                });
            } else {
                pool_.WithTransaction([&](pqxx::work& txn) {
                    txn.exec_params(kRecordFailure, report.store_id, generation, sequence);
                });
            }
            break;
        case v1::STORE_STATUS_READY:
        case v1::STORE_STATUS_SUSPENDED: {
            // Set on ready and suspended; a provisioner older than generations converged to
            // its command's generation.
            const auto observed = report.observed_generation > 0
                                      ? static_cast<int64_t>(report.observed_generation)
                                      : generation;
            pool_.WithTransaction([&](pqxx::work& txn) {
                txn.exec_params(kRecordConverged, report.store_id, observed, sequence);
            });
            break;
        }
        default:
            break;
    }
    return Status::Ok();
}

}  // namespace storefleet::intake
