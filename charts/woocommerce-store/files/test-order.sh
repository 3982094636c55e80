#!/bin/sh
# helm test: place a cash-on-delivery order for the sample product through the WooCommerce
# Store API, as a shopper's browser would, and check that WooCommerce returns an order id.
#
# Inputs (environment): BASE_URL (the WordPress Service), STORE_HOST (sent as Host, as the
# Ingress would), SAMPLE_PRODUCT_SKU, WAIT_SECONDS.
# The Store API answers every cart request with a Nonce and a Cart-Token header; each later
# request sends the latest of both (the Cart-Token carries the guest session).
set -eu

API="${BASE_URL}/wp-json/wc/store/v1"
WORK="$(mktemp -d)"
HEADERS="${WORK}/headers"
BODY="${WORK}/body"
NONCE=""
CART_TOKEN=""
STATUS=""

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

# Value of response header $1 in $HEADERS (case-insensitive), empty when absent.
header() {
    grep -i "^$1:" "$HEADERS" | tail -n 1 | cut -d: -f2- | tr -d '\r' | sed 's/^ *//'
}

# request METHOD PATH [JSON]: sets STATUS to the HTTP status; body in $BODY, headers in
# $HEADERS. Sends and then refreshes NONCE and CART_TOKEN (globals: never call it in a
# subshell, or the new Nonce and Cart-Token are lost).
request() {
    method="$1"
    path="$2"
    : >"$HEADERS"
    : >"$BODY"
    if [ $# -ge 3 ]; then
        STATUS="$(curl -sS --max-time 60 -X "$method" -o "$BODY" -D "$HEADERS" -w '%{http_code}' \
            -H "Host: ${STORE_HOST}" -H 'Accept: application/json' \
            -H 'Content-Type: application/json' \
            -H "Nonce: ${NONCE}" -H "Cart-Token: ${CART_TOKEN}" \
            --data "$3" "${API}${path}")" || STATUS="000"
    else
        STATUS="$(curl -sS --max-time 60 -X "$method" -o "$BODY" -D "$HEADERS" -w '%{http_code}' \
            -H "Host: ${STORE_HOST}" -H 'Accept: application/json' \
            -H "Nonce: ${NONCE}" -H "Cart-Token: ${CART_TOKEN}" \
            "${API}${path}")" || STATUS="000"
    fi
    value="$(header Nonce)"
    if [ -n "$value" ]; then NONCE="$value"; fi
    value="$(header Cart-Token)"
    if [ -n "$value" ]; then CART_TOKEN="$value"; fi
}

# 1. Find the sample product (setup may still be finishing: poll with a deadline).
deadline=$(($(date +%s) + WAIT_SECONDS))
product_id=""
while :; do
    request GET "/products?sku=${SAMPLE_PRODUCT_SKU}"
    if [ "$STATUS" = "200" ]; then
        # The response is a JSON array of products; "id" is each product's first field.
        product_id="$(grep -o '"id":[0-9][0-9]*' "$BODY" | head -n 1 | cut -d: -f2 || true)"
        if [ -n "$product_id" ]; then break; fi
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
        fail "no product with SKU ${SAMPLE_PRODUCT_SKU} after ${WAIT_SECONDS}s (last HTTP ${STATUS})"
    fi
    log "waiting for the sample product (HTTP ${STATUS})"
    sleep 5
done
log "sample product ${SAMPLE_PRODUCT_SKU} has id ${product_id}"

# 2. Open a cart: the response carries the first Nonce and Cart-Token.
request GET "/cart"
[ "$STATUS" = "200" ] || fail "GET /cart answered HTTP ${STATUS}"
[ -n "$NONCE" ] || fail "GET /cart sent no Nonce header"
[ -n "$CART_TOKEN" ] || fail "GET /cart sent no Cart-Token header"

# 3. Add the product.
request POST "/cart/add-item" "{\"id\":${product_id},\"quantity\":1}"
[ "$STATUS" = "201" ] || [ "$STATUS" = "200" ] || fail "POST /cart/add-item answered HTTP ${STATUS}"
log "added product ${product_id} to the cart"

# 4. Check out with cash on delivery.
address='"first_name":"Storefleet","last_name":"Test","company":"","address_1":"1 Test Street","address_2":"","city":"San Francisco","state":"CA","postcode":"94103","country":"US","phone":"5555550100"'
checkout="{\"billing_address\":{${address},\"email\":\"helm-test@example.com\"},\"shipping_address\":{${address}},\"customer_note\":\"helm test order\",\"payment_method\":\"cod\"}"
request POST "/checkout" "$checkout"
[ "$STATUS" = "200" ] || fail "POST /checkout answered HTTP ${STATUS}"
order_id="$(grep -o '"order_id":[0-9][0-9]*' "$BODY" | head -n 1 | cut -d: -f2 || true)"
order_status="$(grep -o '"status":"[a-z-]*"' "$BODY" | head -n 1 | cut -d'"' -f4 || true)"
if [ -z "$order_id" ] || [ "$order_id" = "0" ]; then
    fail "checkout returned no order id"
fi
log "order ${order_id} placed (status ${order_status:-unknown})"
