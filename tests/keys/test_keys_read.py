"""`keys list` paging, `keys info`, `keys revoke`, and `opsctl teams`."""

import hashlib
import json


def test_list_pages_through_every_key(fake_target, tmp_path):
    fake = fake_target.fake
    rows = tmp_path / "k.csv"
    rows.write_text("alias\n" + "\n".join(f"p{n:03d}" for n in range(230)) + "\n")
    assert fake_target.run("keys", "create", "--from", str(rows), "--output", str(tmp_path / "o.csv")).exit_code == 0
    fake.requests.clear()
    listed = fake_target.json("keys", "list")
    assert sorted(r["key_alias"] for r in listed) == [f"p{n:03d}" for n in range(230)]
    assert [(s.query["page"], s.query["size"]) for s in fake.seen("/key/list")] == [(["1"], ["100"]), (["2"], ["100"]), (["3"], ["100"])]
    assert set(listed[0]) == {"token", "key_alias", "team_id", "models", "rpm_limit", "tpm_limit", "max_budget",
                              "budget_duration", "spend", "expires", "blocked", "metadata", "created_at"}


def test_info_sends_the_hash_and_reads_a_key_from_stdin(fake_target):
    key = fake_target.run("keys", "create", "--alias", "i").stdout.strip()
    token = hashlib.sha256(key.encode()).hexdigest()
    info = json.loads(fake_target.run("keys", "info", "-", "--json", input=key + "\n").stdout)
    assert (info["token"], info["key_alias"], info["status"]) == (token, "i", "active")
    assert [s.query["key"] for s in fake_target.fake.seen("/key/info")] == [[token]]
    bad = fake_target.run("keys", "info", "not-a-key")
    assert bad.exit_code == 2 and bad.stderr == "Error: expected an sk- key or its 64-character sha256 hash\n"


def test_revoke_by_key_hash_and_alias(target):
    p = target.prefix
    keys = [target.run("keys", "create", "--alias", f"{p}-r{n}").stdout.strip() for n in range(3)]
    hashes = [hashlib.sha256(k.encode()).hexdigest() for k in keys]
    refused = target.run("keys", "revoke", "--alias", f"{p}-r2")
    assert refused.exit_code == 9
    assert refused.stderr.splitlines()[-1] == "Error: refusing to write without --yes in a non-interactive shell; nothing revoked"
    result = target.run("keys", "revoke", keys[0], hashes[1], "--alias", f"{p}-r2", "--alias", f"{p}-gone", "--yes", "--json")
    assert result.exit_code == 0, result.stderr
    answer = json.loads(result.stdout)
    assert sorted(r["token"] for r in answer["revoked"]) == sorted(hashes) and answer["missing"] == [f"{p}-gone"]
    assert f"Warning: no key matches {p}-gone: nothing to revoke" in result.stderr
    assert target.json("keys", "list", "--alias", f"{p}-r0") == []
    again = target.run("keys", "revoke", "--alias", f"{p}-r0", "--yes")  # idempotent
    assert again.exit_code == 0 and again.stderr == f"Warning: no key matches {p}-r0: nothing to revoke\n"
    again_json = target.run("keys", "revoke", "--alias", f"{p}-r0", "--yes", "--json")
    assert json.loads(again_json.stdout) == {"revoked": [], "missing": [f"{p}-r0"]}  # same shape when nothing matched


def test_team_create_mirrors_key_defaults_and_is_idempotent_by_id(target):
    team = f"{target.prefix}-platform"
    dry = target.json("teams", "create", "--team-id", team, "--dry-run")
    assert dry["status"] == "would-create"
    assert dry["request"] == {"rpm_limit": 120, "tpm_limit": 60000, "team_id": team}
    created = target.run("teams", "create", "--team-id", team, "--alias", "Platform")
    assert created.exit_code == 0 and created.stdout == f"{team}\n"
    again = target.run("teams", "create", "--team-id", team, "--alias", "Platform")
    assert again.exit_code == 0 and again.stdout == "" and again.stderr == f"team {team!r} exists: nothing changed\n"
    info = target.json("teams", "info", team)
    assert (info["team_alias"], info["rpm_limit"], info["tpm_limit"], info["max_budget"]) == ("Platform", 120, 60000, None)
    assert [t["team_id"] for t in target.json("teams", "list")].count(team) == 1


def test_team_budget_only_when_asked(fake_target):
    result = fake_target.run("teams", "create", "--team-id", "b", "--max-budget", "50", "--budget-duration", "30d")
    assert result.exit_code == 0, result.stderr
    assert fake_target.fake.seen("/team/new")[0].body == {
        "rpm_limit": 120, "tpm_limit": 60000, "team_id": "b", "max_budget": 50.0, "budget_duration": "30d"}


def test_team_create_retry_cannot_make_a_second_team(fake_target):
    fake = fake_target.fake
    fake.inject("/team/new", "drop_after")  # created, answer lost: the retry is refused as a duplicate
    result = fake_target.run("teams", "create", "--team-id", "dup", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "exists"
    assert len(fake.seen("/team/new")) == 2 and list(fake.teams) == ["dup"]


def test_team_info_missing(fake_target):
    result = fake_target.run("teams", "info", "nope")
    assert result.exit_code == 1 and result.stderr == "Error: no team with id 'nope'\n"
