#!/usr/bin/env bash
# (b) Bad values are refused before anything reaches the cluster, with a message that says what
# is wrong: values.schema.json (missing host, a plan outside the enum, negative numbers and
# sizes, unknown keys) and the charts' own quota check. Needs no cluster.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"

# refused CHART EXPECTED_MESSAGE HELM_ARGS...: `helm template` must fail and print the message.
refused() {
    local chart=$1 expected=$2 out
    shift 2
    if out=$(helm template "$RELEASE" "$CHARTS_ROOT/$chart" "$@" 2>&1); then
        fail "$chart accepted $*"
    fi
    grep -qF -- "$expected" <<<"$out" || fail "$chart refused $* with an unexpected message:"$'\n'"$out"$'\n'"expected: $expected"
}

base=(--set-string storeId=0123456789 --set host="$TEST_HOST")
for chart in "${STORE_CHARTS[@]}"; do
    refused "$chart" "- at '': missing property 'host'" --set-string storeId=0123456789
    refused "$chart" "- at '': missing property 'storeId'" --set host="$TEST_HOST"
    refused "$chart" "- at '/host': '-Bad_Host' does not match pattern" --set-string storeId=1 --set host=-Bad_Host
    refused "$chart" "- at '/plan': value must be one of 'small', 'medium', 'large'" "${base[@]}" --set plan=huge
    refused "$chart" "- at '/setup/backoffLimit': minimum: got -1, want 0" "${base[@]}" --set setup.backoffLimit=-1
    refused "$chart" "- at '/plans/small/quota/pods': minimum: got -10, want 1" "${base[@]}" --set plans.small.quota.pods=-10
    refused "$chart" "- at '': additional properties 'colour' not allowed" "${base[@]}" --set colour=red
    refused "$chart" "- at '/credentials': additional properties 'password' not allowed" "${base[@]}" --set credentials.password=x
done

# A negative size: volume sizes must be Kubernetes quantities (no sign).
quantity="does not match pattern '^[0-9]+(\\\\.[0-9]+)?(Ki|Mi|Gi|Ti|k|M|G|T)?\$'"
refused woocommerce-store "- at '/plans/small/storage/mariadb': '-4Gi' $quantity" "${base[@]}" --set plans.small.storage.mariadb=-4Gi
refused medusa-store "- at '/plans/small/storage/postgresql': '-5Gi' $quantity" "${base[@]}" --set plans.small.storage.postgresql=-5Gi
refused medusa-store "- at '/plans/large/resources/medusa/limits/memory': '-1Gi' $quantity" "${base[@]}" --set plans.large.resources.medusa.limits.memory=-1Gi

# Plans that do not fit the provisioner's ResourceQuota: the charts' own check names the numbers.
refused woocommerce-store 'plan "small" does not fit its ResourceQuota: requests.cpu of all pods is 1260m, the quota is 1000m' \
    "${base[@]}" --set plans.small.resources.wordpress.requests.cpu=900m --set plans.small.resources.wordpress.limits.cpu=900m
refused medusa-store 'plan "small" does not fit its ResourceQuota: requests.memory of all pods is 2256Mi, the quota is 2048Mi' \
    "${base[@]}" --set plans.small.resources.medusa.requests.memory=1280Mi
refused medusa-store 'plan "medium" does not fit its ResourceQuota: the three volumes request 24576Mi (postgresql 16Gi + redis 2Gi + medusa uploads 6Gi), the quota is 20480Mi' \
    "${base[@]}" --set plan=medium --set plans.medium.storage.postgresql=16Gi --set plans.medium.storage.medusa=6Gi
refused medusa-store 'plans.small.resources.redis: requests.cpu 300m is more than limits.cpu 200m' \
    "${base[@]}" --set plans.small.resources.redis.requests.cpu=300m
refused medusa-store "- at '/medusa/heapPercent': maximum: got 95, want 90" "${base[@]}" --set medusa.heapPercent=95
refused medusa-store "- at '/setup/region/countries/0': 'USA' does not match pattern '^[a-z]{2}\$'" "${base[@]}" --set 'setup.region.countries[0]=USA'

# And the good values still render.
for chart in "${STORE_CHARTS[@]}"; do
    helm template "$RELEASE" "$CHARTS_ROOT/$chart" "${base[@]}" >/dev/null || fail "$chart refused valid values"
done
ok "schema and quota checks refuse missing host/storeId, plan=huge, negative numbers and sizes, unknown keys, plans over quota, with clear messages (both charts)"
