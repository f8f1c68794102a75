#!/usr/bin/env bash
# Builds the Worker (wasm + JS shim) into build/ without downloading anything:
# worker-build would fetch wasm-bindgen, esbuild and wasm-opt from the
# internet, so it is pointed at the copies the bootstrap installed from
# crates.io and npm (docs/architecture.md, "Offline builds").
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

# --- the demo page --------------------------------------------------------
# public/app.js, served with public/index.html as static assets at `/`
# (wrangler.toml, [assets]): bundled from clients/js/demo by clients/js's
# pinned esbuild, and rewritten only when its bytes change, since
# `wrangler dev` reloads when the assets change. Prebuilt runs (every test
# instance's start) keep the bundle they find.
if [ "${POLYCACHE_PREBUILT:-}" != 1 ] || [ ! -f public/app.js ]; then
  if [ ! -d clients/js/node_modules ]; then
    echo "build: clients/js has no node_modules; run scripts/bootstrap.sh (make bootstrap)" >&2
    exit 1
  fi
  node clients/js/scripts/build-demo.mjs
fi

# --- the Worker -------------------------------------------------------------
# build/entry.mjs (wrangler.toml's main): worker-build's index.js with the Hub
# wrapped for RPC (src/js/entry.mjs). Rewritten only when its bytes change,
# as wrangler dev reloads when a module of the Worker changes.
mkdir -p build
cmp -s src/js/entry.mjs build/entry.mjs || cp src/js/entry.mjs build/entry.mjs

# The test harness builds once and then starts many `wrangler dev` instances,
# each of which would run this build again: it sets POLYCACHE_PREBUILT=1.
if [ "${POLYCACHE_PREBUILT:-}" = 1 ] && [ -f build/index.js ]; then
  exit 0
fi
export WASM_BINDGEN_BIN="${WASM_BINDGEN_BIN:-$HOME/.cargo/bin/wasm-bindgen}"
export ESBUILD_BIN="${ESBUILD_BIN:-$PWD/node_modules/@esbuild/linux-x64/bin/esbuild}"
opt=(--no-opt)
if [ -x node_modules/.bin/wasm-opt ] && [ "${POLYCACHE_WASM_OPT:-1}" = 1 ]; then
  export WASM_OPT_BIN="$PWD/node_modules/.bin/wasm-opt"
  opt=()
fi
exec worker-build --release "${opt[@]}"
