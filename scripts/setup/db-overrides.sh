#!/bin/sh
# Setup for tests/db and bench/overrides.py: the psql client (the test
# fixture applies LiteLLM's migration SQL with it). The Postgres server
# itself (127.0.0.1:5432, user postgres) is started by .ci/run. Idempotent.
set -eu
if ! command -v psql >/dev/null 2>&1; then
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-client
fi
