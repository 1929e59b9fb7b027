#!/bin/bash
# Entrypoint of localhost/opsctl-postgres: the contract of the official postgres
# image's docker-entrypoint.sh, on Debian's PostgreSQL 15 (docs/images.md).
#
# - First start on an empty $PGDATA (default /var/lib/postgresql/data): initdb
#   with the superuser POSTGRES_USER (default postgres) and the password
#   POSTGRES_PASSWORD (required unless POSTGRES_HOST_AUTH_METHOD=trust); the
#   socket and loopback are trusted, every other host needs
#   POSTGRES_HOST_AUTH_METHOD (default: password_encryption, scram-sha-256).
#   Then, on a server listening on the socket only, POSTGRES_DB (default
#   POSTGRES_USER) is created and /docker-entrypoint-initdb.d/*.sql, *.sql.gz
#   and *.sh are run, in name order. POSTGRES_INITDB_ARGS go to initdb.
# - POSTGRES_PASSWORD_FILE, POSTGRES_USER_FILE, ... read a value from a file.
# - Arguments starting with "-" are postgres options; another command runs as given.
# - postgres runs as the postgres user and is exec'd: it is PID 1 and gets the
#   image's stop signal (SIGINT, a fast shutdown).
set -Eeuo pipefail

# NAME [DEFAULT]: export NAME from itself, from the file named by NAME_FILE, or DEFAULT.
from_env_or_file() {
    local var="$1" file="${1}_FILE"
    if [ -n "${!var:-}" ] && [ -n "${!file:-}" ]; then
        echo "error: both $var and $file are set (they are exclusive)" >&2
        exit 1
    fi
    if [ -n "${!file:-}" ]; then
        export "$var=$(<"${!file}")"
    else
        export "$var=${!var:-${2:-}}"
    fi
    unset "$file"
}

sql() {  # psql on the socket as the new superuser, stopping at the first error
    PGHOST= PGHOSTADDR= psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc "$@"
}

initialize() {  # "$@": postgres and its options
    if [ -z "$POSTGRES_PASSWORD" ] && [ "${POSTGRES_HOST_AUTH_METHOD:-}" != trust ]; then
        cat >&2 <<'MSG'
Error: Database is uninitialized and superuser password is not specified.
       Set POSTGRES_PASSWORD to a non-empty value for the superuser, or
       POSTGRES_HOST_AUTH_METHOD=trust to allow every connection without a
       password (not recommended).
MSG
        exit 1
    fi
    ls /docker-entrypoint-initdb.d/ >/dev/null  # fail now, not half-way, if it is unreadable
    local initdb_args
    eval "initdb_args=($POSTGRES_INITDB_ARGS)"
    # --pwfile needs a line even for an empty password (trust).
    initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") "${initdb_args[@]}"

    local auth="${POSTGRES_HOST_AUTH_METHOD:-$(postgres -C password_encryption "${@:2}")}"
    printf '\nhost all all all %s\n' "$auth" >>"$PGDATA/pg_hba.conf"

    export PGPASSWORD="${PGPASSWORD:-$POSTGRES_PASSWORD}"
    pg_ctl -D "$PGDATA" -w -o "$(printf '%q ' "${@:2}" -c listen_addresses= -p "${PGPORT:-5432}")" start
    if [ -z "$(sql --dbname postgres --set db="$POSTGRES_DB" --tuples-only <<<"SELECT 1 FROM pg_database WHERE datname = :'db'")" ]; then
        sql --dbname postgres --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db"'
    fi
    local f
    for f in /docker-entrypoint-initdb.d/*; do
        case "$f" in
            *.sh) echo "$0: running $f"; if [ -x "$f" ]; then "$f"; else . "$f"; fi ;;
            *.sql) echo "$0: running $f"; sql --dbname "$POSTGRES_DB" -f "$f" ;;
            *.sql.gz) echo "$0: running $f"; gunzip -c "$f" | sql --dbname "$POSTGRES_DB" ;;
            *) [ -e "$f" ] && echo "$0: ignoring $f" ;;
        esac
    done
    pg_ctl -D "$PGDATA" -m fast -w stop
    unset PGPASSWORD
    echo "PostgreSQL init process complete; ready for start up."
}

case "${1:-}" in -*) set -- postgres "$@" ;; esac
[ "${1:-}" = postgres ] || exec "$@"
for arg; do
    case "$arg" in -'?'|--help|--describe-config|-V|--version) exec "$@" ;; esac
done

export PGDATA="${PGDATA:-/var/lib/postgresql/data}"
from_env_or_file POSTGRES_PASSWORD
from_env_or_file POSTGRES_USER postgres
from_env_or_file POSTGRES_DB "$POSTGRES_USER"
from_env_or_file POSTGRES_INITDB_ARGS

if [ "$(id -u)" = 0 ]; then
    mkdir -p "$PGDATA" /var/run/postgresql
    chmod 00700 "$PGDATA" || :
    chmod 03775 /var/run/postgresql || :
    find "$PGDATA" /var/run/postgresql \! -user postgres -exec chown postgres:postgres '{}' +
    HOME=/var/lib/postgresql exec setpriv --reuid=postgres --regid=postgres --init-groups -- "$0" "$@"
fi

if [ -s "$PGDATA/PG_VERSION" ]; then
    echo "PostgreSQL Database directory appears to contain a database; Skipping initialization"
else
    initialize "$@"
fi
exec "$@"
