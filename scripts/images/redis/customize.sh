#!/bin/sh
# mmdebstrap customize hook of localhost/opsctl-redis; $1 is the root.
set -eu
root="$1"
install -m 0755 "$(dirname "$0")/docker-entrypoint.sh" "$root/usr/local/bin/docker-entrypoint.sh"
mkdir -p "$root/data"
chroot "$root" chown redis:redis /data
