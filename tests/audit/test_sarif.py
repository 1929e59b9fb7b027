"""SARIF 2.1.0 output: the fields the spec requires, and where GitHub code scanning looks."""

import json

import jsonschema

from opsctl.audit.registry import CHECKS
from tests.audit.mutations import MUTATIONS
from tests.audit.stacks import init_stack, run_audit

# The required parts of the SARIF 2.1.0 schema (sarif-schema-2.1.0.json) for what we emit.
MESSAGE = {"type": "object", "required": ["text"], "properties": {"text": {"type": "string", "minLength": 1}}}
SARIF_REQUIRED = {
    "type": "object",
    "required": ["version", "runs"],
    "properties": {
        "version": {"const": "2.1.0"},
        "$schema": {"type": "string", "format": "uri"},
        "runs": {"type": "array", "minItems": 1, "items": {
            "type": "object",
            "required": ["tool"],
            "properties": {
                "tool": {"type": "object", "required": ["driver"], "properties": {"driver": {
                    "type": "object", "required": ["name"],
                    "properties": {"name": {"type": "string"}, "rules": {"type": "array", "items": {
                        "type": "object", "required": ["id"],
                        "properties": {"id": {"type": "string"}, "shortDescription": MESSAGE, "help": MESSAGE}}}}}}},
                "originalUriBaseIds": {"type": "object", "additionalProperties": {
                    "type": "object", "properties": {"uri": {"type": "string", "pattern": "^file:///.*/$"}}}},
                "results": {"type": "array", "items": {
                    "type": "object",
                    "required": ["message"],
                    "properties": {
                        "ruleId": {"type": "string"},
                        "ruleIndex": {"type": "integer", "minimum": 0},
                        "level": {"enum": ["none", "note", "warning", "error"]},
                        "message": MESSAGE,
                        "locations": {"type": "array", "minItems": 1, "items": {
                            "type": "object", "required": ["physicalLocation"], "properties": {"physicalLocation": {
                                "type": "object", "required": ["artifactLocation"], "properties": {
                                    "artifactLocation": {"type": "object", "required": ["uri"]},
                                    "region": {"type": "object", "required": ["startLine"],
                                               "properties": {"startLine": {"type": "integer", "minimum": 1}}}}}}}},
                    }}},
            }}},
    },
}


def test_sarif_of_a_broken_stack_is_valid_and_points_at_the_line(tmp_path, isolated_env):
    stack = init_stack(tmp_path / "stack")
    mutation = next(m for m in MUTATIONS if m.name == "cooldown-10")
    mutation.apply(stack, isolated_env)
    out = tmp_path / "audit.sarif"
    result, _ = run_audit("audit", str(stack), "--sarif", str(out))
    assert result.exit_code == 1
    sarif = json.loads(out.read_text())
    jsonschema.validate(sarif, SARIF_REQUIRED)
    run = sarif["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert [rule["id"] for rule in rules] == [c.id for c in CHECKS]
    [finding] = run["results"]
    assert finding["ruleId"] == "cooldown-time" and finding["level"] == "error"
    assert rules[finding["ruleIndex"]]["id"] == "cooldown-time"
    location = finding["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {"uri": "litellm/config.yaml", "uriBaseId": "STACKDIR"}
    line = location["region"]["startLine"]
    assert (stack / "litellm/config.yaml").read_text().splitlines()[line - 1].strip() == "cooldown_time: 10"
    assert run["originalUriBaseIds"]["STACKDIR"]["uri"] == stack.resolve().as_uri() + "/"


def test_format_sarif_prints_to_stdout_and_a_clean_stack_has_no_results(tmp_path):
    stack = init_stack(tmp_path / "stack")
    result, _ = run_audit("audit", str(stack), "--format", "sarif")
    assert result.exit_code == 0
    sarif = json.loads(result.stdout)
    jsonschema.validate(sarif, SARIF_REQUIRED)
    assert sarif["runs"][0]["results"] == []


def test_json_and_format_sarif_are_exclusive(tmp_path):
    result, _ = run_audit("audit", str(tmp_path), "--json", "--format", "sarif")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines()[-1] == "Error: --json cannot be combined with --format sarif"
