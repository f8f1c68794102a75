#!/usr/bin/env bash
# Installs what building, running and testing polycache needs, and only what
# is missing, so that a second run does nothing (and is fast). Everything
# comes from crates.io, npm or Debian: nothing else is reachable on the
# machines this runs on (docs/architecture.md, "Offline builds").
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

# Pinned tool versions. wasm-bindgen-cli must equal the wasm-bindgen crate in
# Cargo.lock, or the generated glue does not match the compiled wasm.
WORKER_BUILD_VERSION=0.8.7
WASM_BINDGEN_VERSION=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3; exit }' Cargo.lock)

say() { printf 'bootstrap: %s\n' "$*"; }

# The wasm target of the pinned toolchain (rust-toolchain.toml).
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi
for component in rustfmt clippy; do
  if ! rustup component list --installed | grep -q "^$component"; then
    say "adding $component"
    rustup component add "$component"
  fi
done

if [ "$(worker-build --version 2>/dev/null | awk '{print $NF}')" != "$WORKER_BUILD_VERSION" ]; then
  say "installing worker-build $WORKER_BUILD_VERSION (a few minutes, once)"
  cargo install worker-build --version "$WORKER_BUILD_VERSION" --locked
fi

if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $NF}')" != "$WASM_BINDGEN_VERSION" ]; then
  say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (a few minutes, once)"
  # Not --locked: the 0.2.130 lock names a webpki-roots release that the
  # registry no longer serves (docs/architecture.md, "Offline builds").
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
fi

# npm ci only when the lock changed since the last install.
npm_install() { # dir
  local dir=$1 stamp="$1/node_modules/.polycache-lock"
  if [ ! -f "$stamp" ] || ! cmp -s "$dir/package-lock.json" "$stamp"; then
    say "npm ci in $dir"
    (cd "$dir" && WRANGLER_SEND_METRICS=false npm ci --no-audit --no-fund --loglevel=error)
    cp "$dir/package-lock.json" "$stamp"
  fi
}
npm_install .
npm_install clients/js

# Debian packages the test tiers need, installed only when missing:
# chromium for the browser tests (driven by playwright-core; nothing may
# download a browser), redis-server behind the Upstash REST shim, wrk for
# the benchmarks.
apt_packages=(chromium redis-server wrk)
apt_needed=()
for pkg in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || apt_needed+=("$pkg")
done
if [ ${#apt_needed[@]} -gt 0 ]; then
  say "installing Debian packages: ${apt_needed[*]}"
  sudo_cmd=(); [ "$(id -u)" = 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${apt_needed[@]}"
fi
say "ready"
