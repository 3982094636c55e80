#!/usr/bin/env bash
# (a) `helm lint --strict` of both store charts, in every plan, with the values the provisioner
# passes (values file with storeId, storeName, host, plan, adminEmail, credentials.existingSecret,
# ingress.className) and with only the two required values on the command line. Needs no cluster.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"

for chart in "${STORE_CHARTS[@]}"; do
    dir="$CHARTS_ROOT/$chart"
    # The minimal install: only the required values, everything else from the chart's defaults.
    out=$(helm lint --strict "$dir" --set host="$TEST_HOST" --set-string storeId=0123456789 2>&1) \
        || fail "helm lint --strict $chart (required values only):"$'\n'"$out"
    for plan in "${PLANS[@]}"; do
        provisioner_values "$WORK/$chart-$plan.yaml" "$plan" "$(new_uuid)" nginx
        out=$(helm lint --strict "$dir" -f "$WORK/$chart-$plan.yaml" 2>&1) \
            || fail "helm lint --strict $chart (provisioner values, plan $plan):"$'\n'"$out"
    done
    # TLS on, no persistence, no ServiceAccount: the other branches of the templates.
    out=$(helm lint --strict "$dir" -f "$WORK/$chart-small.yaml" --set ingress.tls.enabled=true \
        --set persistence.enabled=false --set serviceAccount.create=false 2>&1) \
        || fail "helm lint --strict $chart (tls, no persistence):"$'\n'"$out"
    ok "helm lint --strict $chart: required values only, provisioner values for ${PLANS[*]}, tls/no persistence"
done
