"""The issue's scenarios against a real DB-backed LiteLLM proxy (litellm 1.108.7 from PyPI).

The module runs its own proxy (tests/support/db_proxy.py's start_db_proxy) on a
scratch database of its own, not the session's shared `db_proxy`: every test
starts from an empty gateway, so the fixture deletes every team, key and DB
model between tests, and prune must see only what these tests made.
"""

import httpx
import pytest
import yaml

from tests.state.conftest import EXAMPLE, Gateway
from tests.support.db_proxy import start_db_proxy
from tests.support.fake_admin import FakeAdmin
from tests.support.litellm_db import create_database, drop_database, unique_name


def empty(gateway):
    """Delete every team, key and DB model, as a fresh gateway has none."""
    with httpx.Client(base_url=gateway.url, headers={"Authorization": f"Bearer {gateway.master_key}"}, timeout=60) as http:
        tokens, page = [], 1
        while True:
            answer = http.get("/key/list", params={"size": 100, "page": page}).json()
            tokens += answer["keys"]
            if page >= (answer.get("total_pages") or 0):
                break
            page += 1
        if tokens:
            http.post("/key/delete", json={"keys": tokens})
        teams = [team["team_id"] for team in http.get("/team/list").json()]
        if teams:
            http.post("/team/delete", json={"team_ids": teams})
        for row in http.get("/model/info").json()["data"]:
            if row["model_info"].get("db_model"):
                http.post("/model/delete", json={"id": row["model_info"]["id"]})


@pytest.fixture(scope="module")
def own_proxy(litellm_template, tmp_path_factory):
    name = unique_name("opsctl_state")
    database_url = create_database(name, template=litellm_template)
    config = tmp_path_factory.mktemp("state-proxy") / "config.yaml"
    config.write_text("model_list: []\ngeneral_settings:\n  store_model_in_db: true\n")
    try:
        with start_db_proxy(config, database_url) as proxy:
            yield Gateway(proxy.url, proxy.master_key)
    finally:
        drop_database(name)


@pytest.fixture
def real(own_proxy):
    empty(own_proxy)
    return own_proxy


def apply(gateway, path, tmp_path, *args, name="keys.csv"):
    return gateway.run("apply", str(path), "--yes", "--keys-output", str(tmp_path / name), *args)


def test_apply_on_an_empty_gateway_then_a_second_apply_changes_nothing(real, example, tmp_path):
    first = apply(real, example, tmp_path)
    assert first.exit_code == 0, first.stderr
    assert first.stderr.splitlines()[-1] == "applied: 4 of 4 change(s) done"
    second = real.run("apply", str(example), "--yes")
    assert second.exit_code == 0, second.stderr
    assert second.stderr.endswith("4 unchanged\nNothing to change.\n")
    info = real.api("GET", "/team/info", params={"team_id": "platform"})["team_info"]
    assert (info["max_budget"], info["rpm_limit"], info["metadata"]) == (50.0, 120, {"owner": "platform", "opsctl_managed": True})


def test_fields_edited_through_the_api_are_found_by_diff_and_repaired(real, example, tmp_path):
    assert apply(real, example, tmp_path).exit_code == 0
    real.api("POST", "/key/update", json={"key_alias": "ci-bot", "rpm_limit": 999})
    real.api("POST", "/team/update", json={"team_id": "platform", "max_budget": 5})
    real.api("PATCH", "/model/chat-default-1/update", json={"litellm_params": {"timeout": 5}, "model_info": {"id": "chat-default-1"}})
    diff = real.json("diff", str(example), expect=1)
    changed = {o["name"]: o["fields"] for o in diff["objects"] if o["action"] == "update"}
    assert changed == {
        "platform": [{"field": "max_budget", "live": 5.0, "desired": 50}],
        "chat-default-1": [{"field": "litellm_params.timeout", "live": 5.0, "desired": 90}],
        "ci-bot": [{"field": "rpm_limit", "live": 999, "desired": 60}],
    }
    repaired = real.run("apply", str(example), "--yes")
    assert repaired.exit_code == 0, repaired.stderr
    assert real.run("diff", str(example)).stderr.endswith("4 unchanged\nin sync\n")


def test_prune_deletes_a_managed_object_and_leaves_an_unmanaged_one(real, example, state_file, tmp_path):
    assert apply(real, example, tmp_path).exit_code == 0
    real.api("POST", "/key/generate", json={"key_alias": "by-hand"})
    smaller = state_file(EXAMPLE.replace("      - key_alias: loose\n", ""), "smaller.yaml")
    pruned = real.json("apply", str(smaller), "--yes", "--prune")
    assert {o["name"]: o["status"] for o in pruned["result"]["objects"]} == {"loose": "done"}
    aliases = sorted(k["key_alias"] for k in real.api("GET", "/key/list", params={"return_full_object": "true"})["keys"])
    assert aliases == ["by-hand", "ci-bot"]
    assert real.run("diff", str(smaller)).exit_code == 0


def test_export_round_trip(real, example, tmp_path):
    assert apply(real, example, tmp_path).exit_code == 0
    real.api("POST", "/team/new", json={"team_id": "by-hand", "rpm_limit": 3, "metadata": {"why": "ui"}})
    exported = real.run("export", "-o", str(tmp_path / "gw.yaml"))
    assert exported.exit_code == 0, exported.stderr
    document = yaml.safe_load((tmp_path / "gw.yaml").read_text())
    empty(real)
    assert apply(real, tmp_path / "gw.yaml", tmp_path, name="again.csv").exit_code == 0
    assert real.run("diff", str(tmp_path / "gw.yaml")).stderr.endswith("5 unchanged\nin sync\n")
    assert yaml.safe_load(real.run("export").stdout) == document


def test_the_fake_lists_models_as_the_real_proxy_does(real, example, tmp_path):
    """The fields opsctl reads from /model/info are the same on the fake and on LiteLLM."""
    assert apply(real, example, tmp_path).exit_code == 0
    with FakeAdmin() as fake:
        assert apply(Gateway(fake.url, fake.master_key, fake), example, tmp_path, name="fake.csv").exit_code == 0
        listed = httpx.get(fake.url + "/model/info", headers={"Authorization": f"Bearer {fake.master_key}"}).json()["data"]
    (real_row,) = [r for r in real.api("GET", "/model/info")["data"] if r["model_info"].get("db_model")]
    (fake_row,) = listed
    assert fake_row["litellm_params"] == real_row["litellm_params"]  # api_key left out, LiteLLM's defaults stored
    for name in ("id", "db_model", "mode", "opsctl_managed", "opsctl_env_refs", "opsctl_info_keys"):
        assert fake_row["model_info"][name] == real_row["model_info"][name], name
    assert {"input_cost_per_token", "max_tokens"} <= set(fake_row["model_info"]) & set(real_row["model_info"])


def test_a_write_the_proxy_refuses_stops_the_run_and_the_fixed_file_completes_it(real, example, state_file, tmp_path):
    bad = state_file(EXAMPLE.replace("key_alias: loose", "key_alias: a/../b"), "bad.yaml")
    first = real.json("apply", str(bad), "--yes", "--keys-output", str(tmp_path / "k1.csv"), expect=2)
    statuses = {o["name"]: o["status"] for o in first["result"]["objects"]}
    assert statuses == {"platform": "done", "chat-default-1": "done", "ci-bot": "done", "a/../b": "failed"}
    (failed,) = [o for o in first["result"]["objects"] if o["status"] == "failed"]
    assert failed["error"].startswith("the proxy rejected POST /key/generate: Invalid key_alias")
    second = apply(real, example, tmp_path, name="k2.csv")
    assert second.exit_code == 0, second.stderr
    assert second.stderr.endswith("applied: 1 of 1 change(s) done\n")
