#!/bin/sh
# Entrypoint of localhost/opsctl-haproxy: the contract of the official haproxy
# image's entrypoint, on Debian's haproxy 2.6 (docs/images.md).
# - A first argument that is an option means haproxy.
# - haproxy runs in the foreground in master-worker mode (-W -db), so a
#   SIGUSR1 (the image's stop signal) is a soft stop: connections in flight end.
set -e
case "${1:-}" in -*) set -- haproxy "$@" ;; esac
if [ "${1:-}" = haproxy ]; then
    shift
    set -- haproxy -W -db "$@"
fi
exec "$@"
