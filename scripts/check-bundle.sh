#!/usr/bin/env bash
# Checks the deploy path without reaching Cloudflare: `wrangler deploy
# --dry-run` bundles the Worker as a deploy would, and the bundle must fit
# the Workers size limit. The limit is on the compressed upload: 3 MB on the
# free plan, 10 MB on paid plans (Cloudflare, "Workers limits"); we hold
# ourselves to the free plan's.
set -euo pipefail
cd "$(dirname "$0")/.."
out=build/dry-run
rm -rf "$out"
POLYCACHE_PREBUILT=1 WRANGLER_SEND_METRICS=false \
  node_modules/.bin/wrangler deploy --dry-run --outdir "$out" > build/dry-run.log 2>&1 || {
  cat build/dry-run.log; exit 1; }
limit=$((3 * 1000 * 1000))
raw=$(find "$out" -type f -printf '%s\n' | awk '{ s += $1 } END { print s }')
gz=$(tar -C "$out" -cf - . | gzip -9 | wc -c)
wasm=$(find "$out" -name '*.wasm' -printf '%s\n' | awk '{ s += $1 } END { print s }')
wasm_gz=$(find "$out" -name '*.wasm' -exec cat {} + | gzip -9 | wc -c)
printf 'bundle: %s bytes raw, %s bytes gzip (wasm %s raw, %s gzip); limit %s gzip\n' "$raw" "$gz" "$wasm" "$wasm_gz" "$limit"
if [ "$gz" -gt "$limit" ]; then
  echo "bundle exceeds the Workers size limit" >&2
  exit 1
fi
