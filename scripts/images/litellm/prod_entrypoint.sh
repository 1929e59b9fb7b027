#!/bin/bash
# Entrypoint of localhost/opsctl-litellm, at the official image's path
# (/app/docker/prod_entrypoint.sh) and with its behaviour (docs/images.md):
#
# - Default: `litellm "$@"` (the image's CMD is --port 4000, replaced by the
#   compose file's command).
# - SEPARATE_HEALTH_APP=1: the proxy as `python -m litellm.proxy.proxy_cli
#   --host 0.0.0.0 --port=4000 "$@"` and LiteLLM's health endpoints as an app
#   of their own on SEPARATE_HEALTH_PORT (default 4001). The official image
#   runs the two under supervisord, which stops the container when either
#   exits; this script does the same without supervisord: it waits for the
#   first to exit, stops the other, and exits with the first one's status.
#   A stop signal (TERM or INT) is passed on to both.
# - USE_DDTRACE / USE_NEWRELIC: those agents are not installed here; say so.
set -euo pipefail

for agent in USE_DDTRACE USE_NEWRELIC; do
    if [ "${!agent:-}" = true ]; then
        echo "prod_entrypoint.sh: $agent=true, but this local image has no ${agent#USE_} agent" >&2
        exit 1
    fi
done

if [ "${SEPARATE_HEALTH_APP:-}" != 1 ]; then
    exec litellm "$@"
fi

# litellm 1.108.7 from PyPI has no health_app_factory (the official image's
# supervisord.conf names it); opsctl_health_app.py builds the same app.
factory=litellm.proxy.health_endpoints.health_app_factory:build_health_app
app_dir=()
if [ ! -f "$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/litellm/proxy/health_endpoints/health_app_factory.py" ]; then
    factory=opsctl_health_app:build_health_app
    app_dir=(--app-dir /opt/opsctl/lib)
fi

export PYTHONUNBUFFERED=true  # as supervisord's programs have it
python -m litellm.proxy.proxy_cli --host 0.0.0.0 --port=4000 "$@" &
proxy=$!
uvicorn "$factory" --factory "${app_dir[@]}" --host 0.0.0.0 --port="${SEPARATE_HEALTH_PORT:-4001}" &
health=$!

stopping=""
stop() { stopping=1; kill -TERM "$proxy" "$health" 2>/dev/null || true; }
trap stop TERM INT

set +e
wait -n "$proxy" "$health"
status=$?
if [ -n "$stopping" ]; then
    wait "$proxy"  # a signal ended the wait: report how the proxy stopped
    status=$?
fi
stop
wait
exit "$status"
