#!/bin/sh
# Entrypoint of localhost/opsctl-redis: the contract of the official redis
# image's entrypoint, on Debian's redis-server 7.0 (docs/images.md).
# - A first argument that is an option or a *.conf file means redis-server.
# - redis-server started as root hands the working directory (/data) to the
#   redis user and runs as that user; protected mode is off by default (the
#   official build compiles that default in; here it is the first option, so
#   the caller's own --protected-mode wins).
# - Any other command runs as given and as root, as in the official image:
#   the reference compose file's `sh -c "exec redis-server --requirepass ..."` too.
set -e
case "${1:-}" in -*|*.conf) set -- redis-server "$@" ;; esac
if [ "${1:-}" = redis-server ] && [ "$(id -u)" = 0 ]; then
    find . \! -user redis -exec chown redis '{}' +
    exec setpriv --reuid=redis --regid=redis --init-groups -- "$0" "$@"
fi
if [ "${1:-}" = redis-server ]; then
    shift
    case "${1:-}" in
        -) set -- redis-server "$@" ;;  # the configuration comes on stdin: leave it alone
        ''|-*) set -- redis-server --protected-mode no "$@" ;;
        *) conf="$1"; shift; set -- redis-server "$conf" --protected-mode no "$@" ;;
    esac
fi
# Files redis writes stay private unless the caller chose a umask.
[ "$(umask)" != 0022 ] || umask 0077
exec "$@"
