"""`opsctl db apply-overrides` and `db status` on LiteLLM's real schema."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.db.conftest import DEPLOYMENTS, EXPECTED, stored_params
from tests.support.litellm_db import load_deployments, raw_rows

CHANGED = {"chat-a", "chat-b", "qwen-cloud", "deepseek", "embeddings"}


def test_apply_sets_numbers_that_litellm_reads_and_keeps_every_secret(seeded, run):
    before = stored_params(seeded.url)
    result = run("--database-url", seeded.url, "db", "apply-overrides", "--yes", "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["applied"] == len(CHANGED)
    assert {seeded.label_of(c["model_id"]) for c in report["plan"]["changes"]} == CHANGED
    assert {seeded.label_of(c["model_id"]) for c in report["plan"]["compliant"]} == {"llamacpp"}
    assert [d["model_name"] for d in report["plan"]["uncovered"]] == ["gpt-4o-mini"]

    # Read back the way the proxy loads DB models: decrypted secrets, numbers.
    loaded = load_deployments(seeded.url)
    for label, expected in EXPECTED.items():
        params = loaded[seeded.ids[label]]
        plaintext = DEPLOYMENTS[label][1]
        for key in ("model", "api_key", "api_base"):
            assert params.get(key) == plaintext.get(key), (label, key)
        if expected:
            assert (params["timeout"], params["num_retries"]) == expected, label
    assert loaded[seeded.ids["uncovered"]]["timeout"] == 15

    # On disk: numbers (not strings), every other key byte-for-byte as it was.
    after = stored_params(seeded.url)
    for label in CHANGED:
        model_id = seeded.ids[label]
        timeout, retries = EXPECTED[label]
        assert after[model_id]["timeout"] == timeout and type(after[model_id]["timeout"]) is int
        assert after[model_id]["num_retries"] == retries and type(after[model_id]["num_retries"]) is int
        strip = lambda params: {k: v for k, v in params.items() if k not in ("timeout", "num_retries")}
        assert strip(after[model_id]) == strip(before[model_id])
    rows = raw_rows(seeded.url)
    for label in ("llamacpp", "uncovered"):  # compliant and uncovered rows are not touched at all
        assert rows[seeded.ids[label]] == seeded.before[seeded.ids[label]]
    for label in CHANGED:
        _params, updated_at, updated_by = rows[seeded.ids[label]]
        assert updated_by == "opsctl"
        assert updated_at > seeded.before[seeded.ids[label]][1]


def test_second_run_changes_nothing_and_touches_no_row(seeded, run):
    assert run("--database-url", seeded.url, "db", "apply-overrides", "--yes").exit_code == 0
    after_first = raw_rows(seeded.url)
    result = run("--database-url", seeded.url, "db", "apply-overrides", "--yes", "--json")
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert (report["applied"], report["plan"]["changes"], report["backup"]) == (0, [], None)
    assert "Nothing to change." in result.stderr
    assert raw_rows(seeded.url) == after_first


def test_dry_run_prints_the_plan_and_writes_nothing(seeded, run, isolated_env):
    result = run("--database-url", seeded.url, "db", "apply-overrides", "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert "Deployments to change" in result.stdout and "Already compliant" in result.stdout
    assert "Not covered by any rule" in result.stdout and "gpt-4o-mini" in result.stdout
    assert "10 -> 90" in result.stdout and "unset -> 2" in result.stdout
    assert '"30" -> 30' in result.stdout  # the stored string is shown as one, not as the number it resembles
    assert result.stderr.splitlines()[-2:] == ["5 to change, 1 compliant, 1 not covered", "Dry run: nothing was written."]
    assert raw_rows(seeded.url) == seeded.before
    assert not (isolated_env / ".local").exists()  # no backup file either


def test_plan_reports_overlaps_and_warns_about_rules_matching_nothing(seeded, run):
    result = run("--database-url", seeded.url, "db", "apply-overrides", "--dry-run", "--json")
    plan = json.loads(result.stdout)["plan"]
    assert plan["overlaps"] == [
        {
            "model_name": "deepseek-r1-cloud",
            "winner": {"pattern": "deepseek-*", "tier": "cloud", "timeout": 90, "num_retries": 2},
            "also_matched": [{"pattern": "%cloud%", "tier": "cloud", "timeout": 90, "num_retries": 2}],
        }
    ]
    unmatched = {rule["pattern"] for rule in plan["unmatched_rules"]}
    assert unmatched == {"vllm-qwen2.5-0.5b-instruct", "gemma3-1b-local", "llama3.2-1b-local", "local-rerank",
                         "embeddings-default", "rerank-default"}
    assert "Warning: rule 'local-rerank' (tier local) matches no model in the database" in result.stderr.splitlines()


def test_a_users_policy_file_decides_precedence(seeded, run, tmp_path):
    (tmp_path / "mine.toml").write_text(
        '[[tiers]]\nname = "broad"\ntimeout = 60\nnum_retries = 0\nmodels = ["%cloud%", "chat-*"]\n\n'
        '[[tiers]]\nname = "exact"\ntimeout = 120\nnum_retries = 3\nmodels = ["qwen3-coder-480b-cloud"]\n'
    )
    result = run("--database-url", seeded.url, "db", "apply-overrides", "--policy", "mine.toml", "--yes", "--json")
    assert result.exit_code == 0, result.stderr
    params = stored_params(seeded.url)
    assert (params[seeded.ids["qwen-cloud"]]["timeout"], params[seeded.ids["qwen-cloud"]]["num_retries"]) == (120, 3)
    assert (params[seeded.ids["deepseek"]]["timeout"], params[seeded.ids["deepseek"]]["num_retries"]) == (60, 0)
    assert (params[seeded.ids["chat-b"]]["timeout"], params[seeded.ids["chat-b"]]["num_retries"]) == (60, 0)
    assert json.loads(result.stdout)["plan"]["policy"] == "mine.toml"


def test_non_interactive_write_without_yes_is_refused(seeded, run, isolated_env):
    result = run("--database-url", seeded.url, "db", "apply-overrides")
    assert result.exit_code == 9
    assert result.stderr.splitlines()[-1] == (
        "Error: refusing to write without --yes in a non-interactive shell; nothing was changed"
    )
    assert raw_rows(seeded.url) == seeded.before
    assert not (isolated_env / ".local").exists()


def test_status_lists_compliance(seeded, run):
    result = run("--database-url", seeded.url, "db", "status", "--json")
    assert result.exit_code == 0, result.stderr
    by_label = {seeded.label_of(row["model_id"]): row for row in json.loads(result.stdout)}
    assert by_label["llamacpp"]["status"] == "complies"
    assert by_label["uncovered"] == {"model_name": "gpt-4o-mini", "model_id": seeded.ids["uncovered"],
                                     "timeout": 15, "num_retries": None, "status": "no rule", "rule": None}
    assert by_label["embeddings"]["status"] == "differs" and by_label["embeddings"]["timeout"] == "30"
    assert by_label["chat-a"]["rule"] == {"pattern": "chat-default", "tier": "cloud", "timeout": 90, "num_retries": 2}

    run("--database-url", seeded.url, "db", "apply-overrides", "--yes")
    table = run("--database-url", seeded.url, "db", "status")
    assert "differs" not in table.stdout and table.stdout.count("complies") == 6
    assert table.stdout.count("30 s, 1 retry ") == 2 and table.stdout.count("90 s, 2 retries") == 4


@pytest.mark.parametrize(("answer", "exit_code"), [("y", 0), ("n", 9)])
def test_interactive_confirmation(seeded, answer, exit_code, isolated_env):
    """On a real terminal the write asks first; 'n' leaves the database alone."""
    primary, secondary = os.openpty()
    try:
        os.write(primary, f"{answer}\n".encode())
        result = subprocess.run(
            [str(Path(sys.executable).parent / "opsctl"), "--database-url", seeded.url, "db", "apply-overrides"],
            stdin=secondary, capture_output=True, text=True, timeout=60,
        )
    finally:
        os.close(primary)
        os.close(secondary)
    assert result.returncode == exit_code, result.stderr
    assert "Update 5 deployments? [y/N]" in result.stderr
    if answer == "n":
        # the answer is echoed on the terminal, not on stderr, so the error follows the prompt
        assert result.stderr.endswith("[y/N]: Error: declined; nothing was changed\n")
        assert raw_rows(seeded.url) == seeded.before
    else:
        assert "Updated 5 deployments." in result.stderr
        assert raw_rows(seeded.url) != seeded.before
