#!/bin/sh
# mmdebstrap customize hook of localhost/opsctl-haproxy; $1 is the root.
# The official image reads /usr/local/etc/haproxy/haproxy.cfg; the stack mounts it there.
set -eu
root="$1"
install -m 0755 "$(dirname "$0")/docker-entrypoint.sh" "$root/usr/local/bin/docker-entrypoint.sh"
mkdir -p "$root/usr/local/etc/haproxy" "$root/run/haproxy"
