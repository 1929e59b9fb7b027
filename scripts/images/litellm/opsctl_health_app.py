"""The health app of localhost/opsctl-litellm (SEPARATE_HEALTH_APP=1).

The official image's supervisord serves
`litellm.proxy.health_endpoints.health_app_factory:build_health_app` on
SEPARATE_HEALTH_PORT; litellm 1.108.7 from PyPI ships no such module, so
prod_entrypoint.sh serves this one: LiteLLM's own health router, alone on a
FastAPI app. It runs in a process of its own, with no database client:
/health/liveliness answers for the container, /health/readiness here always
says "db": "Not connected" (ask the proxy on 4000 for the database).
"""

from fastapi import FastAPI


def build_health_app() -> FastAPI:
    from litellm.proxy.health_endpoints._health_endpoints import router

    app = FastAPI(title="LiteLLM Health Endpoints")
    app.include_router(router)
    return app
