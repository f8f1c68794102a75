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
fi
if ls migrations/*.sql >/dev/null 2>&1; then
  node_modules/.bin/wrangler d1 migrations apply DB --local --persist-to "$state" >/dev/null
fi
export POLYCACHE_PREBUILT=1
exec node_modules/.bin/wrangler dev --ip 127.0.0.1 --port "${PORT:-8787}" --persist-to "$state" "$@"
