#!/usr/bin/env bash
# Setup for tests/replicas and bench/rolling.py (idempotent, run as root on Debian 12):
# HAProxy, the load balancer in front of the proxy replicas (docs/replicas.md),
# and redis-server, the shared router/rate-limit state the replicas need.
set -euo pipefail

missing=()
command -v haproxy >/dev/null || missing+=(haproxy)
command -v redis-server >/dev/null || missing+=(redis-server)
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# Tests run their own haproxy processes; the packaged service is not needed.
if command -v systemctl >/dev/null && systemctl is-active --quiet haproxy 2>/dev/null; then
    systemctl disable --now haproxy || true
fi
haproxy -v | head -1
