"""sql/apply-overrides.sql does what `opsctl db apply-overrides` does with the default policy."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from opsctl.policy import load_policy, parse_policy
from tests.db.conftest import seed, stored_params
from tests.support.litellm_db import create_database, drop_database, raw_rows, seed_deployments, unique_name

SQL_FILE = Path(__file__).resolve().parents[2] / "sql" / "apply-overrides.sql"


VALUES_BLOCK = re.compile(r"(VALUES\n)(.*?)(\n\),)", re.DOTALL)

# Names that hit every kind of overlap and edge: exact vs pattern, more literal characters, the same
# exact name in two tiers, an empty wildcard match, "_" and "." as characters, case.
EDGE_NAMES = ["deepseek-cloud", "deepseek-", "cloud", "my_cloud_model", "local-rerank-cloud", "chat-default-cloud",
              "chat-x-cloud", "x_y", "xzy", "DeepSeek-chat", "vllm-qwen2x5-0.5b-instruct", "qwen3-coder-480b-cloud"]

# Every tie-break decides a value here (the default policy's only overlap is inside one tier).
PRECEDENCE_POLICY = """
[[tiers]]
name = "a"
timeout = 11
num_retries = 0
models = ["%cloud%", "chat-*", "x_y"]

[[tiers]]
name = "b"
timeout = 22
num_retries = 1
models = ["qwen3-coder-480b-cloud", "deepseek-*", "%-cloud"]

[[tiers]]
name = "c"
timeout = 33
num_retries = 2
models = ["chat-default", "deepseek-*", "xzy"]
"""


def sql_for(policy) -> str:
    """sql/apply-overrides.sql with its rules replaced by the policy's (same ranking and update)."""
    rows = ",\n".join(f"        ('{r.pattern}', {r.tier_index}, {i}, {r.timeout}, {r.num_retries})"
                      for i, r in enumerate(policy.rules))
    text, count = VALUES_BLOCK.subn(lambda m: m.group(1) + rows + m.group(3), SQL_FILE.read_text())
    assert count == 1
    return text


def psql_file(url: str, sql: str | None = None) -> str:
    command = ["psql", "-X", "-v", "ON_ERROR_STOP=1", "-d", url]
    command += ["-f", str(SQL_FILE)] if sql is None else ["-c", sql]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def test_sql_file_and_cli_leave_the_same_litellm_params(litellm_db, run):
    seeded = seed(litellm_db)
    twin_name = unique_name("opsctl_twin")
    twin = create_database(twin_name, template=litellm_db.rsplit("/", 1)[1])  # same rows, same ciphertext
    try:
        assert run("--database-url", seeded.url, "db", "apply-overrides", "--yes").exit_code == 0
        first = psql_file(twin)
        assert "(5 rows)" in first
        assert stored_params(twin) == stored_params(seeded.url)

        after_first = raw_rows(twin)
        assert "(0 rows)" in psql_file(twin)  # idempotent: nothing touched the second time
        assert raw_rows(twin) == after_first
    finally:
        drop_database(twin_name)


def test_sql_file_holds_the_default_policy():
    values = re.findall(r"\('([^']+)', (\d+), (\d+), (\d+), (\d+)\)", SQL_FILE.read_text())
    policy = load_policy(None)
    assert [(p, int(tier), int(t), int(n)) for p, tier, _index, t, n in values] == [
        (rule.pattern, rule.tier_index, rule.timeout, rule.num_retries) for rule in policy.rules
    ]
    assert [int(index) for _p, _t, index, _to, _n in values] == list(range(len(policy.rules)))


@pytest.mark.parametrize("policy_text", [None, PRECEDENCE_POLICY], ids=["default policy", "precedence policy"])
def test_sql_ranking_picks_the_same_rule_as_the_cli_for_every_overlap(litellm_db, run, tmp_path, policy_text):
    seed_deployments(litellm_db, [{"model_id": f"id-{name}", "model_name": name,
                                   "litellm_params": {"model": "openai/x", "api_key": "sk-x"}} for name in EDGE_NAMES])
    args = []
    policy = load_policy(None)
    if policy_text:
        (tmp_path / "p.toml").write_text(policy_text)
        args, policy = ["--policy", "p.toml"], parse_policy(policy_text, "p.toml")
    twin_name = unique_name("opsctl_twin")
    twin = create_database(twin_name, template=litellm_db.rsplit("/", 1)[1])
    try:
        result = run("--database-url", litellm_db, "db", "apply-overrides", "--yes", "--json", *args)
        assert result.exit_code == 0, result.stderr
        psql_file(twin, sql_for(policy))
        assert stored_params(twin) == stored_params(litellm_db)
        overlaps = {o["model_name"] for o in json.loads(result.stdout)["plan"]["overlaps"]}
        if policy_text:  # the tie-breaks really were exercised
            assert {"qwen3-coder-480b-cloud", "deepseek-cloud", "chat-default-cloud", "chat-x-cloud"} <= overlaps
            assert stored_params(twin)["id-chat-x-cloud"]["timeout"] == 22  # "%-cloud": 6 literal characters
    finally:
        drop_database(twin_name)
