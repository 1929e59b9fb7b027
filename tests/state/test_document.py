"""The state file: what it resolves to, what it refuses (FILE:line, exit 2), and the shipped JSON Schema."""

import json
import textwrap
from importlib import resources

import jsonschema
import pytest

from opsctl.errors import OpsctlError
from opsctl.state.document import MAX_BYTES, load_state, parse_state, schema

KEY_DEFAULTS = {"rpm_limit": 120, "tpm_limit": 60000}
TEAM_DEFAULTS = {"rpm_limit": 100, "tpm_limit": 50000}


def parse(text):
    return parse_state(textwrap.dedent(text).lstrip(), "s.yaml", KEY_DEFAULTS, TEAM_DEFAULTS)


def refusal(text):
    with pytest.raises(OpsctlError) as caught:
        parse(text)
    assert caught.value.exit_code == 2
    return caught.value.message


def test_left_out_limits_take_the_policy_default_and_null_means_none(example):
    state = load_state(example, KEY_DEFAULTS, TEAM_DEFAULTS)
    assert state.teams["platform"] == {
        "team_alias": "Platform", "models": ["chat-default"], "metadata": {"owner": "platform"},
        "max_budget": 50, "budget_duration": "30d", "rpm_limit": 100, "tpm_limit": 50000,
    }
    assert state.keys["loose"] == {"team_id": None, "models": [], "metadata": {}, "max_budget": None,
                                   "budget_duration": None, "rpm_limit": 120, "tpm_limit": 60000}
    state = parse("""
        version: 1
        keys:
          - {key_alias: open, rpm_limit: null, models: [b, a, b]}
    """)
    assert state.keys["open"]["rpm_limit"] is None and state.keys["open"]["tpm_limit"] == 60000
    assert state.keys["open"]["models"] == ["a", "b"]  # model access is a set
    assert state.where[("keys", "open")] == "s.yaml:3"


def test_models_keep_their_params_and_secrets_as_references(example):
    model = load_state(example, KEY_DEFAULTS, TEAM_DEFAULTS).models["chat-default-1"]
    assert model == {
        "model_name": "chat-default",
        "litellm_params": {"model": "openai/gpt-4o-mini", "api_base": "http://127.0.0.1:9/v1",
                           "api_key": "os.environ/OPENAI_API_KEY", "timeout": 90},
        "model_info": {"mode": "chat"},
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("version: 2\n", "s.yaml:1: version must be 1 (this opsctl reads version 1 files)"),
        ("teams: []\n", "s.yaml:1: version must be 1 (this opsctl reads version 1 files)"),
        ("- 1\n", "s.yaml:1: expected a mapping with `version: 1` and teams, keys or models"),
        ("version: 1\nusers: []\n", "s.yaml:1: unknown top-level field 'users' (allowed: version, teams, keys, models)"),
        ("version: 1\nkeys:\n  - key_alias: a\n    rpm: 5\n",
         "s.yaml:3: keys[0]: unknown field 'rpm' (allowed: key_alias, team_id, models, max_budget, budget_duration, rpm_limit, tpm_limit, metadata)"),
        ("version: 1\nkeys:\n  - key_alias: a\n    key: sk-abcdefghijklmnopqrstuvwx\n",
         "s.yaml:3: keys[0]: a state file never holds a key or its hash; keys are named by key_alias"),
        ("version: 1\nkeys:\n  - key_alias: a\n  - key_alias: a\n", "s.yaml:4: keys[1]: key_alias 'a' already given at s.yaml:3"),
        ("version: 1\nkeys:\n  - rpm_limit: 5\n", "s.yaml:3: keys[0].key_alias must be non-empty text"),
        ("version: 1\nkeys:\n  - key_alias: ' a'\n", "s.yaml:3: keys[0].key_alias must not have control characters or leading/trailing spaces"),
        ("version: 1\nkeys:\n  - key_alias: a\n    rpm_limit: 1.5\n", "s.yaml:3: keys[0].rpm_limit must be a whole number or null"),
        ("version: 1\nkeys:\n  - key_alias: a\n    rpm_limit: '5'\n", "s.yaml:3: keys[0].rpm_limit must be a whole number or null"),
        ("version: 1\nkeys:\n  - key_alias: a\n    tpm_limit: true\n", "s.yaml:3: keys[0].tpm_limit must be a whole number or null"),
        ("version: 1\nteams:\n  - team_id: t\n    max_budget: -1\n", "s.yaml:3: teams[0].max_budget must not be negative"),
        ("version: 1\nteams:\n  - team_id: t\n    budget_duration: 30\n",
         "s.yaml:3: teams[0].budget_duration must be like 30s, 15m, 12h, 30d, 2w, 1mo or daily, or null"),
        ("version: 1\nteams:\n  - team_id: t\n    metadata: {opsctl_managed: false}\n",
         "s.yaml:3: teams[0].metadata.opsctl_managed is set by opsctl, not by the file"),
        ("version: 1\nteams:\n  - team_id: t\n    metadata: {since: 2024-01-01}\n",
         "s.yaml:4: teams[0].metadata.since must be text, a number, true/false, a list or a mapping (quote dates), got datetime.date(2024, 1, 1)"),
        ("version: 1\nteams:\n  - team_id: t\n    models: chat\n", "s.yaml:3: teams[0].models must be a list of model names"),
        ("version: 1\nteams:\n  - team_id: t\n    team_id: u\n", "s.yaml:4: 'team_id' given twice in one mapping (also line 3)"),
        ("version: 1\nteams: &t []\nkeys: *t\n", "s.yaml:2: YAML anchors and aliases are not allowed"),
        ("version: 1\nmodels:\n  - id: m\n    model_name: m\n    litellm_params: {model: x, api_key: sk-live-1234567890}\n",
         "s.yaml:5: models[0].litellm_params.api_key is a secret: give it as os.environ/NAME, never as a value"),
        ("version: 1\nmodels:\n  - id: m\n    model_name: m\n    litellm_params: {model: x, aws_session_token: os.environ/bad-name}\n",
         "s.yaml:5: models[0].litellm_params.aws_session_token is a secret: give it as os.environ/NAME, never as a value"),
        ("version: 1\nmodels:\n  - id: m\n    model_name: m\n    litellm_params: {model: x, extra_headers: {Authorization: os.environ/T}}\n",
         "s.yaml:5: models[0].litellm_params.extra_headers.Authorization looks like a secret inside a nested value; "
         "LiteLLM resolves os.environ/ references only at the top of litellm_params"),
        ("version: 1\nmodels:\n  - id: m\n    model_name: m\n    litellm_params: {api_base: x}\n",
         "s.yaml:5: models[0].litellm_params.model must be non-empty text"),
        ("version: 1\nmodels:\n  - id: m\n    model_name: m\n    litellm_params: {model: x}\n    model_info: {id: n}\n",
         "s.yaml:3: models[0].model_info.id cannot be set in a state file (give the id at the top of the entry)"),
        ("version: 1\nmodels:\n  - id: m\n    model_name: m\n    litellm_params: {model: x}\n    model_info: {team_id: t}\n",
         "s.yaml:3: models[0].model_info.team_id cannot be set in a state file"),
    ],
)
def test_refusals_name_file_and_line(text, message):
    assert refusal(text) == message


def test_broken_yaml_names_the_line_and_a_billion_laughs_is_refused_at_once():
    assert refusal("version: 1\nteams: [\n").startswith("s.yaml:3: not valid YAML (")  # libyaml or PyYAML's words
    laughs = "version: 1\nteams:\n  - &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"  - &{chr(98 + n)} [*{chr(97 + n)}, *{chr(97 + n)}, *{chr(97 + n)}, *{chr(97 + n)}, *{chr(97 + n)}, *{chr(97 + n)}]\n"
        for n in range(20))
    assert refusal(laughs) == "s.yaml:3: YAML anchors and aliases are not allowed"


def test_a_secret_reference_and_lookalike_names_are_accepted():
    state = parse("""
        version: 1
        models:
          - id: m
            model_name: m
            litellm_params:
              model: x
              api_key: os.environ/OPENAI_API_KEY
              input_cost_per_token: 0.5     # has a "token" segment, but "cost" wins, as in LiteLLM
              max_tokens: 100               # "tokens" is not "token"
              litellm_credential_name: shared
    """)
    assert state.models["m"]["litellm_params"]["input_cost_per_token"] == 0.5


def test_a_file_too_large_is_refused_before_it_is_parsed(tmp_path):
    big = tmp_path / "big.yaml"
    with big.open("wb") as handle:
        handle.write(b"version: 1\n#")
        handle.truncate(MAX_BYTES + 1)
    with pytest.raises(OpsctlError) as caught:
        load_state(big, {}, {})
    assert caught.value.message == f"state file {big} is larger than {MAX_BYTES} bytes"


def test_bad_file_through_the_cli_is_one_line_and_no_request(gateway, state_file):
    path = state_file("version: 1\nkeys:\n  - key_alias: a\n    rpm_limit: lots\n")
    for verb in (("diff",), ("apply", "--yes")):
        result = gateway.run(*verb, str(path))
        assert result.exit_code == 2
        assert result.stderr == f"Error: {path}:3: keys[0].rpm_limit must be a whole number or null\n"
    missing = gateway.run("diff", str(path.parent / "nope.yaml"))
    assert missing.exit_code == 2 and missing.stderr == f"Error: state file {path.parent / 'nope.yaml'} does not exist\n"
    assert gateway.fake.requests == []


# -- the shipped JSON Schema ---------------------------------------------------

VALID = [
    "version: 1\n",
    "version: 1\nteams: []\nkeys: []\nmodels: []\n",
    "version: 1\nkeys:\n  - {key_alias: a, team_id: t, models: [m], rpm_limit: null, tpm_limit: 5, max_budget: 1.5, budget_duration: 1mo}\n",
    "version: 1\nteams:\n  - {team_id: t, team_alias: null, metadata: {k: [1, {x: y}]}}\n",
    "version: 1\nmodels:\n  - {id: m, model_name: m, litellm_params: {model: x, api_key: os.environ/K, input_cost_per_token: 1, timeout: 5}}\n",
    "version: 1\nmodels:\n  - {id: m, model_name: m, litellm_params: {model: x, litellm_credential_name: c}, model_info: {mode: chat}}\n",
]
INVALID = [
    "version: 2\n",
    "teams: []\n",
    "version: 1\nusers: []\n",
    "version: 1\nkeys:\n  - {key_alias: a, rpm: 5}\n",
    "version: 1\nkeys:\n  - {key_alias: a, key: sk-x}\n",
    "version: 1\nkeys:\n  - {rpm_limit: 5}\n",
    "version: 1\nkeys:\n  - {key_alias: ' a'}\n",
    "version: 1\nkeys:\n  - {key_alias: a, rpm_limit: 1.5}\n",
    "version: 1\nkeys:\n  - {key_alias: a, rpm_limit: '5'}\n",
    "version: 1\nkeys:\n  - {key_alias: a, tpm_limit: -1}\n",
    "version: 1\nkeys:\n  - {key_alias: a, budget_duration: 30days}\n",
    "version: 1\nteams:\n  - {team_id: t, metadata: {opsctl_managed: true}}\n",
    "version: 1\nteams:\n  - {team_id: t, models: chat}\n",
    "version: 1\nmodels:\n  - {id: m, model_name: m, litellm_params: {model: x, api_key: sk-live-123}}\n",
    "version: 1\nmodels:\n  - {id: m, model_name: m, litellm_params: {model: x, client_secret: plain}}\n",
    "version: 1\nmodels:\n  - {id: m, model_name: m, litellm_params: {api_base: x}}\n",
    "version: 1\nmodels:\n  - {id: m, model_name: m}\n",
    "version: 1\nmodels:\n  - {id: m, model_name: m, litellm_params: {model: x}, model_info: {id: n}}\n",
]


def _loader_accepts(text):
    try:
        parse(text)
    except OpsctlError:
        return False
    return True


@pytest.mark.parametrize("text", VALID + INVALID)
def test_the_schema_and_the_loader_agree(text):
    import yaml

    validator = jsonschema.Draft202012Validator(schema())
    assert validator.is_valid(yaml.safe_load(text)) == _loader_accepts(text) == (text in VALID)


def test_the_schema_is_valid_and_shipped_as_package_data(tmp_path):
    jsonschema.Draft202012Validator.check_schema(schema())
    assert resources.files("opsctl").joinpath("data", "state-v1.schema.json").is_file()
    import tomllib
    from pathlib import Path

    pyproject = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    assert "data/*" in pyproject["tool"]["setuptools"]["package-data"]["opsctl"]
    assert json.loads(resources.files("opsctl").joinpath("data", "state-v1.schema.json").read_text())["$id"] == "urn:opsctl:state:1"
