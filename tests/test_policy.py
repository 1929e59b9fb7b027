"""The policy file: the runbook's values, matching, precedence, and line-numbered errors."""

from __future__ import annotations

import pytest

from opsctl.errors import ExitCode, OpsctlError
from opsctl.policy import load_policy, parse_policy


def test_default_policy_holds_the_runbook_tiers_and_key_defaults():
    policy = load_policy(None)
    tiers = {}
    for rule in policy.rules:
        tiers.setdefault((rule.tier, rule.timeout, rule.num_retries), []).append(rule.pattern)
    assert tiers == {
        ("local", 30, 1): ["vllm-qwen2.5-0.5b-instruct", "llamacpp-local", "gemma3-1b-local", "llama3.2-1b-local",
                           "local-embeddings", "local-rerank"],
        ("cloud", 90, 2): ["%cloud%", "deepseek-*", "chat-default", "embeddings-default", "rerank-default"],
    }
    assert policy.key_defaults == {"rpm_limit": 120, "tpm_limit": 60000}
    assert policy.team_defaults == policy.key_defaults


@pytest.mark.parametrize(
    ("name", "pattern"),
    [
        ("qwen3-coder-480b-cloud", "%cloud%"),
        ("deepseek-r1", "deepseek-*"),
        ("deepseek-cloud", "deepseek-*"),  # more literal characters than %cloud%
        ("chat-default", "chat-default"),
        ("vllm-qwen2.5-0.5b-instruct", "vllm-qwen2.5-0.5b-instruct"),
        ("vllm-qwen2x5-0.5b-instruct", None),  # "." is literal, not a regex wildcard
        ("Chat-Default", None),  # case-sensitive, like SQL LIKE
        ("my-model", None),
    ],
)
def test_default_rule_for(name, pattern):
    rule = load_policy(None).rule_for(name)
    assert (rule.pattern if rule else None) == pattern


def test_precedence_exact_then_literal_characters_then_earlier_tier():
    policy = parse_policy(
        '[[tiers]]\nname = "a"\ntimeout = 10\nnum_retries = 0\nmodels = ["deep%", "a?c"]\n\n'
        '[[tiers]]\nname = "b"\ntimeout = 20\nnum_retries = 1\nmodels = ["deepseek-*", "deepseek-chat", "_bc"]\n',
        "p.toml",
    )
    assert policy.rule_for("deepseek-chat").pattern == "deepseek-chat"  # exact beats every pattern
    assert policy.rule_for("deepseek-coder").pattern == "deepseek-*"  # 9 literal characters beat 4
    assert policy.rule_for("deepfoo").pattern == "deep%"
    assert [r.pattern for r in policy.matching_rules("abc")] == ["a?c", "_bc"]  # tie: earlier tier wins
    assert policy.matching_rules("zzz") == []


def test_sql_like_and_glob_wildcards_match_whole_names():
    policy = parse_policy('[[tiers]]\nname = "t"\ntimeout = 1.5\nnum_retries = 0\nmodels = ["m_?", "x*"]\n', "p")
    assert policy.rule_for("mab").timeout == 1.5
    assert policy.rule_for("ma") is None and policy.rule_for("mabc") is None
    assert policy.rule_for("x") is not None and policy.rule_for("yx") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[keys]\nrpm_limit = 1\n\n[foo]\nbar = 1\n", "p.toml:4: unknown key 'foo' (allowed: keys, teams, tiers)"),
        ("[keys]\nrpm_limit = -1\n", "p.toml:2: keys.rpm_limit must not be negative, got -1"),
        ("[keys]\nrpm_limit = 1.5\n", "p.toml:2: keys.rpm_limit must be a whole number, got 1.5"),
        ("[teams]\nburst = 1\n",
         "p.toml:2: unknown key 'burst' in [teams] (allowed: rpm_limit, tpm_limit, max_budget, budget_duration)"),
        ('[[tiers]]\nname = "x"\ntimeout = 30\n', "p.toml:1: tier 1 has no 'num_retries'"),
        ('[[tiers]]\nname = "x"\ntimeout = 30\nnum_retries = 1\nmodels = []\n',
         "p.toml:5: models must be a non-empty list of names or patterns"),
        ('[[tiers]]\nname = "x"\ntimeout = 30\nnum_retries = 1\nmodels = ["a"]\n\n'
         '[[tiers]]\nname = "y"\ntimeout = 0\nnum_retries = 1\nmodels = ["b"]\n',
         "p.toml:9: timeout must be a positive number of seconds, got 0"),
        ('[[tiers]]\nname = "x"\ntimeout = 30\nnum_retries = true\nmodels = ["a"]\n',
         "p.toml:4: num_retries must be a whole number >= 0, got True"),
    ],
)
def test_bad_policy_names_file_and_line(text, message):
    with pytest.raises(OpsctlError) as raised:
        parse_policy(text, "p.toml")
    assert (raised.value.message, raised.value.exit_code) == (message, ExitCode.USAGE)


def test_unreadable_policy_file(tmp_path):
    with pytest.raises(OpsctlError) as raised:
        load_policy(tmp_path / "missing.toml")
    assert raised.value.message == f"policy file {tmp_path / 'missing.toml'} does not exist"


TIER = '[[tiers]]\nname = "t"\ntimeout = {timeout}\nnum_retries = {retries}\nmodels = ["m"]\n'


@pytest.mark.parametrize(
    ("timeout", "retries", "message"),
    [
        ("nan", 1, "p.toml:3: timeout must be a finite number of seconds up to 86400, got nan"),
        ("inf", 1, "p.toml:3: timeout must be a finite number of seconds up to 86400, got inf"),
        ("1e309", 1, "p.toml:3: timeout must be a finite number of seconds up to 86400, got inf"),
        ("-nan", 1, "p.toml:3: timeout must be a finite number of seconds up to 86400, got nan"),
        ("86401", 1, "p.toml:3: timeout must be a finite number of seconds up to 86400, got 86401"),
        (30, 11, "p.toml:4: num_retries must be at most 10, got 11"),
        (30, "9" * 5000, "p.toml:4: a number with too many digits"),
        ("1" + "0" * 4400, 1, "p.toml:3: a number with too many digits"),
        (30, '"sk-' + "a" * 80 + '"', "p.toml:4: num_retries must be a whole number >= 0, got 'sk-****'"),
    ],
)
def test_policy_numbers_must_be_finite_and_in_range(timeout, retries, message):
    """NaN would be written as the string "NaN" (LiteLLM reads strings as ciphertext), and re-applied every run."""
    with pytest.raises(OpsctlError) as raised:
        parse_policy(TIER.format(timeout=timeout, retries=retries), "p.toml")
    assert (raised.value.message, raised.value.exit_code) == (message, ExitCode.USAGE)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[keys]\nmax_budget = nan\n", "p.toml:2: keys.max_budget must be a finite number, got nan"),
        ("[keys]\nrpm_limit = 9223372036854775808\n",
         "p.toml:2: keys.rpm_limit must be at most 9.22337e+18, got 9223372036854775808"),
        ("tiers = 5\n", "p.toml:1: tiers must be an array of tables ([[tiers]])"),
        ("tiers = [1]\n", "p.toml:1: tier 1 must be a table ([[tiers]])"),
        ("x = " + "[" * 3000 + "]" * 3000 + "\n", "p.toml:1: nested too deep"),
    ],
)
def test_more_hostile_policy_values(text, message):
    with pytest.raises(OpsctlError) as raised:
        parse_policy(text, "p.toml")
    assert raised.value.message == message


def test_policy_file_that_is_not_a_regular_file_or_not_text(tmp_path):
    import os

    os.mkfifo(tmp_path / "fifo.toml")  # would block a plain open() forever
    with pytest.raises(OpsctlError, match="is not a regular file"):
        load_policy(tmp_path / "fifo.toml")
    (tmp_path / "latin1.toml").write_bytes(b"# caf\xe9\n")
    with pytest.raises(OpsctlError, match=r"latin1.toml: not UTF-8 text \(byte 5\)"):
        load_policy(tmp_path / "latin1.toml")
