#!/usr/bin/env bash
# `make test`: every tier, cheapest first, stopping at the first failure.
#   1. lint: cargo fmt, clippy (native and wasm32) with warnings as errors, cargo doc
#   2. unit: native cargo tests of the pure crates; the Hub's stream registry
#      (durable_objects/src/js/streams.js) under Node's test runner
#   3. build: the Worker bundle, and `wrangler deploy --dry-run` with a size check
#   4. runtime: end-to-end tests against `wrangler dev` (real workerd, D1, KV, DOs)
#   5. hostile traffic: 10,000 seeded random requests against the built Worker in workerd,
#      and 3,000 in origin mode in front of the stand-in shop API
#      (bench/lib/runtime-host.mjs: D1, KV, DOs, without wrangler dev's proxy) (tests/hostile/):
#      no 5xx, every error JSON, no crash in the Worker's log, nothing refused changed data;
#      it prints its seed (POLYCACHE_HOSTILE_SEED=<seed> replays it), its duration and statuses
#   6. browser: the demo page in Debian's Chromium (playwright-core) against `wrangler dev`
#   7. bench smoke: `make bench`'s command on 100 streams (runtime, floor, peer),
#      so that the benchmark keeps running and keeps its meaning; no figure is asserted
# The TypeScript client (clients/js) is type-checked and unit-tested with the unit tier.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
export WRANGLER_SEND_METRICS=false
start=$(date +%s)
step() { printf '\n=== %s (%ss)\n' "$*" "$(( $(date +%s) - start ))"; }

# Every `node --test` run has a --test-timeout, so that a test that never
# ends, or a test file whose process never exits (a timer or a socket left
# behind keeps its event loop alive), fails instead of hanging `make test`.
# On Node 20 the flag bounds each test file's run as a whole (measured on
# 20.20: a file whose tests all pass but that leaves an interval running is
# reported "test timed out after ..." at the bound; later Node versions
# apply it to each test, nodejs/node#57672). So the bound is a file's run
# with a wide margin: the unit files take under 2 s (clients/js's `npm test`
# has the same bound), a runtime, browser or bench file well under the
# 10 minutes given here (all of `make test` takes about 9).
unit_timeout=--test-timeout=30000
e2e_timeout=--test-timeout=600000

native=(-p polycache-core -p polycache-cli)
# The Worker crates compile natively too; their pure parts (schema validation) have unit tests.
native_worker=(-p polycache -p polycache-hub --lib)
wasm=(-p polycache -p polycache-hub)

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (native: ${native[*]})"
cargo clippy "${native[@]}" --all-targets -- -D warnings
cargo clippy "${native_worker[@]}" --tests -- -D warnings
step "cargo clippy (wasm32: ${wasm[*]})"
cargo clippy "${wasm[@]}" --target wasm32-unknown-unknown -- -D warnings

step "cargo doc"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps "${native[@]}" --quiet
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps "${wasm[@]}" --target wasm32-unknown-unknown --quiet

step "unit tests (native)"
cargo test "${native[@]}" --quiet
cargo test "${native_worker[@]}" --quiet

step "unit tests (Node: the Hub's stream registry)"
node --test "$unit_timeout" tests/unit/

step "clients/js: tsc --noEmit, unit tests"
(cd clients/js && npm run --silent typecheck && npm test --silent)

step "build the Worker"
bash scripts/build.sh

step "wrangler deploy --dry-run"
bash scripts/check-bundle.sh

cargo build -p polycache-cli --quiet # target/debug/polycache, run by tests/runtime/cli.test.mjs
step "runtime tests (wrangler dev)"
POLYCACHE_PREBUILT=1 node --test --test-concurrency=1 "$e2e_timeout" tests/runtime/

step "hostile traffic (10,000 random requests, 3,000 in origin mode, workerd without wrangler dev's proxy)"
POLYCACHE_PREBUILT=1 node --test --test-concurrency=1 "$e2e_timeout" tests/hostile/

step "browser tests (Chromium, wrangler dev)"
POLYCACHE_PREBUILT=1 node --test --test-concurrency=1 "$e2e_timeout" tests/browser/

step "bench smoke (bench/run.sh: runtime, floor and peer, 100 streams)"
node --test "$e2e_timeout" tests/bench/

step "all tiers passed"
