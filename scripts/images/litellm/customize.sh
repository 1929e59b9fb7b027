#!/bin/bash
# mmdebstrap customize hook of localhost/opsctl-litellm; $1 is the root.
# build.sh passes the pins and caches in OPSCTL_* variables.
#
# pip runs inside the root (the venv belongs to the image's own Python), with
# the host's CA bundle lent to it for the download (this network inspects TLS;
# the image keeps Debian's bundle). No pip cache: this network's answers are
# not cacheable, and unpacking and compiling are most of pip's time anyway.
# npm runs outside: the Prisma CLI and the engine stand-in's packages are
# JavaScript and WebAssembly, the same on any Node, and the image needs no npm.
set -euo pipefail
root="$1"
here="$(cd "$(dirname "$0")" && pwd)"
site=/opt/venv/lib/python3.11/site-packages

now() { date +%s%N; }
step() {  # NAME COMMAND...: run it, appending "NAME seconds" to the times file
    local t0 ns
    t0="$(now)"
    "${@:2}"
    ns=$(( $(now) - t0 ))
    printf '%s %d.%d\n' "$1" $((ns / 1000000000)) $((ns / 100000000 % 10)) >>"$OPSCTL_TIMES"
}
in_root() {  # a clean environment inside the root: nothing of the host's leaks in
    chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 PATH=/opt/venv/bin:/usr/bin:/bin \
        PRISMA_BINARY_CACHE_DIR=/opt/prisma-cli \
        PRISMA_QUERY_ENGINE_BINARY=/opt/prisma-engine/query-engine.mjs \
        PRISMA_SCHEMA_ENGINE_BINARY=/opt/prisma-engine/schema-engine \
        "$@"
}
npm_in() {  # DIR PACKAGE...: install into DIR/node_modules, no install scripts (the CLI's would download engines)
    npm install --prefix "$1" --cache "$OPSCTL_NPM_CACHE" --ignore-scripts --no-audit --no-fund \
        --no-update-notifier --loglevel=warn "${@:2}"
}

pip_install() (  # a subshell: its EXIT trap gives the root its own CA bundle back, failed or not
    bundle="$root/etc/ssl/certs/ca-certificates.crt"
    cp -a "$bundle" "$bundle.debian"
    trap 'mv "$bundle.debian" "$bundle"' EXIT
    cp /etc/ssl/certs/ca-certificates.crt "$bundle"
    # shellcheck disable=SC2086  # OPSCTL_LITELLM_REQS is a list of requirements
    in_root PIP_CERT=/etc/ssl/certs/ca-certificates.crt PIP_DISABLE_PIP_VERSION_CHECK=1 \
        PIP_DEFAULT_TIMEOUT=180 PIP_PROGRESS_BAR=off PIP_NO_CACHE_DIR=1 \
        /opt/venv/bin/pip install --quiet $OPSCTL_LITELLM_REQS
)

engine() {  # the stand-in and its npm dependencies, as its lockfile pins them
    local dir="$root/opt/prisma-engine"
    mkdir -p "$dir"
    tar -C "$OPSCTL_ENGINE_DIR" --exclude=./node_modules -cf - . | tar -C "$dir" -xf -
    chmod 0755 "$dir/query-engine.mjs" "$dir/schema-engine"
    npm ci --prefix "$dir" --cache "$OPSCTL_NPM_CACHE" --ignore-scripts --omit=dev --no-audit --no-fund --loglevel=warn
}

prisma_cli() {  # where prisma-client-py looks for the CLI (PRISMA_BINARY_CACHE_DIR)
    local dir="$root/opt/prisma-cli"
    mkdir -p "$dir"
    echo '{"name": "prisma-binaries", "private": true}' >"$dir/package.json"
    npm_in "$dir" "$OPSCTL_PRISMA_CLI"
    test -f "$dir/node_modules/prisma/build/index.js"
}

opsctl_files() {
    install -D -m 0755 "$here/prod_entrypoint.sh" "$root/app/docker/prod_entrypoint.sh"
    install -D -m 0755 "$here/prisma_shim.py" "$root/opt/opsctl/bin/prisma"
    sed -i '1s|.*|#!/opt/venv/bin/python|' "$root/opt/opsctl/bin/prisma"
    install -D -m 0644 "$here/opsctl_health_app.py" "$root/opt/opsctl/lib/opsctl_health_app.py"
    # The official image's /app holds LiteLLM's source tree; the migrate service's
    # `prisma generate` (run in /app) needs its schema.prisma.
    ln -s "$site/litellm/proxy/schema.prisma" "$root/app/schema.prisma"
}

step venv in_root /usr/bin/python3 -m venv /opt/venv
step pip pip_install
step npm-engine engine
step npm-prisma-cli prisma_cli
# The Prisma client is generated into site-packages now, as the official image does at build time.
step prisma-generate in_root sh -c "cd $site/litellm/proxy && prisma generate --schema schema.prisma >/dev/null"
opsctl_files
rm -rf "$root/root/.cache" "$root/root/.npm" "$root/tmp/"*
