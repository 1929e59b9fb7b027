"""`opsctl init --diff / --upgrade / --force` on edited stacks: local edits are never dropped.

An older opsctl's template is simulated by what it recorded: the lock file's
base content, edited to what that older version would have written.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from opsctl.cli import cli
from opsctl.errors import ExitCode
from opsctl.stack.drift import LOCK

CONFIG = "litellm/config.yaml"
OPERATOR_MODEL = """\
  - model_name: team-special-cloud
    litellm_params:
      model: ollama_chat/special:cloud
"""


def run(*args):
    return CliRunner().invoke(cli, list(args))


@pytest.fixture
def stack(tmp_path):
    directory = tmp_path / "stack"
    assert run("init", str(directory)).exit_code == 0
    return directory


def written_by_older_opsctl(stack, relative, today, older):
    """As if an older opsctl, whose template had `older` where today's has `today`, wrote the stack:
    the file and the base recorded in the lock both hold `older`."""
    lock = json.loads((stack / LOCK).read_text())
    assert today in lock["files"][relative]
    lock["files"][relative] = lock["files"][relative].replace(today, older, 1)
    (stack / LOCK).write_text(json.dumps(lock))
    (stack / relative).write_text((stack / relative).read_text().replace(today, older, 1))


def add_operator_model(stack):
    config = (stack / CONFIG).read_text()
    (stack / CONFIG).write_text(config.replace("model_list:\n", "model_list:\n" + OPERATOR_MODEL, 1))


def test_a_fresh_stack_has_no_drift_and_a_lock(stack):
    assert (stack / LOCK).is_file()
    result = run("init", str(stack), "--diff", "--json")
    assert result.exit_code == 0
    assert {f["state"] for f in json.loads(result.stdout)["files"]} == {"same"}


def test_diff_names_each_kind_of_drift(stack):
    add_operator_model(stack)
    written_by_older_opsctl(stack, "docker-compose.yml", "127.0.0.1", "0.0.0.0")
    result = run("init", str(stack), "--diff", "--json")
    assert result.exit_code == ExitCode.FAILED
    states = {f["path"]: f["state"] for f in json.loads(result.stdout)["files"]}
    assert states[CONFIG] == "local-edit" and states["docker-compose.yml"] == "template-change"
    diff = next(f["diff"] for f in json.loads(result.stdout)["files"] if f["path"] == CONFIG)
    assert "-  - model_name: team-special-cloud" in diff  # what init would write drops it: the operator sees that


def test_upgrade_merges_template_changes_around_local_edits(stack):
    written_by_older_opsctl(stack, CONFIG, "cooldown_time: 30", "cooldown_time: 60")
    add_operator_model(stack)
    before = (stack / CONFIG).read_text()
    dry = run("init", str(stack), "--upgrade", "--dry-run")
    assert dry.exit_code == 0, dry.stderr
    assert f"would merge: {stack / CONFIG}" in dry.stderr and (stack / CONFIG).read_text() == before
    merged = run("init", str(stack), "--upgrade")
    assert merged.exit_code == 0, merged.stderr
    config = (stack / CONFIG).read_text()
    assert "team-special-cloud" in config and "cooldown_time: 30" in config and "cooldown_time: 60" not in config
    again = run("init", str(stack), "--upgrade")
    assert again.exit_code == 0 and "nothing to upgrade" in again.stderr
    assert json.loads(run("init", str(stack), "--diff", "--json").stdout)["files"][2]["state"] == "local-edit"


def test_a_conflict_stops_with_the_hunks_and_writes_nothing(stack):
    written_by_older_opsctl(stack, CONFIG, "cooldown_time: 30", "cooldown_time: 60")
    config = (stack / CONFIG).read_text().replace("cooldown_time: 60", "cooldown_time: 45", 1)
    (stack / CONFIG).write_text(config)
    lock_before = (stack / LOCK).read_text()
    result = run("init", str(stack), "--upgrade")
    assert result.exit_code == ExitCode.CONFLICT
    assert "<<<<<<< local" in result.stderr and "cooldown_time: 45" in result.stderr and "cooldown_time: 30" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("Error: template and local edits conflict in litellm/config.yaml")
    assert (stack / CONFIG).read_text() == config and (stack / LOCK).read_text() == lock_before


def test_force_backs_the_edited_files_up_first(stack):
    add_operator_model(stack)
    env_before = (stack / ".env").read_text()
    result = run("init", str(stack), "--force", "--json")
    assert result.exit_code == 0, result.stderr
    backup = json.loads(result.stdout)["backup"]
    assert backup and "team-special-cloud" in (stack / ".opsctl-backups").joinpath(backup.split("/.opsctl-backups/")[1], CONFIG).read_text()
    assert "team-special-cloud" not in (stack / CONFIG).read_text()
    assert (stack / ".env").read_text() == env_before  # secrets kept


def test_upgrade_without_a_lock_says_what_to_do(stack):
    (stack / LOCK).unlink()
    result = run("init", str(stack), "--upgrade")
    assert result.exit_code == ExitCode.USAGE and "opsctl init --diff" in result.stderr
