#!/usr/bin/env bash
# The API contract test: schemathesis (property-based, from PyPI) generates requests from
# docs/openapi.yaml — as the query service serves it at /api/v1/openapi.json — and sends them
# through the front door to the real services. It fails on any 5xx, any status code, content
# type, header or body the document does not allow, and on any crash.
#
# It runs as a tenant of its own with a quota of 3 stores (so generated creates stop at 403
# instead of provisioning hundreds of stores), made directly in intake's ledger. The platform
# is started with infra/local/platform unless it already runs (and then stopped again).
# Needs the stack (tests/with-stack). The live stream is left out: it never ends, and
# services/query/tests/event_stream_test.cpp and tests/e2e cover it.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
source "$root/infra/local/lib/common.sh"
: "${STOREFLEET_PG_URL:?run through tests/with-stack, which gives the stack environment}"
SCHEMATHESIS_VERSION=4.32.5

venv="$STOREFLEET_CACHE/venv-schemathesis-$SCHEMATHESIS_VERSION"
if [[ ! -x $venv/bin/st ]]; then
    log "contract: installing schemathesis $SCHEMATHESIS_VERSION into $venv"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "schemathesis==$SCHEMATHESIS_VERSION"
fi

started=0
platform="$root/infra/local/platform"
if ! bash "$platform" status >/dev/null 2>&1; then
    bash "$platform" up >/dev/null
    started=1
fi
work=$(mktemp -d)
tenant="contract-$(openssl rand -hex 4)"
# The admin calls are fuzzed too (PATCH /api/v1/admin/tenants/{id} with the document's example
# ids): every tenant's quota and rate are put back as they were, so the tests after this one on
# the same stack keep theirs.
tenants_before=$(psql -X -At -F ' ' "$STOREFLEET_PG_URL" -c \
    "select quote_literal(id), store_quota, coalesce(rate_per_second::text, 'null') from intake.tenants")
# Its admin token lists every tenant's tokens and may revoke or rotate any of them (it revoked
# the platform's own admin token once, and the tests after it got 401): the tokens that work
# now work again afterwards, and those it issued are revoked.
live_tokens=$(psql -X -At "$STOREFLEET_PG_URL" -c \
    "select coalesce(string_agg(quote_literal(token_id::text), ','), 'null') from intake.api_tokens where revoked_at is null")
cleanup() {
    psql -q "$STOREFLEET_PG_URL" -v ON_ERROR_STOP=1 -c \
        "update intake.api_tokens set revoked_at = now() where tenant_id in ('$tenant', '$tenant-ops')" >/dev/null 2>&1 || true
    psql -q "$STOREFLEET_PG_URL" -v ON_ERROR_STOP=1 -c \
        "update intake.api_tokens set revoked_at = case when token_id::text in ($live_tokens) then null else coalesce(revoked_at, now()) end" \
        >/dev/null 2>&1 || true
    while read -r id quota rate; do
        [[ -n $id ]] || continue
        psql -q "$STOREFLEET_PG_URL" -c \
            "update intake.tenants set store_quota = $quota, rate_per_second = $rate where id = $id" >/dev/null 2>&1 || true
    done <<<"$tenants_before"
    if ((started)); then bash "$platform" down >/dev/null 2>&1 || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
set -a
# shellcheck disable=SC1091
source "$STOREFLEET_STATE/env.d/platform"
set +a

token=$(openssl rand -hex 24)
sha=$(printf '%s' "$token" | sha256sum | cut -d' ' -f1)
admin_token=$(openssl rand -hex 24)
admin_sha=$(printf '%s' "$admin_token" | sha256sum | cut -d' ' -f1)
psql -q "$STOREFLEET_PG_URL" -v ON_ERROR_STOP=1 >/dev/null <<SQL
insert into intake.tenants (id, store_quota) values ('$tenant', 3), ('$tenant-ops', 0);
insert into intake.api_tokens (token_id, tenant_id, name, role, token_sha256) values
    (md5('$sha')::uuid, '$tenant', 'contract-test', 'tenant', '$sha'),
    (md5('$admin_sha')::uuid, '$tenant-ops', 'contract-test-admin', 'admin', '$admin_sha');
SQL

cd "$work"
# Checks: every response must be one the document describes (status, content type, headers,
# body) and never a 5xx. negative_data_rejection: input the document forbids must get a 4xx.
# Once as the tenant (the admin calls must answer 403 as documented), once as an admin for
# the admin calls.
run() {
    local who=$1 bearer=$2
    shift 2
    log "contract: schemathesis against $STOREFLEET_URL as $who"
    "$venv/bin/st" run "$STOREFLEET_URL/api/v1/openapi.json" \
    --url "$STOREFLEET_URL" \
    --header "Authorization: Bearer $bearer" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,negative_data_rejection \
    --exclude-path /api/v1/stores/events \
    --phases examples,coverage,fuzzing \
    --max-examples "${STOREFLEET_CONTRACT_EXAMPLES:-40}" \
    --seed "${STOREFLEET_CONTRACT_SEED:-20261129}" \
    --workers 1 \
    --request-timeout 10 \
    --generation-database none \
    --no-color \
    --warnings off \
    "$@"
}
run "tenant $tenant" "$token"
# Not POST /api/v1/admin/rollouts: a rollout it made would move every store of the shared
# stack, those of the tests after this one included (tests/integration/intake_rollouts_test.cpp
# covers creating one).
run "admin $tenant-ops" "$admin_token" --include-path-regex '^/api/v1/admin/' \
    --exclude-operation-id adminCreateRollout
log "contract: every response matched docs/openapi.yaml"
