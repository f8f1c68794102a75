#!/usr/bin/env bash
# `make dev`: applies the local D1 migrations and runs `wrangler dev` on
# 127.0.0.1:8787 with state under .state/dev, so that data survives restarts.
set -euo pipefail
cd "$(dirname "$0")/.."
state=.state/dev
mkdir -p "$state"
# Local secrets for development; never used in production (`wrangler secret put`).
if [ ! -f .dev.vars ]; then
  cp scripts/dev.vars.example .dev.vars
  echo "dev: wrote .dev.vars with development secrets"
elif grep -q '^SERVICE_PASSWORD="dev-service-password"$' .dev.vars; then
  # The example's service password before it had to be strong (README,
  # "Security"): with it every login would answer a configuration error.
  sed -i "s|^SERVICE_PASSWORD=.*|$(grep '^SERVICE_PASSWORD=' scripts/dev.vars.example)|" .dev.vars
  echo "dev: .dev.vars had the old example's weak SERVICE_PASSWORD; replaced it with the example's new one"
fi
if ls migrations/*.sql >/dev/null 2>&1; then
  node_modules/.bin/wrangler d1 migrations apply DB --local --persist-to "$state" >/dev/null
fi
export POLYCACHE_PREBUILT=1
# Miniflare fetches the `Request.cf` data of your connection from
# workers.cloudflare.com at start-up, and prints a stack trace when it
# cannot (offline, or behind a proxy). Its stand-in (Austin, Texas) is what
# every local request then carries anyway ("The edge tier", "Locally"), so
# do not fetch; CLOUDFLARE_CF_FETCH_ENABLED=true make dev fetches.
export CLOUDFLARE_CF_FETCH_ENABLED="${CLOUDFLARE_CF_FETCH_ENABLED:-false}"
# Cache and origin-mode settings given in the environment win over
# wrangler.toml and .dev.vars, so that `CACHE_BACKEND=upstash make dev` (or
# kv, or cache) and `ORIGIN_URL=... CACHE_ROUTES=... make dev` do what they say.
vars=()
for name in CACHE_BACKEND CACHE_TTL_SECS UPSTASH_REDIS_REST_URL UPSTASH_REDIS_REST_TOKEN \
  ORIGIN_URL CACHE_ROUTES CACHE_DEPENDENCIES ORIGIN_TIMEOUT_MS ORIGIN_MAX_BODY_BYTES ORIGIN_UNMATCHED; do
  if [ -n "${!name:-}" ]; then vars+=(--var "$name:${!name}"); fi
done
# Once it answers, say in one line that it is up, or which setting is wrong
# (scripts/dev-check.mjs; it ends by itself within 90 s).
node scripts/dev-check.mjs "${PORT:-8787}" &
# CACHE_BACKEND=upstash without a database named anywhere: a local
# redis-server behind the Upstash REST shim (tests/upstash-shim/) on
# 127.0.0.1:8079 with the token polycache-dev-token, stopped with wrangler.
if [ "${CACHE_BACKEND:-}" = upstash ] && [ -z "${UPSTASH_REDIS_REST_URL:-}" ] \
  && ! grep -q '^UPSTASH_REDIS_REST_URL=.' .dev.vars; then
  shim_port=8079 shim_token=polycache-dev-token
  mkdir -p "$state/redis"
  node tests/upstash-shim/server.mjs --port "$shim_port" --token "$shim_token" --spawn-redis "$state/redis" &
  shim=$!
  trap 'kill "$shim" 2>/dev/null || true; wait "$shim" 2>/dev/null || true' EXIT
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$shim_port") 2>/dev/null && break
    kill -0 "$shim" 2>/dev/null || { echo "dev: the Upstash shim did not start" >&2; exit 1; }
    sleep 0.1
  done
  echo "dev: Upstash shim on http://127.0.0.1:$shim_port (token $shim_token) over a local redis-server"
  vars+=(--var "UPSTASH_REDIS_REST_URL:http://127.0.0.1:$shim_port" --var "UPSTASH_REDIS_REST_TOKEN:$shim_token")
  node_modules/.bin/wrangler dev --ip 127.0.0.1 --port "${PORT:-8787}" --persist-to "$state" "${vars[@]}" "$@"
  exit $?
fi
exec node_modules/.bin/wrangler dev --ip 127.0.0.1 --port "${PORT:-8787}" --persist-to "$state" "${vars[@]}" "$@"
