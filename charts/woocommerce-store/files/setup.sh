#!/bin/sh
# First-run setup of a storefleet WooCommerce store, run by the <fullname>-setup Job with
# wp-cli. Every step checks before it acts, so a retry after a crash, a re-created Job or a
# second run on a live store changes nothing that is already right.
#
# Inputs (environment):
#   WORDPRESS_DB_HOST, WORDPRESS_DB_NAME, WORDPRESS_DB_USER, WORDPRESS_DB_PASSWORD
#   SITE_URL, STORE_NAME, ADMIN_USER, ADMIN_EMAIL, ADMIN_PASSWORD
#   WOOCOMMERCE_VERSION (empty: latest), SAMPLE_PRODUCT_NAME, SAMPLE_PRODUCT_SKU,
#   SAMPLE_PRODUCT_PRICE, DB_WAIT_SECONDS, PHP_MEMORY_LIMIT
# WordPress core and a wp-config.php that reads WORDPRESS_DB_* are in /var/www/html (copied
# there by the init container from the WordPress image); wp-content is the store's volume.
#
# Secrets: ADMIN_PASSWORD reaches wp-cli on standard input, never on a command line, and no
# line of this script prints a secret (no `set -x`).
set -eu

log() {
    printf '%s storefleet-setup: %s\n' "$(date -u '+%Y-%m-%dT%H:%M:%SZ')" "$*" >&2
}

: "${PHP_MEMORY_LIMIT:=256M}"
: "${DB_WAIT_SECONDS:=600}"
WP_BIN="$(command -v wp)"

# wp-cli with a memory limit big enough for WooCommerce's activation.
wp() {
    php -d "memory_limit=${PHP_MEMORY_LIMIT}" "$WP_BIN" --path=/var/www/html "$@"
}

# Exit 0 once the WordPress database user can connect (TCP, like WordPress itself).
db_reachable() {
    # shellcheck disable=SC2016 # PHP code: the $ signs are PHP variables.
    php -r '
        mysqli_report(MYSQLI_REPORT_OFF);
        $hostPort = explode(":", getenv("WORDPRESS_DB_HOST"), 2);
        $port = isset($hostPort[1]) ? (int) $hostPort[1] : 3306;
        $link = @mysqli_connect($hostPort[0], getenv("WORDPRESS_DB_USER"),
            getenv("WORDPRESS_DB_PASSWORD"), getenv("WORDPRESS_DB_NAME"), $port);
        exit($link ? 0 : 1);
    '
}

wait_for_db() {
    deadline=$(($(date +%s) + DB_WAIT_SECONDS))
    until db_reachable; do
        if [ "$(date +%s)" -ge "$deadline" ]; then
            log "database ${WORDPRESS_DB_HOST} not reachable after ${DB_WAIT_SECONDS}s; giving up"
            exit 1
        fi
        log "waiting for database ${WORDPRESS_DB_HOST}"
        sleep 5
    done
    log "database ${WORDPRESS_DB_HOST} is reachable"
}

install_wordpress() {
    if wp core is-installed; then
        log "WordPress is already installed"
    else
        log "installing WordPress for ${SITE_URL}"
        # --prompt=admin_password reads the password from standard input.
        printf '%s\n' "$ADMIN_PASSWORD" | wp core install \
            --url="$SITE_URL" \
            --title="$STORE_NAME" \
            --admin_user="$ADMIN_USER" \
            --admin_email="$ADMIN_EMAIL" \
            --skip-email \
            --prompt=admin_password >/dev/null
        log "WordPress installed"
    fi
    # The host is owned by the platform: converge the URLs on every run (a changed host).
    if [ "$(wp option get home)" != "$SITE_URL" ]; then
        wp option update home "$SITE_URL"
    fi
    if [ "$(wp option get siteurl)" != "$SITE_URL" ]; then
        wp option update siteurl "$SITE_URL"
    fi
    # Pretty permalinks make /wp-json/ (the Store API) reachable; keep a merchant's choice.
    if [ -z "$(wp option get permalink_structure)" ]; then
        wp rewrite structure '/%postname%/'
    fi
}

install_woocommerce() {
    if wp plugin is-installed woocommerce; then
        log "WooCommerce is already installed"
    elif [ -n "${WOOCOMMERCE_VERSION:-}" ]; then
        log "installing WooCommerce ${WOOCOMMERCE_VERSION}"
        wp plugin install woocommerce --version="$WOOCOMMERCE_VERSION"
    else
        log "installing the latest WooCommerce"
        wp plugin install woocommerce
    fi
    if wp plugin is-active woocommerce; then
        log "WooCommerce is already active"
    else
        wp plugin activate woocommerce
    fi
    # Shop, cart, checkout and my-account pages; the tool creates only missing pages.
    wp wc tool run install_pages --user="$ADMIN_USER" >/dev/null
    # New stores start in "coming soon" mode; a provisioned store is open for orders.
    if [ "$(wp option get woocommerce_coming_soon 2>/dev/null || true)" != "no" ]; then
        wp option update woocommerce_coming_soon no
    fi
}

enable_cash_on_delivery() {
    if [ "$(wp option pluck woocommerce_cod_settings enabled 2>/dev/null || true)" = "yes" ]; then
        log "cash on delivery is already enabled"
        return
    fi
    # enable_for_virtual: the sample product is virtual, so checkout needs no shipping zone;
    # enable_for_methods empty: available with every shipping method.
    wp option update woocommerce_cod_settings --format=json \
        '{"enabled":"yes","title":"Cash on delivery","description":"Pay with cash upon delivery.","instructions":"Pay with cash upon delivery.","enable_for_methods":[],"enable_for_virtual":"yes"}'
    log "cash on delivery enabled"
}

create_sample_product() {
    existing="$(wp wc product list --sku="$SAMPLE_PRODUCT_SKU" --field=id --user="$ADMIN_USER")"
    if [ -n "$existing" ]; then
        log "sample product ${SAMPLE_PRODUCT_SKU} exists (id ${existing})"
        return
    fi
    id="$(wp wc product create \
        --name="$SAMPLE_PRODUCT_NAME" \
        --sku="$SAMPLE_PRODUCT_SKU" \
        --regular_price="$SAMPLE_PRODUCT_PRICE" \
        --type=simple \
        --virtual=true \
        --status=publish \
        --user="$ADMIN_USER" \
        --porcelain)"
    log "sample product ${SAMPLE_PRODUCT_SKU} created (id ${id})"
}

main() {
    wait_for_db
    install_wordpress
    install_woocommerce
    enable_cash_on_delivery
    create_sample_product
    log "store setup complete"
}

main
