#!/bin/sh
# Setup for the tests that run a real DB-backed LiteLLM proxy (tests/support/db_proxy.py).
# Idempotent; run as root on Debian 12.
#
# LiteLLM reaches Postgres through prisma-client-py, which runs Prisma's native
# query engine 5.17.0, a binary it downloads at run time from a host these
# machines cannot reach. The tests run Prisma's WASM build of that engine
# (from npm) behind tests/support/prisma-engine/query-engine.mjs, a stand-in
# for the binary. This installs, outside the repository:
#   - Node.js and npm (Debian's), when they are missing;
#   - the stand-in's npm dependencies (package.json and package-lock.json beside
#     it) into $OPSCTL_PRISMA_CACHE/engine/<hash of those two files>;
#   - the Prisma CLI 5.17.0 where prisma-client-py looks for it with
#     PRISMA_HOME_DIR=$OPSCTL_PRISMA_CACHE/home, without its install
#     scripts (they would download the native engines).
# `prisma generate` (LiteLLM's schema into the venv's prisma package) needs
# litellm installed in the venv, which comes after this step in scripts/test.sh:
# the test fixture runs it, once per venv.
set -eu
engine="$(cd "$(dirname "$0")/../../tests/support/prisma-engine" && pwd)"
cache="${OPSCTL_PRISMA_CACHE:-/var/cache/opsctl-test/prisma}"
prisma_version=5.17.0
engine_hash=393aa359c9ad4a4bb28630fb5613f9c281cde053

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nodejs npm
fi
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 18 ? 0 : 1)' || {
    echo "prisma.sh: the query engine stand-in needs Node.js 18 or newer, not $(node --version)" >&2
    exit 1
}

# Each install goes into a fresh directory that is moved into place only once
# complete, so a half install (an interrupted run) is never taken for done.
# --ignore-scripts: no package here needs one, and Prisma's would download engines.
npm_flags="--ignore-scripts --no-audit --no-fund --loglevel=error"

# The stand-in's dependencies, keyed as tests/support/db_proxy.py looks for them.
key="$(cat "$engine/package.json" "$engine/package-lock.json" | sha256sum | cut -c1-16)"
deps="$cache/engine/$key"
if [ ! -d "$deps/node_modules" ]; then
    mkdir -p "$cache/engine"
    tmp="$(mktemp -d "$deps.tmp.XXXXXX")"
    cp "$engine/package.json" "$engine/package-lock.json" "$tmp/"
    (cd "$tmp" && npm ci $npm_flags)
    rm -rf "$deps"
    mv -T "$tmp" "$deps"
fi

# The Prisma CLI, in the layout prisma-client-py's binary cache has (it runs
# node_modules/prisma/build/index.js from there, and would npm-install it itself).
cli="$cache/home/.cache/prisma-python/binaries/$prisma_version/$engine_hash"
if [ ! -f "$cli/node_modules/prisma/build/index.js" ]; then
    mkdir -p "$(dirname "$cli")"
    tmp="$(mktemp -d "$cli.tmp.XXXXXX")"
    echo '{"name": "prisma-binaries", "private": true}' >"$tmp/package.json"
    (cd "$tmp" && npm install $npm_flags --no-package-lock "prisma@$prisma_version")
    rm -rf "$cli"
    mv -T "$tmp" "$cli"
fi
