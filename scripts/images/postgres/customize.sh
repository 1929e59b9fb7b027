#!/bin/sh
# mmdebstrap customize hook of localhost/opsctl-postgres; $1 is the root.
set -eu
root="$1"
install -m 0755 "$(dirname "$0")/docker-entrypoint.sh" "$root/usr/local/bin/docker-entrypoint.sh"
# initdb copies this sample: listen on every interface inside the container, as postgres:16 does.
sample="$root/usr/share/postgresql/15/postgresql.conf.sample"
sed -ri "s!^#?(listen_addresses)\s*=\s*\S+.*!\1 = '*'!" "$sample"
grep -q "^listen_addresses = '\*'" "$sample"
# No cluster of postgresql-common's own (createcluster.d/opsctl.conf stops it being made).
test ! -e "$root/var/lib/postgresql/15/main"
mkdir -p "$root/var/lib/postgresql/data" "$root/run/postgresql" "$root/docker-entrypoint-initdb.d"
chroot "$root" chown postgres:postgres /var/lib/postgresql/data /run/postgresql
chmod 0700 "$root/var/lib/postgresql/data"
chmod 3775 "$root/run/postgresql"
