"""`opsctl state export`: the live gateway as a file that round-trips, secrets only as references."""

import json
import stat

import jsonschema
import yaml

from opsctl.state.document import schema
from tests.state.conftest import Gateway
from tests.support.fake_admin import FakeAdmin


def populate(gateway):
    """Objects made through the admin API, as an operator without opsctl would."""
    gateway.api("POST", "/team/new", json={"team_id": "data", "team_alias": "Data", "models": ["embed", "chat"],
                                           "max_budget": 20, "budget_duration": "1mo", "metadata": {"cost_center": 42}})
    gateway.api("POST", "/key/generate", json={"key_alias": "etl", "team_id": "data", "models": ["embed"], "tpm_limit": 1000})
    gateway.api("POST", "/key/generate", json={"key_alias": "adhoc", "rpm_limit": 5, "metadata": {"ticket": "OPS-1"}})
    gateway.api("POST", "/key/generate", json={})  # no alias: a state file cannot name it
    gateway.api("POST", "/model/new", json={"model_name": "embed", "litellm_params": {
        "model": "openai/text-embedding-3-small", "api_key": "sk-literal-upstream-key-0000", "api_base": "http://e:1/v1"},
        "model_info": {"id": "embed-1", "mode": "embedding"}})


def test_export_round_trips_through_an_empty_gateway(gateway, tmp_path):
    populate(gateway)
    gateway.fake.add_config_model("from-config", {"model": "openai/x"})
    exported = gateway.run("export", "-o", str(tmp_path / "gw.yaml"))
    assert exported.exit_code == 0, exported.stderr
    path = tmp_path / "gw.yaml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert exported.stderr.splitlines() == [
        "Warning: 1 key(s) without an alias: not exported (a state file names keys by alias)",
        "Warning: 1 model(s) not applied by opsctl (embed-1): their secrets (api_key, ...) cannot be read through the "
        "admin API and are not exported, nor model_info beyond mode and base_model; add them to the file as os.environ/NAME references",
        f"wrote 1 team(s), 2 key(s), 1 model(s) to {path}",
    ]
    document = yaml.safe_load(path.read_text())
    jsonschema.validate(document, schema())
    assert document == {
        "version": 1,
        "teams": [{"team_id": "data", "team_alias": "Data", "models": ["chat", "embed"], "max_budget": 20.0,
                   "budget_duration": "1mo", "rpm_limit": None, "tpm_limit": None, "metadata": {"cost_center": 42}}],
        "keys": [
            {"key_alias": "adhoc", "max_budget": None, "budget_duration": None, "rpm_limit": 5, "tpm_limit": None,
             "metadata": {"ticket": "OPS-1"}},
            {"key_alias": "etl", "team_id": "data", "models": ["embed"], "max_budget": None, "budget_duration": None,
             "rpm_limit": None, "tpm_limit": 1000},
        ],
        "models": [{"id": "embed-1", "model_name": "embed",
                    "litellm_params": {"model": "openai/text-embedding-3-small", "api_base": "http://e:1/v1"},
                    "model_info": {"mode": "embedding"}}],
    }
    assert "sk-literal" not in path.read_text() + exported.stdout + exported.stderr
    # The source gateway differs only in what opsctl has not marked yet: adoption.
    assert gateway.run("diff", str(path)).exit_code == 1

    with FakeAdmin() as empty:
        other = Gateway(empty.url, empty.master_key, empty)
        applied = other.run("apply", str(path), "--yes", "--keys-output", str(tmp_path / "keys.csv"))
        assert applied.exit_code == 0, applied.stderr
        assert other.run("diff", str(path)).stderr.endswith("4 unchanged\nin sync\n")
        again = other.run("export")
        assert again.exit_code == 0 and again.stderr == ""  # everything is opsctl's now: nothing it cannot show
        assert yaml.safe_load(again.stdout) == document


def test_export_is_stable_and_secrets_of_applied_models_come_back_as_references(gateway, example, tmp_path):
    assert gateway.run("apply", str(example), "--yes", "--keys-output", str(tmp_path / "k.csv")).exit_code == 0
    gateway.api("POST", "/key/generate", json={"key_alias": "aaa-first"})  # sorts before the others
    first, second = gateway.run("export"), gateway.run("export")
    assert first.exit_code == 0 and first.stdout == second.stdout
    document = yaml.safe_load(first.stdout)
    assert [k["key_alias"] for k in document["keys"]] == ["aaa-first", "ci-bot", "loose"]
    assert document["models"][0]["litellm_params"]["api_key"] == "os.environ/OPENAI_API_KEY"
    assert document["models"][0]["model_info"] == {"mode": "chat"}  # not LiteLLM's cost-map fields
    assert list(document["models"][0]["litellm_params"]) == ["model", "api_base", "api_key", "timeout"]
    as_json = gateway.run("export", "--json")
    assert json.loads(as_json.stdout) == document
    assert first.stdout.startswith("# opsctl state file (version 1); schema: opsctl/data/state-v1.schema.json\n")


def test_a_plaintext_key_in_a_value_is_left_out_and_reported(gateway):
    gateway.api("POST", "/key/generate", json={"key_alias": "k", "metadata": {"old": "sk-" + "a" * 24, "fine": "yes"}})
    result = gateway.run("export")
    assert result.exit_code == 0
    assert result.stderr == "Warning: key 'k': metadata.old holds a plaintext key: left out\n"
    assert yaml.safe_load(result.stdout)["keys"][0]["metadata"] == {"fine": "yes"}
