#!/usr/bin/env bash
# The test command: prepares a fresh machine for opsctl's tests, then runs them.
# Idempotent; every step is skipped when it is already done. Run as root
# (it installs Debian packages). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

# Services the tests talk to for real (this machine kind starts them; restart if down).
if ! pg_isready -h 127.0.0.1 -p 5432 -q; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
fi
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
        --dir /var/lib/redis --logfile /var/log/redis/ci.log
fi

[ -x .venv/bin/python ] || python3 -m venv .venv

# System packages and tools some tests need (compilers for llama.cpp, psql,
# the container engine and the Compose plugin, ...): before the pip install,
# which builds llama-cpp-python from source on a fresh machine.
for step in scripts/setup/*.sh; do
    [ -e "$step" ] && bash "$step"
done

# The package with its test extra (pinned litellm, the real schema's migrations, ...).
.venv/bin/pip install -q -e '.[test]'

.venv/bin/python -m pytest "$@"
