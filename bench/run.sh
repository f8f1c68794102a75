#!/usr/bin/env bash
# `make bench`: the benchmark (bench/README.md). Arguments go to bench/bench.mjs,
# e.g. `bash bench/run.sh --only runtime --streams 1000`.
set -euo pipefail
cd "$(dirname "$0")/.."
export WRANGLER_SEND_METRICS=false
# wrangler dev restarts the Worker when wrangler.toml changes; other people's
# edits of the tree must not cut the streams of a measurement. (Changes under
# its [build] watch_dir still do: bench.mjs then measures the row again.)
export WRANGLER_CI_DISABLE_CONFIG_WATCHING=true

# Every stream is an open socket in the load client and in the server (two in
# wrangler dev's proxy): raise the open-files limit to the hard limit. The
# processes the bench starts inherit it.
hard=$(ulimit -Hn)
ulimit -n "$hard" 2>/dev/null || true
echo "bench: open-files limit $(ulimit -n) (hard $hard)" >&2

if [ ! -f build/entry.mjs ] || [ ! -f build/index.js ] || [ ! -f build/index_bg.wasm ]; then
  echo "bench: build/entry.mjs, index.js or index_bg.wasm missing: run \`make build\` (or \`make bench\`)" >&2
  exit 1
fi

# The peer's dependencies, exactly as locked, only when missing.
if [ ! -f bench/peers/node_modules/better-sse/package.json ]; then
  echo "bench: installing the peer (npm ci in bench/peers)" >&2
  (cd bench/peers && npm ci --no-audit --no-fund --loglevel=error)
fi

exec node bench/bench.mjs "$@"
