"""`opsctl keys create` for one key: policy defaults, idempotency, rotation, teams.

`target` tests run on the real DB-backed proxy and check its rows too."""

import hashlib

import httpx

from tests.support.db_proxy import FAKE_CHAT_MODEL

KEY_ROWS = 'SELECT token, key_alias, team_id, rpm_limit, tpm_limit, models, metadata FROM "LiteLLM_VerificationToken" WHERE key_alias = %s'


def test_create_applies_policy_defaults_and_prints_the_key_once(target):
    alias = f"{target.prefix}-svc"
    result = target.run("keys", "create", "--alias", alias, "--model", "chat-default", "--metadata", "owner=ops")
    assert result.exit_code == 0, result.stderr
    key = result.stdout.strip()
    assert result.stdout == f"{key}\n" and key.startswith("sk-")
    token = hashlib.sha256(key.encode()).hexdigest()
    assert result.stderr == f"created key {alias!r} (token {token[:12]}…) with rpm_limit=120, tpm_limit=60000\n"
    info = target.json("keys", "info", token)
    assert (info["key_alias"], info["rpm_limit"], info["tpm_limit"]) == (alias, 120, 60000)
    assert (info["models"], info["metadata"]) == (["chat-default"], {"owner": "ops"})
    assert target.rows(KEY_ROWS, alias) == [(token, alias, None, 120, 60000, ["chat-default"], {"owner": "ops"})]


def test_policy_file_sets_the_defaults_and_options_win(target, tmp_path):
    policy = tmp_path / "policy.toml"
    policy.write_text("[keys]\nrpm_limit = 7\ntpm_limit = 700\nbudget_duration = \"30d\"\n")
    alias = f"{target.prefix}-policy"
    result = target.run("keys", "create", "--alias", alias, "--tpm", "5", OPSCTL_POLICY=str(policy))
    assert result.exit_code == 0, result.stderr
    row = target.rows('SELECT rpm_limit, tpm_limit, budget_duration, budget_reset_at IS NOT NULL'
                      ' FROM "LiteLLM_VerificationToken" WHERE key_alias = %s', alias)
    assert row == [(7, 5, "30d", True)]


def test_existing_alias_is_reported_and_skipped(target):
    alias = f"{target.prefix}-once"
    assert target.run("keys", "create", "--alias", alias).exit_code == 0
    again = target.run("keys", "create", "--alias", alias)
    assert again.exit_code == 0
    assert again.stdout == ""
    assert again.stderr.startswith(f"key {alias!r} exists (token ") and again.stderr.endswith("skipped; --rotate mints a new one\n")
    assert len(target.json("keys", "list", "--alias", alias)) == 1
    assert len(target.rows(KEY_ROWS, alias)) == 1


def test_rotate_revokes_the_old_key_and_mints_a_new_one(target):
    alias = f"{target.prefix}-rot"
    old = target.run("keys", "create", "--alias", alias).stdout.strip()
    dry = target.run("keys", "create", "--alias", alias, "--rotate", "--dry-run")
    assert dry.exit_code == 0 and dry.stdout == ""
    assert dry.stderr == f"dry run: would rotate key {alias!r} with rpm_limit=120, tpm_limit=60000\n"
    new = target.run("keys", "create", "--alias", alias, "--rotate")
    assert new.exit_code == 0, new.stderr
    assert new.stderr.startswith(f"rotated key {alias!r}")
    assert new.stdout.strip().startswith("sk-") and new.stdout.strip() != old
    gone = target.run("keys", "info", old)
    assert gone.exit_code == 1
    assert gone.stderr == f"Error: no key with hash {hashlib.sha256(old.encode()).hexdigest()[:12]}…\n"
    rows = target.json("keys", "list", "--alias", alias)
    new_token = hashlib.sha256(new.stdout.strip().encode()).hexdigest()
    assert [r["token"] for r in rows] == [new_token]
    assert [row[0] for row in target.rows(KEY_ROWS, alias)] == [new_token]
    archived = target.rows('SELECT token FROM "LiteLLM_DeletedVerificationToken" WHERE key_alias = %s', alias)
    assert archived == [(hashlib.sha256(old.encode()).hexdigest(),)]  # LiteLLM keeps it there; opsctl calls it gone


def test_missing_team_is_an_error_before_any_key_is_minted(target):
    alias, team = f"{target.prefix}-orphan", f"{target.prefix}-noteam"
    result = target.run("keys", "create", "--alias", alias, "--team", team)
    assert result.exit_code == 2
    assert result.stderr == f"Error: team {team!r} does not exist; create it first: opsctl teams create --team-id {team}\n"
    assert target.json("keys", "list", "--alias", alias) == []
    assert target.rows(KEY_ROWS, alias) == []
    assert target.rows('SELECT team_id FROM "LiteLLM_TeamTable" WHERE team_id = %s', team) == []


def test_key_in_an_existing_team(target):
    team = f"{target.prefix}-team"
    assert target.run("teams", "create", "--team-id", team).exit_code == 0
    result = target.run("keys", "create", "--alias", f"{target.prefix}-member", "--team", team, "--json")
    assert result.exit_code == 0, result.stderr
    (row,) = target.json("keys", "list", "--team", team)
    assert row["key_alias"] == f"{target.prefix}-member"
    assert [r[2] for r in target.rows(KEY_ROWS, f"{target.prefix}-member")] == [team]


def test_output_file_gets_the_key_with_mode_0600_and_stdout_does_not(fake_target, tmp_path):
    out = tmp_path / "minted.csv"
    result = fake_target.run("keys", "create", "--alias", "filed", "--output", str(out))
    assert result.exit_code == 0, result.stderr
    assert "sk-" not in result.stdout + result.stderr
    assert out.stat().st_mode & 0o777 == 0o600
    header, line = out.read_text().splitlines()
    alias, key, token = line.split(",")
    assert header == "alias,key,token_id" and alias == "filed" and hashlib.sha256(key.encode()).hexdigest() == token


def test_output_file_readable_by_others_is_refused_before_minting(fake_target, tmp_path):
    out = tmp_path / "open.csv"
    out.write_text("")
    out.chmod(0o644)
    result = fake_target.run("keys", "create", "--alias", "x", "--output", str(out))
    assert result.exit_code == 2
    assert result.stderr == (f"Error: key file {out} is readable or writable by others (mode 0644); "
                             f"it must be 0600: chmod 600 {out}\n")
    assert fake_target.fake.requests == []


def test_bad_metadata_is_a_usage_error(fake_target):
    result = fake_target.run("keys", "create", "--alias", "x", "--metadata", "novalue")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == "Error: Invalid value: metadata must be key=value, got 'novalue'"
    assert fake_target.fake.requests == []


def test_proxy_400_is_shown_with_litellm_detail(fake_target):
    result = fake_target.run("keys", "create", "--alias", "a/../b")
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: the proxy rejected POST /key/generate: Invalid key_alias: must not contain control characters"
        ' (such as tab or newline) or a ".." path segment\n'
    )


def test_every_option_reaches_the_row_in_litellm_types(target):
    team, alias = f"{target.prefix}-ops", f"{target.prefix}-typed"
    assert target.run("teams", "create", "--team-id", team).exit_code == 0
    result = target.run(
        "keys", "create", "--alias", alias, "--team", team, "--model", "m1", "--model", "m2",
        "--max-budget", "5.5", "--budget-duration", "7d", "--duration", "30d",
        "--metadata", "owner=ops", "--metadata", "env=prod", "--rpm", "9", "--tpm", "900",
    )
    assert result.exit_code == 0, result.stderr
    row = target.rows(
        'SELECT team_id, models, max_budget, budget_duration, metadata, rpm_limit, tpm_limit,'
        " expires BETWEEN now() + interval '29 days' AND now() + interval '31 days'"
        ' FROM "LiteLLM_VerificationToken" WHERE key_alias = %s', alias)
    assert row == [(team, ["m1", "m2"], 5.5, "7d", {"owner": "ops", "env": "prod"}, 9, 900, True)]


def test_bad_durations_and_budgets_are_refused_before_any_request(fake_target):
    cases = {
        ("keys", "create", "--alias", "x", "--duration", "forever"):
            "duration must be like 30s, 15m, 12h, 30d, 2w, 1mo or daily, got 'forever'",
        ("keys", "create", "--alias", "x", "--budget-duration", "30"):
            "budget_duration must be like 30s, 15m, 12h, 30d, 2w, 1mo or daily, got '30'",
        ("keys", "create", "--alias", "x", "--max-budget", "nan"): "max_budget must be a non-negative number, got nan",
        ("teams", "create", "--team-id", "t", "--budget-duration", "0d"):
            "budget_duration must be like 30s, 15m, 12h, 30d, 2w, 1mo or daily, got '0d'",
        ("teams", "create", "--team-id", "t", "--max-budget", "-1"): "max_budget must be a non-negative number, got -1.0",
    }
    for args, message in cases.items():
        result = fake_target.run(*args)
        assert (result.exit_code, result.stderr.splitlines()[-1]) == (2, f"Error: Invalid value: {message}"), args
    assert fake_target.fake.requests == []


def test_rpm_limit_is_enforced_by_the_proxy(target):
    key = target.run("keys", "create", "--alias", f"{target.prefix}-rpm2", "--rpm", "2").stdout.strip()
    request = {"model": FAKE_CHAT_MODEL, "messages": [{"role": "user", "content": "hello"}]}
    before = len(target.proxy.upstream.requests_for(FAKE_CHAT_MODEL))
    answers = [httpx.post(target.url + "/v1/chat/completions", headers={"Authorization": f"Bearer {key}"},
                          json=request, timeout=30) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429], [a.text for a in answers]
    assert len(target.proxy.upstream.requests_for(FAKE_CHAT_MODEL)) - before == 2  # the third never left the proxy


def test_output_file_of_another_user_or_through_a_symlink_gets_no_key(fake_target, tmp_path):
    """Before: a 0600 file owned by another user received minted keys."""
    import os

    theirs = tmp_path / "theirs.csv"
    theirs.write_text("")
    theirs.chmod(0o600)
    os.chown(theirs, 65534, 65534)
    victim = tmp_path / "victim.csv"
    victim.write_text("")
    (tmp_path / "link.csv").symlink_to(victim)
    for name, message in [("theirs.csv", f"key file {theirs} is owned by another user: refusing to trust it"),
                          ("link.csv", f"key file {tmp_path / 'link.csv'} is a symlink: refusing to write through it")]:
        result = fake_target.run("keys", "create", "--alias", "x", "--output", str(tmp_path / name))
        assert (result.exit_code, result.stderr) == (2, f"Error: {message}\n")
    assert theirs.read_text() == victim.read_text() == ""
    assert fake_target.fake.requests == []


def test_litellm_own_400_text_is_shown_in_one_line(target):
    """LiteLLM 1.108.7 always refuses an alias with a ".." path segment
    (key_management_endpoints.py:8087-8112): its own words, one line, exit 2, no row."""
    alias = f"{target.prefix}/../x"
    result = target.run("keys", "create", "--alias", alias)
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == ("Error: the proxy rejected POST /key/generate: Invalid key_alias: must not contain control "
                             'characters (such as tab or newline) or a ".." path segment\n')
    assert target.rows(KEY_ROWS, alias) == []
