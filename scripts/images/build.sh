#!/usr/bin/env bash
# Builds the reference stack's three images locally, from Debian packages,
# PyPI and npm only (no image registry is needed):
#
#   localhost/opsctl-postgres:<hash>   Debian's PostgreSQL 15, postgres:16's entrypoint contract
#   localhost/opsctl-redis:<hash>      Debian's Redis 7.0, redis:7's entrypoint contract
#   localhost/opsctl-litellm:<hash>    litellm[proxy] and prisma as pinned in pyproject.toml,
#                                      with the Prisma WASM engine stand-in (see docs/images.md)
#   localhost/opsctl-haproxy:<hash>    Debian's HAProxy 2.6, haproxy:2.6's entrypoint contract (the replicas' LB)  #+haproxy
#   Lines ending in the haproxy mark are left out of the other three images' hash: they were  #+haproxy
#   added after those images were cached, and do not change how those are built.  #+haproxy
#
# <hash> is a hash of everything the image is built from (this script, the
# image's directory next to it, the pinned versions, the engine stand-in), so
# a run with the images present does nothing. Root filesystems are tars in
# $OPSCTL_IMAGE_CACHE (default /var/cache/opsctl-test/images): a wiped podman
# store is filled again from them without building anything.
#
# Usage (as root on Debian 12; installs mmdebstrap and npm when missing):
#   scripts/images/build.sh [--no-import | --import-only] [IMAGE...]
#     IMAGE          postgres, redis, litellm (default: all three, built in parallel)
#     --no-import    only make sure the tars are in the cache
#     --import-only  only import cached tars, after waiting for a build in progress
#                    (OPSCTL_IMAGES_BUILD_WAIT, default 1500 s); exit 3 when one is not built
#     --background   build what is missing detached, at nice 19, and return at once
#                    (scripts/setup/images.sh; the stack tests that need the images run
#                    last and wait for it through --import-only)
#     --print-env    print POSTGRES_IMAGE=..., REDIS_IMAGE=..., LITELLM_IMAGE=... and exit
# Environment:
#   PODMAN              the podman command line, store options included
#                       (default: podman; e.g. "podman --root DIR --runroot DIR --storage-driver vfs")
#   PRISMA_ENGINE_DIR   the Prisma engine stand-in (default tests/support/prisma-engine)
#   OPSCTL_IMAGE_CACHE  where tars, logs and images.env are kept
#
# The tags are also written to $OPSCTL_IMAGE_CACHE/images.env, in the form the
# reference compose file reads (POSTGRES_IMAGE, REDIS_IMAGE, LITELLM_IMAGE).
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
CACHE="${OPSCTL_IMAGE_CACHE:-/var/cache/opsctl-test/images}"
# The project's Prisma query-engine stand-in (query-engine.mjs, schema-engine, npm lockfile).
PRISMA_ENGINE_DIR="${PRISMA_ENGINE_DIR:-$REPO/tests/support/prisma-engine}"
read -r -a PODMAN <<<"${PODMAN:-podman}"
BUILD_WAIT="${OPSCTL_IMAGES_BUILD_WAIT:-1500}"  # seconds a run waits for another's build

SUITE=bookworm
SOURCES=(
    "deb http://deb.debian.org/debian bookworm main"
    "deb http://deb.debian.org/debian bookworm-updates main"
    "deb http://deb.debian.org/debian-security bookworm-security main"
)
# Documentation, manuals and translations are left out of every image.
SLIM=(
    --dpkgopt='path-exclude=/usr/share/doc/*'
    --dpkgopt='path-include=/usr/share/doc/*/copyright'
    --dpkgopt='path-exclude=/usr/share/man/*'
    --dpkgopt='path-exclude=/usr/share/info/*'
    --dpkgopt='path-exclude=/usr/share/lintian/*'
    --dpkgopt='path-exclude=/usr/share/locale/*'
    --dpkgopt='path-include=/usr/share/locale/locale.alias'
)
PATH_DEFAULT=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# The Python packages are pinned once, in pyproject.toml's test extra.
pin() {
    python3 - "$REPO/pyproject.toml" "$1" <<'EOF'
import re, sys, tomllib
extra = tomllib.load(open(sys.argv[1], "rb"))["project"]["optional-dependencies"]["test"]
name = re.escape(sys.argv[2])
found = [r for r in extra if re.fullmatch(rf"{name}(\[[^\]]*\])?==[^,;\s]+", r)]
if len(found) != 1:
    sys.exit(f"pyproject.toml's test extra pins {sys.argv[2]} {len(found)} times, not once")
print(found[0])
EOF
}
LITELLM_REQ="$(pin litellm)"
EXTRAS_REQ="$(pin litellm-proxy-extras)"
PRISMA_REQ="$(pin prisma)"
# prisma-client-py 0.15.0 drives the Prisma CLI and query engine 5.17.0 (engine 393aa359...).
PRISMA_CLI=prisma@5.17.0
IMAGES=(postgres redis litellm)
IMAGES+=(haproxy)  #+haproxy

log() { printf '%s\n' "$*" >&2; }
die() { log "build.sh: $*"; exit 1; }
now() { date +%s%N; }
since() { local ns=$(( $(now) - $1 )); printf '%d.%d' $((ns / 1000000000)) $((ns / 100000000 % 10)); }

engine_files() {
    local file
    for file in query-engine.mjs schema-engine package.json package-lock.json; do
        [ -f "$PRISMA_ENGINE_DIR/$file" ] || die "no Prisma engine stand-in at $PRISMA_ENGINE_DIR ($file is missing)"
    done
    (cd "$PRISMA_ENGINE_DIR" && find . -path ./node_modules -prune -o -type f -print | LC_ALL=C sort)
}

# Everything an image is made from, hashed: change any of it and the tag changes.
image_hash() {
    local name="$1"
    {
        printf '%s\n' "$SUITE" "${SOURCES[@]}" "${SLIM[@]}"
        # The script as it was before the haproxy image, then the haproxy image's own lines.  #+haproxy
        grep -v '#+haproxy$' "$HERE/build.sh"  #+haproxy
        [ "$name" != haproxy ] || grep '#+haproxy$' "$HERE/build.sh"  #+haproxy
        if false; then  #+haproxy
        cat "$HERE/build.sh"
        fi  #+haproxy
        (cd "$HERE/$name" && find . -type f | LC_ALL=C sort | xargs sha256sum)
        if [ "$name" = litellm ]; then
            printf '%s\n' "$LITELLM_REQ" "$EXTRAS_REQ" "$PRISMA_REQ" "$PRISMA_CLI"
            engine_files | (cd "$PRISMA_ENGINE_DIR" && xargs sha256sum)
        fi
    } | sha256sum | cut -c1-12
}

declare -A TAG TAR
for name in "${IMAGES[@]}"; do
    if [ "$name" = litellm ] && [ ! -f "$PRISMA_ENGINE_DIR/query-engine.mjs" ]; then
        continue  # reported only when litellm is asked for
    fi
    hash="$(image_hash "$name")"
    TAG[$name]="localhost/opsctl-$name:$hash"
    TAR[$name]="$CACHE/opsctl-$name-$hash.tar"
done

# mmdebstrap IMAGE ARGS...: a bookworm root as a tar, finished by IMAGE/customize.sh.
# Hooks note when each stage starts, in $OPSCTL_MARKS, to say where the time went.
# dpkg skips its fsyncs while building (force-unsafe-io, removed again at the end).
mmdebstrap_image() {
    local name="$1" mark='echo "$MMDEBSTRAP_HOOK $(date +%s%N)" >>"$OPSCTL_MARKS"'
    OPSCTL_MARKS="$CACHE/logs/$name.marks" mmdebstrap --variant=essential --format=tar "${SLIM[@]}" \
        --aptopt='Acquire::Retries "3"' --dpkgopt=force-unsafe-io \
        --setup-hook="$mark" --extract-hook="$mark" --essential-hook="$mark" --customize-hook="$mark" \
        "${@:2}" \
        --customize-hook="'$HERE/$name/customize.sh' \"\$1\"" \
        --customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/* "$1"/var/log/*.log "$1"/var/log/apt' \
        --customize-hook='sed -i "/^force-unsafe-io$/d" "$1/etc/dpkg/dpkg.cfg.d/99mmdebstrap"' \
        --customize-hook='echo "tarball $(date +%s%N)" >>"$OPSCTL_MARKS"' \
        "$SUITE" "$OUT" "${SOURCES[@]}"
}

# build_IMAGE: the image's packages and options; $OUT is the tar to write.
build_postgres() {
    # No main cluster from postgresql-common: the entrypoint runs initdb on first start.
    # No LLVM JIT (over 100 MB): without its provider library PostgreSQL simply runs without JIT.
    mmdebstrap_image postgres --include=postgresql-15 \
        --dpkgopt='path-exclude=/usr/lib/postgresql/*/lib/llvmjit*' \
        --dpkgopt='path-exclude=/usr/lib/postgresql/*/lib/bitcode/*' \
        --dpkgopt='path-exclude=/usr/lib/x86_64-linux-gnu/libLLVM*' \
        --dpkgopt='path-exclude=/usr/lib/x86_64-linux-gnu/libz3*' \
        --dpkgopt='path-exclude=/usr/share/i18n/locales/*' \
        --dpkgopt='path-exclude=/usr/share/i18n/charmaps/*' \
        --essential-hook='mkdir -p "$1/etc/postgresql-common/createcluster.d" && echo "create_main_cluster = false" >"$1/etc/postgresql-common/createcluster.d/opsctl.conf"'
}

build_redis() {
    mmdebstrap_image redis --include=redis-server
}

# Debian's haproxy only: the runtime API (stats socket) needs nothing else.  #+haproxy
build_haproxy() { mmdebstrap_image haproxy --include=haproxy; }  #+haproxy
build_litellm() {
    # litellm/customize.sh runs pip inside the root and npm outside it (see its header).
    OPSCTL_LITELLM_REQS="$LITELLM_REQ $EXTRAS_REQ $PRISMA_REQ" \
    OPSCTL_PRISMA_CLI="$PRISMA_CLI" \
    OPSCTL_ENGINE_DIR="$PRISMA_ENGINE_DIR" \
    OPSCTL_NPM_CACHE="$CACHE/npm" \
    OPSCTL_TIMES="$CACHE/logs/litellm.times" \
    mmdebstrap_image litellm --include=python3,python3-venv,nodejs,ca-certificates
}

# Where a build's time went, from the marks its hooks left: "stage seconds, ...".
phases() {
    awk -v t0="$2" -v steps="$(paste -sd ' ' "$CACHE/logs/$1.times")" '
        BEGIN { label["setup"] = "download+essential"; label["essential"] = "packages"
                label["customize"] = "customize"; label["tarball"] = "tarball" }
        $1 == "extract" { next }  # extracting and installing the essential packages are one stage
        { if (stage != "") { out = out sep label[stage] " " sprintf("%.0f", ($2 - t) / 1e9)
                             if (stage == "customize" && steps != "") out = out " (" steps ")"; sep = ", " }
          stage = ($1 == "end") ? "" : $1; t = $2; last = $2 }
        END { printf "built in %.0f s: %s", (last - t0) / 1e9, out }' "$CACHE/logs/$1.marks"
}

# The image configuration `podman import` writes, as the official images' Dockerfiles set it.
changes() {
    case "$1" in
        postgres) printf '%s\n' \
            "ENV PATH=/usr/lib/postgresql/15/bin:$PATH_DEFAULT" "ENV LANG=C.UTF-8" "ENV PG_MAJOR=15" \
            "ENV PGDATA=/var/lib/postgresql/data" "VOLUME /var/lib/postgresql/data" \
            'ENTRYPOINT ["docker-entrypoint.sh"]' 'CMD ["postgres"]' "STOPSIGNAL SIGINT" "EXPOSE 5432" ;;
        redis) printf '%s\n' \
            "ENV PATH=$PATH_DEFAULT" "ENV LANG=C.UTF-8" "WORKDIR /data" "VOLUME /data" \
            'ENTRYPOINT ["docker-entrypoint.sh"]' 'CMD ["redis-server"]' "EXPOSE 6379" ;;
        litellm) printf '%s\n' \
            "ENV PATH=/opt/opsctl/bin:/opt/venv/bin:$PATH_DEFAULT" "ENV LANG=C.UTF-8" \
            "ENV PRISMA_BINARY_CACHE_DIR=/opt/prisma-cli" \
            "ENV PRISMA_QUERY_ENGINE_BINARY=/opt/prisma-engine/query-engine.mjs" \
            "ENV PRISMA_SCHEMA_ENGINE_BINARY=/opt/prisma-engine/schema-engine" \
            "WORKDIR /app" 'ENTRYPOINT ["docker/prod_entrypoint.sh"]' 'CMD ["--port", "4000"]' "EXPOSE 4000" ;;
        haproxy) printf '%s\n' "ENV PATH=$PATH_DEFAULT" "ENV LANG=C.UTF-8" "WORKDIR /var/lib/haproxy" "USER haproxy" 'ENTRYPOINT ["docker-entrypoint.sh"]' 'CMD ["haproxy", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]' "STOPSIGNAL SIGUSR1" ;;  #+haproxy
    esac
}

import_image() {
    local name="$1" args=()
    "${PODMAN[@]}" image exists "${TAG[$name]}" && return 0
    mapfile -t lines < <(changes "$name")
    for line in "${lines[@]}"; do args+=(--change "$line"); done
    "${PODMAN[@]}" import --quiet "${args[@]}" --message "opsctl build.sh" "${TAR[$name]}" "${TAG[$name]}" >/dev/null
}

write_env() {
    local name
    for name in "${IMAGES[@]}"; do
        [ -n "${TAG[$name]:-}" ] && printf '%s_IMAGE=%s\n' "${name^^}" "${TAG[$name]}"
    done
    return 0
}

# The build proper: the missing tars, in parallel. Holds $CACHE/.lock (fd 9) already.
build_missing() {
    local name failed=() status
    declare -A PID
    rm -f "$CACHE/logs/build.rc"
    for name in "$@"; do
        : >"$CACHE/logs/$name.times"
        : >"$CACHE/logs/$name.marks"
        T0[$name]="$(now)"
        (
            OUT="${TAR[$name]}.part" "build_$name" >"$CACHE/logs/$name.log" 2>&1
            mv "${TAR[$name]}.part" "${TAR[$name]}"
            echo "end $(now)" >>"$CACHE/logs/$name.marks"
        ) &
        PID[$name]=$!
        log "building ${TAG[$name]} (log: $CACHE/logs/$name.log)"
    done
    for name in "${!PID[@]}"; do
        if wait "${PID[$name]}"; then BUILT[$name]=1; else failed+=("$name"); fi
    done
    for name in "${failed[@]}"; do
        rm -f "${TAR[$name]}.part"
        log "--- $name failed; the end of $CACHE/logs/$name.log:"
        tail -n 30 "$CACHE/logs/$name.log" >&2
    done
    status=$(( ${#failed[@]} > 0 ))
    echo "$status ${failed[*]}" >"$CACHE/logs/build.rc"
    [ "$status" = 0 ] || die "failed: ${failed[*]}"
    # Older tars of the images just built are superseded.
    for name in "${!BUILT[@]}"; do
        find "$CACHE" -maxdepth 1 -name "opsctl-$name-*.tar" ! -path "${TAR[$name]}" -delete
    done
}

install_tools() {  # what building needs on the host
    local need=()
    command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
    { [[ " $* " = *" litellm "* ]] && ! command -v npm >/dev/null; } && need+=(npm)
    if [ ${#need[@]} -gt 0 ]; then
        apt-get -o DPkg::Lock::Timeout=300 update -q >&2
        apt-get -o DPkg::Lock::Timeout=300 install -y -q "${need[@]}" >&2
    fi
}

still_missing() {
    local name
    missing=()
    for name in "${requested[@]}"; do
        [ -s "${TAR[$name]}" ] || missing+=("$name")
    done
}

mode=build
requested=()
for arg; do
    case "$arg" in
        --no-import) mode=no-import ;;
        --import-only) mode=import-only ;;
        --background) mode=background ;;
        --print-env) write_env; exit 0 ;;
        postgres|redis|litellm) requested+=("$arg") ;;
        haproxy) requested+=("$arg") ;;  #+haproxy
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument: $arg (see --help)" ;;
    esac
done
[ ${#requested[@]} -gt 0 ] || requested=("${IMAGES[@]}")
for name in "${requested[@]}"; do
    [ -z "${TAG[$name]:-}" ] || continue
    if [ "$mode" = import-only ]; then
        log "build.sh: $name cannot be built here: no Prisma engine stand-in at $PRISMA_ENGINE_DIR"
        exit 3
    fi
    engine_files >/dev/null
done

mkdir -p "$CACHE/logs"
start="$(now)"
declare -A BUILT WHY T0
still_missing
# One build at a time per cache; a concurrent run waits for it, then finds the tars made.
# (A background build inherits fd 9, and the lock with it, from the run that started it.)
[ -n "${OPSCTL_IMAGES_LOCKED:-}" ] || exec 9>>"$CACHE/.lock"

if [ "$mode" = import-only ] && [ ${#missing[@]} -gt 0 ]; then
    if ! flock -n 9; then
        log "build.sh: waiting up to $BUILD_WAIT s for the build in progress (log: $CACHE/logs/background.log)"
        flock -w "$BUILD_WAIT" 9 || die "the build in progress is still running after $BUILD_WAIT s (OPSCTL_IMAGES_BUILD_WAIT)"
    fi
    flock -u 9
    still_missing
    if [ ${#missing[@]} -gt 0 ]; then
        if [ -f "$CACHE/logs/build.rc" ] && [ "$(cut -d' ' -f1 "$CACHE/logs/build.rc")" != 0 ]; then
            log "build.sh: the last build failed ($(cut -d' ' -f2- "$CACHE/logs/build.rc")); see $CACHE/logs/"
            tail -n 20 "$CACHE/logs/background.log" >&2 2>/dev/null || true
            exit 1
        fi
        log "build.sh: not built yet: ${missing[*]} (run scripts/images/build.sh as root)"
        exit 3
    fi
fi

if [ ${#missing[@]} -gt 0 ]; then
    [ "$(id -u)" = 0 ] || die "building needs root (mmdebstrap, chroot)"
    if [ -z "${OPSCTL_IMAGES_LOCKED:-}" ]; then
        if ! flock -n 9 && [ "$mode" = background ]; then
            log "build.sh: a build is running already (log: $CACHE/logs/background.log)"
            exit 0
        elif ! flock -n 9; then
            log "build.sh: waiting up to $BUILD_WAIT s for the build in progress"
            flock -w "$BUILD_WAIT" 9 || die "another build.sh still holds $CACHE/.lock after $BUILD_WAIT s"
        fi
        still_missing
    fi
fi

if [ "$mode" = background ]; then
    if [ ${#missing[@]} -eq 0 ]; then
        log "build.sh: ${requested[*]}: built already"
        exit 0
    fi
    install_tools "${missing[@]}"
    # Detached, niced, holding the lock this run took (fd 9 is inherited), so that
    # --import-only waits for it; no inherited stdout (a CI log reader would wait on it).
    idle=()
    ionice -c 3 true 2>/dev/null && idle=(ionice -c 3)
    OPSCTL_IMAGES_LOCKED=1 setsid nice -n 19 "${idle[@]}" "$0" --no-import "${missing[@]}" \
        </dev/null >"$CACHE/logs/background.log" 2>&1 &
    log "build.sh: building ${missing[*]} in the background, pid $! (log: $CACHE/logs/background.log)"
    exit 0
fi

if [ ${#missing[@]} -gt 0 ]; then
    install_tools "${missing[@]}"
    build_missing "${missing[@]}"
fi
flock -u 9

if [ "$mode" != no-import ]; then
    for name in "${requested[@]}"; do
        t0="$(now)"
        if "${PODMAN[@]}" image exists "${TAG[$name]}"; then WHY[$name]=present; continue; fi
        import_image "$name"
        WHY[$name]="imported in $(since "$t0") s"
    done
fi

write_env >"$CACHE/images.env"
for name in "${requested[@]}"; do
    size="$(du -m "${TAR[$name]}" | cut -f1)"
    if [ -n "${BUILT[$name]:-}" ]; then
        detail="$(phases "$name" "${T0[$name]}")"
    else
        detail="cached tar"
    fi
    log "$(printf '%-40s %5s MB  %s%s' "${TAG[$name]}" "$size" "$detail" "${WHY[$name]:+, ${WHY[$name]}}")"
done
log "build.sh: done in $(since "$start") s; tags in $CACHE/images.env"
