# polycache: the two commands are `make dev` and `make test`; both bootstrap
# themselves (scripts/bootstrap.sh installs only what is missing).
SHELL := /bin/bash
export PATH := $(HOME)/.cargo/bin:$(PATH)
export WRANGLER_SEND_METRICS := false
# wrangler dev (make dev, bench) uses Miniflare's stand-in `Request.cf` data
# instead of fetching it, which prints a stack trace offline (scripts/dev.sh).
export CLOUDFLARE_CF_FETCH_ENABLED ?= false
WRANGLER := node_modules/.bin/wrangler
DEV_STATE := .state/dev

.PHONY: dev test build bootstrap deploy bench fmt clean

bootstrap:
	@bash scripts/bootstrap.sh

build: bootstrap
	@bash scripts/build.sh

## make dev: the Worker on http://127.0.0.1:8787 with local D1, KV, Cache API and Durable Objects;
## CACHE_BACKEND=kv|upstash|cache make dev picks the cache backend (README, "Cache backends").
dev: build
	@bash scripts/dev.sh

## make test: every test tier (lint, unit, runtime), as CI runs it.
test: bootstrap
	@bash scripts/test.sh

## make deploy: wrangler deploy (needs a Cloudflare account; see README).
deploy: build
	POLYCACHE_PREBUILT=1 $(WRANGLER) deploy

## make bench: fan-out, mirroring and reads against a peer (bench/README.md);
## BENCH_ARGS="--only runtime --streams 1000" for one configuration.
bench: build
	@bash bench/run.sh $(BENCH_ARGS)

fmt:
	cargo fmt --all

clean:
	rm -rf build target/wasm32-unknown-unknown .state
