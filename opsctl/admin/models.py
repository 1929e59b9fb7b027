"""DB-stored models (deployments) through the LiteLLM admin API: list, create, update, delete.

`/model/info` is the read path: one answer holds every deployment the router
serves, config.yaml ones too (`model_info.db_model` tells them apart). It
never returns `litellm_params.api_key` and masks every other param whose name
looks secret. The write answers (`/model/new`, `/model/{id}/update`) carry the
stored params as ciphertext: nothing here returns them to the caller.

Checked against litellm 1.108.7 (proxy/management_endpoints/model_management_endpoints.py).
"""

from __future__ import annotations

from opsctl.admin.client import ProxyClient, ProxyError
from opsctl.errors import ExitCode


def list_deployments(proxy: ProxyClient) -> list[dict]:
    """Every deployment `/model/info` lists, as LiteLLM sends it."""
    answer = proxy.get("/model/info")
    data = answer.get("data") if isinstance(answer, dict) else None
    if not isinstance(data, list) or not all(isinstance(row, dict) for row in data):
        raise ProxyError(f"the proxy at {proxy.url} answered GET /model/info with an unexpected shape", ExitCode.FAILED)
    return data


def get_deployment(proxy: ProxyClient, model_id: str) -> dict | None:
    """One deployment by id (`/model/info?litellm_model_id=`), or None when the router has none."""
    try:
        answer = proxy.get("/model/info", {"litellm_model_id": model_id})
    except ProxyError as error:
        if error.status == 400 and "not found" in error.detail:
            return None
        raise
    data = answer.get("data") if isinstance(answer, dict) else None
    return data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else None


def create_model(proxy: ProxyClient, body: dict) -> None:
    """POST /model/new. Not retried once sent: LiteLLM answers a second create of the same id with a 500."""
    proxy.post("/model/new", body, idempotent=False)


def update_model(proxy: ProxyClient, model_id: str, patch: dict) -> None:
    """PATCH /model/{id}/update: merges `litellm_params` and `model_info` into the stored row
    (a key can be set, not removed) and renames with `model_name`."""
    proxy.request("PATCH", f"/model/{model_id}/update", json=patch, idempotent=True)


def delete_model(proxy: ProxyClient, model_id: str) -> None:
    """POST /model/delete; a model that is already gone counts as deleted."""
    try:
        proxy.post("/model/delete", {"id": model_id}, idempotent=True)
    except ProxyError as error:
        if not (error.status == 400 and "not found" in error.detail):
            raise
