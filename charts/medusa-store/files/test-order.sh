#!/bin/sh
# helm test: place an order for the sample product through the Medusa Store API, as a storefront
# would, and check that Medusa returns an order id.
#
# Inputs (environment): BASE_URL (the Medusa Service), STORE_HOST (sent as Host, as the Ingress
# would), ADMIN_EMAIL and ADMIN_PASSWORD (to read the publishable API key through the admin API),
# PUBLISHABLE_KEY_TITLE, REGION_NAME, PRODUCT_HANDLE, COUNTRY_CODE, WAIT_SECONDS.
# The password is sent on curl's standard input, never on a command line; neither it nor the
# admin token is printed.
set -eu

WORK="$(mktemp -d)"
BODY="${WORK}/body"
STATUS=""
AUTH=""
KEY=""

log() {
    printf '%s test-order: %s\n' "$(date -u '+%Y-%m-%dT%H:%M:%SZ')" "$*" >&2
}

fail() {
    log "FAILED: $*"
    if [ -s "$BODY" ]; then
        log "last response body:"
        head -c 2000 "$BODY" >&2
        printf '\n' >&2
    fi
    exit 1
}

# request METHOD PATH [JSON]: sets STATUS to the HTTP status, the body in $BODY. Sends the admin
# token once there is one and the publishable key once it is known. The JSON goes on stdin.
request() {
    method="$1"
    path="$2"
    : >"$BODY"
    set -- -sS --max-time 60 -X "$method" -o "$BODY" -w '%{http_code}' \
        -H "Host: ${STORE_HOST}" -H 'Accept: application/json'
    if [ -n "$AUTH" ]; then set -- "$@" -H "@${WORK}/auth-header"; fi
    if [ -n "$KEY" ]; then set -- "$@" -H "x-publishable-api-key: ${KEY}"; fi
    if [ -n "${JSON:-}" ]; then
        set -- "$@" -H 'Content-Type: application/json' --data-binary @-
        STATUS="$(printf '%s' "$JSON" | curl "$@" "${BASE_URL}${path}")" || STATUS="000"
    else
        STATUS="$(curl "$@" "${BASE_URL}${path}")" || STATUS="000"
    fi
    JSON=""
}

# first VALUE_PREFIX: the first JSON string value in $BODY of a field named by $FIELD that starts
# with VALUE_PREFIX (Medusa ids carry a type prefix: reg_, variant_, cart_, so_, pay_col_ ...).
first() {
    grep -o "\"${FIELD:-id}\":\"$1[^\"]*\"" "$BODY" | head -n 1 | cut -d'"' -f4 || true
}

json_escape() {
    printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g'
}

# 1. Medusa answers (poll with a deadline: the store may still be starting).
deadline=$(($(date +%s) + WAIT_SECONDS))
until request GET /health && [ "$STATUS" = "200" ]; do
    [ "$(date +%s)" -lt "$deadline" ] || fail "GET /health answered HTTP ${STATUS} for ${WAIT_SECONDS}s"
    log "waiting for Medusa (HTTP ${STATUS})"
    sleep 5
done

# 2. The publishable API key, read through the admin API (setup may still be seeding).
JSON="{\"email\":\"$(json_escape "$ADMIN_EMAIL")\",\"password\":\"$(json_escape "$ADMIN_PASSWORD")\"}"
request POST /auth/user/emailpass
[ "$STATUS" = "200" ] || fail "admin login answered HTTP ${STATUS}"
token="$(FIELD=token first '')"
[ -n "$token" ] || fail "admin login returned no token"
(umask 077 && printf 'Authorization: Bearer %s\n' "$token" >"${WORK}/auth-header")
AUTH=1
: >"$BODY"
while :; do
    request GET "/admin/api-keys?type=publishable&title=${PUBLISHABLE_KEY_TITLE}&fields=id,token,revoked_at"
    if [ "$STATUS" = "200" ]; then
        KEY="$(FIELD=token first pk_)"
        if [ -n "$KEY" ]; then break; fi
    fi
    [ "$(date +%s)" -lt "$deadline" ] || fail "no publishable key titled ${PUBLISHABLE_KEY_TITLE} (last HTTP ${STATUS})"
    log "waiting for the publishable key (HTTP ${STATUS})"
    sleep 5
done
AUTH=""
log "publishable key found"

# 3. Region and the sample product's variant, as a storefront lists them.
request GET "/store/regions?name=$(printf '%s' "$REGION_NAME" | sed 's/ /%20/g')&fields=id,name"
[ "$STATUS" = "200" ] || fail "GET /store/regions answered HTTP ${STATUS}"
region="$(first reg_)"
[ -n "$region" ] || fail "no region named ${REGION_NAME}"
request GET "/store/products?handle=${PRODUCT_HANDLE}&region_id=${region}&fields=id,*variants"
[ "$STATUS" = "200" ] || fail "GET /store/products answered HTTP ${STATUS}"
variant="$(first variant_)"
[ -n "$variant" ] || fail "no variant of product ${PRODUCT_HANDLE}"
log "region ${region}, variant ${variant}"

# 4. Cart, line item, addresses.
JSON="{\"region_id\":\"${region}\",\"email\":\"helm-test@example.com\"}"
request POST /store/carts
[ "$STATUS" = "200" ] || fail "POST /store/carts answered HTTP ${STATUS}"
cart="$(first cart_)"
[ -n "$cart" ] || fail "cart creation returned no cart id"
JSON="{\"variant_id\":\"${variant}\",\"quantity\":1}"
request POST "/store/carts/${cart}/line-items"
[ "$STATUS" = "200" ] || fail "POST /store/carts/${cart}/line-items answered HTTP ${STATUS}"
address="{\"first_name\":\"Storefleet\",\"last_name\":\"Test\",\"address_1\":\"1 Test Street\",\"city\":\"Testville\",\"postal_code\":\"94103\",\"country_code\":\"${COUNTRY_CODE}\",\"phone\":\"5555550100\"}"
JSON="{\"shipping_address\":${address},\"billing_address\":${address}}"
request POST "/store/carts/${cart}"
[ "$STATUS" = "200" ] || fail "POST /store/carts/${cart} (addresses) answered HTTP ${STATUS}"
log "cart ${cart} with one item"

# 5. Shipping method.
request GET "/store/shipping-options?cart_id=${cart}"
[ "$STATUS" = "200" ] || fail "GET /store/shipping-options answered HTTP ${STATUS}"
option="$(first so_)"
[ -n "$option" ] || fail "no shipping option for the cart"
JSON="{\"option_id\":\"${option}\"}"
request POST "/store/carts/${cart}/shipping-methods"
[ "$STATUS" = "200" ] || fail "POST /store/carts/${cart}/shipping-methods answered HTTP ${STATUS}"

# 6. Payment with the manual (system) provider.
JSON="{\"cart_id\":\"${cart}\"}"
request POST /store/payment-collections
[ "$STATUS" = "200" ] || fail "POST /store/payment-collections answered HTTP ${STATUS}"
collection="$(first pay_col_)"
[ -n "$collection" ] || fail "no payment collection id"
JSON='{"provider_id":"pp_system_default"}'
request POST "/store/payment-collections/${collection}/payment-sessions"
[ "$STATUS" = "200" ] || fail "POST payment-sessions answered HTTP ${STATUS}"

# 7. Complete the cart: Medusa answers {"type":"order","order":{...}} when an order was placed.
request POST "/store/carts/${cart}/complete"
[ "$STATUS" = "200" ] || fail "POST /store/carts/${cart}/complete answered HTTP ${STATUS}"
grep -q '"type":"order"' "$BODY" || fail "cart completion did not place an order"
order="$(first order_)"
[ -n "$order" ] || fail "cart completion returned no order id"
log "order ${order} placed"
