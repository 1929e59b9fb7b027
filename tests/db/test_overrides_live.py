"""Overrides end to end on the session's real DB-backed proxy: a model added
through /model/new, `db apply-overrides`, the proxy serving the policy values
after its reload, and `db undo` putting the old ones back in service."""

from __future__ import annotations

import json
import secrets
import time

import httpx
from click.testing import CliRunner

from opsctl.cli import cli
from tests.support.db_proxy import DB_RELOAD_SECONDS

WAIT_SECONDS = DB_RELOAD_SECONDS + 9  # a reload, and the proxy's own time under load


def served_params(db_proxy, model_id: str) -> dict | None:
    answer = httpx.get(db_proxy.url + "/model/info", headers=db_proxy.headers(), timeout=10)
    assert answer.status_code == 200, answer.text
    for model in answer.json()["data"]:
        if model["model_info"]["id"] == model_id:
            return model["litellm_params"]
    return None


def wait_until_served(db_proxy, model_id: str, timeout: float, num_retries: int) -> dict:
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        params = served_params(db_proxy, model_id) or {}
        if (params.get("timeout"), params.get("num_retries")) == (timeout, num_retries):
            return params
        assert time.monotonic() < deadline, f"after {WAIT_SECONDS} s the proxy serves {params}"
        time.sleep(0.25)


def opsctl(db_proxy, *args):
    return CliRunner().invoke(cli, list(args), env={"DATABASE_URL": db_proxy.database_url})


def test_apply_overrides_reaches_the_running_proxy_and_restore_undoes_it(db_proxy, tmp_path):
    name = f"ovr-{secrets.token_hex(4)}-cloud"  # the default policy's "cloud" tier: timeout 90, num_retries 2
    body = {"model_name": name, "litellm_params": {
        "model": "openai/ovr", "api_base": db_proxy.upstream.url + "/v1", "api_key": "sk-fake-upstream",
        "timeout": 600, "num_retries": 0}}
    added = httpx.post(db_proxy.url + "/model/new", headers=db_proxy.headers(), json=body, timeout=30)
    assert added.status_code == 200, added.text
    model_id = added.json()["model_id"]
    wait_until_served(db_proxy, model_id, 600, 0)

    backup = tmp_path / "before.json"
    applied = opsctl(db_proxy, "db", "apply-overrides", "--yes", "--json", "--backup", str(backup))
    assert applied.exit_code == 0, applied.stderr
    [change] = [c for c in json.loads(applied.stdout)["plan"]["changes"] if c["model_id"] == model_id]
    assert (change["model_name"], change["timeout"], change["num_retries"]) == (
        name, {"current": 600, "new": 90}, {"current": 0, "new": 2})
    with db_proxy.connect() as connection:
        [row] = connection.execute(
            'SELECT litellm_params->\'timeout\', litellm_params->\'num_retries\' FROM "LiteLLM_ProxyModelTable"'
            " WHERE model_id = %s", (model_id,)).fetchall()
    assert row == (90, 2)
    wait_until_served(db_proxy, model_id, 90, 2)

    restored = opsctl(db_proxy, "db", "undo", str(backup), "--yes")
    assert restored.exit_code == 0, restored.stderr
    wait_until_served(db_proxy, model_id, 600, 0)
