"""The state file: version 1 of one YAML format for teams, keys and DB models.

    version: 1
    teams:
      - team_id: platform            # identity (LiteLLM lets the caller choose it)
        team_alias: Platform
        models: [chat-default]       # the team's model access; [] or left out: every model
        max_budget: 50.0             # budgets and limits; null: none
        budget_duration: 30d
        rpm_limit: 120
        tpm_limit: 60000
        metadata: {owner: platform}
    keys:
      - key_alias: ci-bot            # identity (LiteLLM keeps aliases unique); never the key itself
        team_id: platform
        models: [chat-default]
        rpm_limit: 60
    models:
      - id: chat-default-1           # identity: model_info.id of the deployment
        model_name: chat-default
        litellm_params:
          model: openai/gpt-4o-mini
          api_key: os.environ/OPENAI_API_KEY   # secrets only as references
          timeout: 90
        model_info: {mode: chat}

A limit left out (rpm_limit, tpm_limit, max_budget, budget_duration) takes
the policy's default for keys or teams, as `keys create` and `teams create`
do; an explicit null means no limit. The file is checked whole before
anything talks to the gateway; every error names the file and line. The
same rules are shipped as a JSON Schema (opsctl/data/state-v1.schema.json).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from opsctl.admin.key_rows import DURATION
from opsctl.errors import ExitCode, OpsctlError
from opsctl.state.secret_params import ENV_REF, is_secret_param, nested_secret

VERSION = 1
SCHEMA_FILE = "state-v1.schema.json"  # in opsctl/data
MAX_BYTES = 16 * 1024 * 1024
KINDS = ("teams", "keys", "models")
IDENTITY = {"teams": "team_id", "keys": "key_alias", "models": "id"}
SINGULAR = {"teams": "team", "keys": "key", "models": "model"}

# What opsctl writes into metadata (keys, teams) or model_info (models); never in a file.
MARKER = "opsctl_managed"  # true on every object opsctl created or adopted
ENV_REFS = "opsctl_env_refs"  # model: {param: "os.environ/NAME"}, the references opsctl set
INFO_KEYS = "opsctl_info_keys"  # model: the model_info keys the file named
OPSCTL_KEYS = frozenset({MARKER, ENV_REFS, INFO_KEYS})
# model_info keys LiteLLM owns: set from elsewhere in the file, or not at all.
RESERVED_INFO = frozenset({"id", "db_model", "team_id", "team_public_model_name", "blocked",
                           "created_at", "created_by", "updated_at", "updated_by"}) | OPSCTL_KEYS

LIMITS = ("max_budget", "budget_duration", "rpm_limit", "tpm_limit")
TEAM_FIELDS = ("team_alias", "models", *LIMITS, "metadata")
KEY_FIELDS = ("team_id", "models", *LIMITS, "metadata")
MODEL_FIELDS = ("model_name", "litellm_params", "model_info")
FIELDS = {"teams": TEAM_FIELDS, "keys": KEY_FIELDS, "models": MODEL_FIELDS}


@dataclass(frozen=True)
class State:
    """The objects a file asks for, each as its full set of managed fields (defaults resolved)."""

    teams: dict[str, dict] = field(default_factory=dict)  # team_id -> fields
    keys: dict[str, dict] = field(default_factory=dict)  # key_alias -> fields
    models: dict[str, dict] = field(default_factory=dict)  # model id -> fields
    where: dict[tuple[str, str], str] = field(default_factory=dict, compare=False)  # (kind, name) -> "FILE:line"

    def of(self, kind: str) -> dict[str, dict]:
        return getattr(self, kind)


def schema() -> dict:
    """The shipped JSON Schema of version 1."""
    return json.loads(resources.files("opsctl").joinpath("data", SCHEMA_FILE).read_text())


class _Problem(Exception):
    def __init__(self, line: int | None, message: str):
        super().__init__(message)
        self.line = line
        self.message = message


class _Located(dict):
    """A mapping from the file that remembers its line."""

    line: int = 0


def _parse_yaml(text: str) -> Any:
    """The document as plain values, mappings as _Located; libyaml composes when it is there
    (PyYAML's Python composer is most of the time a large file takes)."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    scalars = yaml.constructor.SafeConstructor()
    seen: set[int] = set()

    def build(node) -> Any:
        if id(node) in seen:  # an alias: it can multiply a small file into gigabytes
            raise _Problem(node.start_mark.line + 1, "YAML anchors and aliases are not allowed")
        seen.add(id(node))
        line = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            located, lines = _Located(), {}
            located.line = line
            for key_node, value_node in node.value:
                key = build(key_node)
                if not isinstance(key, str):
                    raise _Problem(key_node.start_mark.line + 1, f"keys must be text, got {key!r}")
                if key in lines:
                    raise _Problem(key_node.start_mark.line + 1, f"{key!r} given twice in one mapping (also line {lines[key]})")
                lines[key] = key_node.start_mark.line + 1
                located[key] = build(value_node)
            return located
        if isinstance(node, yaml.SequenceNode):
            return [build(item) for item in node.value]
        return scalars.construct_object(node)

    try:
        root = yaml.compose(text, Loader=loader)
        return None if root is None else build(root)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        reason = getattr(error, "problem", None) or "not valid YAML"
        raise _Problem(mark.line + 1 if mark else None, f"not valid YAML ({reason})") from None


def _plain(value: Any, where: str, line: int) -> Any:
    """A JSON value (what the admin API can carry), or a problem naming where it is not."""
    if isinstance(value, dict):
        line = getattr(value, "line", line)
        return {str(k): _plain(v, f"{where}.{k}", line) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(item, f"{where}[{index}]", line) for index, item in enumerate(value)]
    if isinstance(value, float) and not math.isfinite(value):
        raise _Problem(line, f"{where} must be a finite number")
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise _Problem(line, f"{where} must be text, a number, true/false, a list or a mapping (quote dates), got {value!r}")


def _identity(value: Any, where: str, line: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Problem(line, f"{where} must be non-empty text")
    if value != value.strip() or any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise _Problem(line, f"{where} must not have control characters or leading/trailing spaces")
    return value


def _limit(name: str, value: Any, where: str, line: int) -> Any:
    if value is None:
        return None
    if name == "budget_duration":
        if not isinstance(value, str) or not DURATION.match(value):
            raise _Problem(line, f"{where} must be like 30s, 15m, 12h, 30d, 2w, 1mo or daily, or null")
        return value
    whole = name != "max_budget"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (whole and not isinstance(value, int)):
        raise _Problem(line, f"{where} must be a {'whole ' if whole else ''}number or null")
    if value < 0 or not math.isfinite(value):
        raise _Problem(line, f"{where} must not be negative")
    return value


def _model_names(value: Any, where: str, line: int) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(name, str) and name.strip() for name in value):
        raise _Problem(line, f"{where} must be a list of model names")
    return sorted(set(value))


def _mapping(value: Any, where: str, line: int) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _Problem(line, f"{where} must be a mapping")
    return _plain(value, where, line)


def _metadata(value: Any, where: str, line: int) -> dict:
    metadata = _mapping(value, where, line)
    taken = sorted(OPSCTL_KEYS & set(metadata))
    if taken:
        raise _Problem(line, f"{where}.{taken[0]} is set by opsctl, not by the file")
    return metadata


def _team(entry: dict, where: str, defaults: dict) -> dict:
    line = entry.line
    fields = {
        "team_alias": entry.get("team_alias"),
        "models": _model_names(entry.get("models"), f"{where}.models", line),
        "metadata": _metadata(entry.get("metadata"), f"{where}.metadata", line),
    }
    if fields["team_alias"] is not None and not isinstance(fields["team_alias"], str):
        raise _Problem(line, f"{where}.team_alias must be text or null")
    for name in LIMITS:
        fields[name] = _limit(name, entry[name], f"{where}.{name}", line) if name in entry else defaults.get(name)
    return fields


def _key(entry: dict, where: str, defaults: dict) -> dict:
    line = entry.line
    if "key" in entry or "token" in entry:
        raise _Problem(line, f"{where}: a state file never holds a key or its hash; keys are named by key_alias")
    team = entry.get("team_id")
    fields = {
        "team_id": None if team is None else _identity(team, f"{where}.team_id", line),
        "models": _model_names(entry.get("models"), f"{where}.models", line),
        "metadata": _metadata(entry.get("metadata"), f"{where}.metadata", line),
    }
    for name in LIMITS:
        fields[name] = _limit(name, entry[name], f"{where}.{name}", line) if name in entry else defaults.get(name)
    return fields


def _model(entry: dict, where: str, _defaults: dict) -> dict:
    line = entry.line
    name = entry.get("model_name")
    if not isinstance(name, str) or not name.strip():
        raise _Problem(line, f"{where}.model_name must be non-empty text")
    params = entry.get("litellm_params")
    if not isinstance(params, dict):
        raise _Problem(line, f"{where}.litellm_params must be a mapping with at least `model`")
    params_line = params.line
    params = _plain(params, f"{where}.litellm_params", params_line)
    if not isinstance(params.get("model"), str) or not params["model"].strip():
        raise _Problem(params_line, f"{where}.litellm_params.model must be non-empty text")
    for param, value in params.items():
        path = f"{where}.litellm_params.{param}"
        if is_secret_param(param):
            if not (isinstance(value, str) and ENV_REF.match(value)):
                raise _Problem(params_line, f"{path} is a secret: give it as os.environ/NAME, never as a value")
        else:
            inner = nested_secret(value)
            if inner:
                raise _Problem(params_line, f"{path}.{inner} looks like a secret inside a nested value; "
                                            "LiteLLM resolves os.environ/ references only at the top of litellm_params")
    info = _mapping(entry.get("model_info"), f"{where}.model_info", line)
    taken = sorted(RESERVED_INFO & set(info))
    if taken:
        hint = " (give the id at the top of the entry)" if taken[0] == "id" else ""
        raise _Problem(line, f"{where}.model_info.{taken[0]} cannot be set in a state file{hint}")
    return {"model_name": name, "litellm_params": params, "model_info": info}


READERS = {"teams": _team, "keys": _key, "models": _model}


def parse_state(text: str, source: str, key_defaults: dict, team_defaults: dict) -> State:
    """Check a whole document and resolve its defaults; OpsctlError (exit 2) names FILE:line."""
    try:
        return _parse_state(text, source, key_defaults, team_defaults)
    except _Problem as problem:
        where = f"{source}:{problem.line}" if problem.line else source
        raise OpsctlError(f"{where}: {problem.message}", ExitCode.USAGE) from None


def _parse_state(text: str, source: str, key_defaults: dict, team_defaults: dict) -> State:
    document = _parse_yaml(text)
    if not isinstance(document, dict):
        raise _Problem(1, "expected a mapping with `version: 1` and teams, keys or models")
    unknown = sorted(set(document) - {"version", *KINDS})
    if unknown:
        raise _Problem(document.line, f"unknown top-level field {unknown[0]!r} (allowed: version, {', '.join(KINDS)})")
    if document.get("version") != VERSION or isinstance(document.get("version"), bool):
        raise _Problem(document.line, f"version must be {VERSION} (this opsctl reads version {VERSION} files)")
    state = State()
    defaults = {"teams": team_defaults, "keys": key_defaults, "models": {}}
    for kind in KINDS:
        entries = document.get(kind)
        if entries is None:
            continue
        if not isinstance(entries, list):
            raise _Problem(document.line, f"{kind} must be a list")
        identity = IDENTITY[kind]
        found = state.of(kind)
        for index, entry in enumerate(entries):
            where = f"{kind}[{index}]"
            if not isinstance(entry, dict):
                raise _Problem(document.line, f"{where} must be a mapping")
            unknown = sorted(set(entry) - {identity, *FIELDS[kind]})
            if unknown and not (kind == "keys" and set(unknown) & {"key", "token"}):
                raise _Problem(entry.line, f"{where}: unknown field {unknown[0]!r} (allowed: {identity}, {', '.join(FIELDS[kind])})")
            name = _identity(entry.get(identity), f"{where}.{identity}", entry.line)
            if name in found:
                raise _Problem(entry.line, f"{where}: {identity} {name!r} already given at {state.where[(kind, name)]}")
            found[name] = READERS[kind](entry, where, defaults[kind])
            state.where[(kind, name)] = f"{source}:{entry.line}"
    return state


def load_state(path: str | Path, key_defaults: dict, team_defaults: dict) -> State:
    """Read and check a state file (a regular file of at most MAX_BYTES)."""
    from opsctl.files import read_text

    return parse_state(read_text(path, MAX_BYTES, "state file"), str(path), key_defaults, team_defaults)


def render(document: dict, as_json: bool = False) -> str:
    """A document as the file export writes: fields in a fixed order, block-style YAML."""
    if as_json:
        return json.dumps(document, indent=2) + "\n"
    import yaml

    header = f"# opsctl state file (version {VERSION}); schema: opsctl/data/{SCHEMA_FILE}\n"
    return header + yaml.safe_dump(document, sort_keys=False, default_flow_style=False, allow_unicode=True, width=100)
