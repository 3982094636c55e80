#!/usr/bin/env bash
# The approach of earlier attempts, as the reference: one store at a time, a namespace and
# `helm upgrade --install --wait` in a loop. Prints one JSON object.
set -euo pipefail
n=${1:-10}
root="$(cd "$(dirname "$0")/.." && pwd)"
export PATH="${STOREFLEET_CACHE:-$HOME/.cache/storefleet}/bin:$PATH"
start=$(date +%s.%N)
for ((i = 0; i < n; i++)); do
    ns="baseline-$RANDOM-$i"
    kubectl create namespace "$ns" >/dev/null
    helm upgrade --install store "$root/charts/woocommerce-store" -n "$ns" \
        --set host="b$i.baseline.localtest.me" --set-string storeId="baseline-$i" \
        --wait --wait-for-jobs --timeout 5m >/dev/null
done
end=$(date +%s.%N)
python3 -c "import json; t=$end-$start; print(json.dumps({'stores': $n, 'wall_seconds': round(t,2), 'stores_per_second': round($n/t,3), 'seconds_per_store': round(t/$n,2)}))"
