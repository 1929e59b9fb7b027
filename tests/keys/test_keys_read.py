"""`keys list` paging, `keys info`, `keys revoke`, and `opsctl teams`.

`target` tests run on the real DB-backed proxy and check its rows too."""

import hashlib
import json

import httpx

from tests.support.db_proxy import FAKE_CHAT_MODEL


def chat(target, key: str) -> httpx.Response:
    request = {"model": FAKE_CHAT_MODEL, "messages": [{"role": "user", "content": "hello"}]}
    return httpx.post(target.url + "/v1/chat/completions", headers={"Authorization": f"Bearer {key}"}, json=request, timeout=30)


def test_list_pages_through_every_key(target, tmp_path):
    team = f"{target.prefix}-paged"
    assert target.run("teams", "create", "--team-id", team).exit_code == 0
    aliases = [f"{target.prefix}-p{n:03d}" for n in range(105)]  # two pages of 100
    rows = tmp_path / "k.csv"
    rows.write_text("alias,team\n" + "\n".join(f"{a},{team}" for a in aliases) + "\n")
    assert target.run("keys", "create", "--from", str(rows), "--output", str(tmp_path / "o.csv")).exit_code == 0
    listed = target.json("keys", "list", "--team", team)
    assert sorted(r["key_alias"] for r in listed) == aliases
    in_db = target.rows('SELECT token FROM "LiteLLM_VerificationToken" WHERE team_id = %s', team)
    assert sorted(r["token"] for r in listed) == sorted(t for (t,) in in_db)
    assert set(listed[0]) == {"token", "key_alias", "team_id", "models", "rpm_limit", "tpm_limit", "max_budget",
                              "budget_duration", "spend", "expires", "blocked", "metadata", "created_at"}


def test_list_asks_page_by_page(fake_target, tmp_path):
    fake = fake_target.fake
    rows = tmp_path / "k.csv"
    rows.write_text("alias\n" + "\n".join(f"p{n:03d}" for n in range(230)) + "\n")
    assert fake_target.run("keys", "create", "--from", str(rows), "--output", str(tmp_path / "o.csv")).exit_code == 0
    fake.requests.clear()
    assert len(fake_target.json("keys", "list")) == 230
    # page 1 first (it says how many there are), then the rest concurrently
    pages = [(s.query["page"], s.query["size"]) for s in fake.seen("/key/list")]
    assert pages[0] == (["1"], ["100"]) and sorted(pages[1:]) == [(["2"], ["100"]), (["3"], ["100"])]


def test_info_reads_a_key_from_stdin(target):
    alias = f"{target.prefix}-i"
    key = target.run("keys", "create", "--alias", alias).stdout.strip()
    token = hashlib.sha256(key.encode()).hexdigest()
    info = json.loads(target.run("keys", "info", "-", "--json", input=key + "\n").stdout)
    assert (info["token"], info["key_alias"], info["status"], info["rpm_limit"]) == (token, alias, "active", 120)
    bad = target.run("keys", "info", "not-a-key")
    assert bad.exit_code == 2 and bad.stderr == "Error: expected an sk- key or its 64-character sha256 hash\n"


def test_info_sends_the_hash_not_the_key(fake_target):
    key = fake_target.run("keys", "create", "--alias", "i").stdout.strip()
    assert fake_target.run("keys", "info", key).exit_code == 0
    assert [s.query["key"] for s in fake_target.fake.seen("/key/info")] == [[hashlib.sha256(key.encode()).hexdigest()]]


def test_revoke_by_key_hash_and_alias(target):
    p = target.prefix
    keys = [target.run("keys", "create", "--alias", f"{p}-r{n}", "--model", FAKE_CHAT_MODEL).stdout.strip() for n in range(3)]
    hashes = [hashlib.sha256(k.encode()).hexdigest() for k in keys]
    assert chat(target, keys[0]).status_code == 200
    refused = target.run("keys", "revoke", "--alias", f"{p}-r2")
    assert refused.exit_code == 9
    assert refused.stderr.splitlines()[-1] == "Error: refusing to write without --yes in a non-interactive shell; nothing revoked"
    result = target.run("keys", "revoke", keys[0], hashes[1], "--alias", f"{p}-r2", "--alias", f"{p}-gone", "--yes", "--json")
    assert result.exit_code == 0, result.stderr
    answer = json.loads(result.stdout)
    assert sorted(r["token"] for r in answer["revoked"]) == sorted(hashes) and answer["missing"] == [f"{p}-gone"]
    assert f"Warning: no key matches {p}-gone: nothing to revoke" in result.stderr
    assert target.json("keys", "list", "--alias", f"{p}-r0") == []
    assert target.rows('SELECT token FROM "LiteLLM_VerificationToken" WHERE token = ANY(%s)', hashes) == []
    refused_chat = [chat(target, key) for key in keys]
    assert [a.status_code for a in refused_chat] == [401] * 3, [a.text for a in refused_chat]
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
    assert target.rows('SELECT team_alias, rpm_limit, tpm_limit, max_budget FROM "LiteLLM_TeamTable" WHERE team_id = %s',
                       team) == [("Platform", 120, 60000, None)]


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


def test_team_info_missing(target):
    result = target.run("teams", "info", f"{target.prefix}-nope")
    assert result.exit_code == 1 and result.stderr == f"Error: no team with id '{target.prefix}-nope'\n"


def test_team_budget_only_when_asked_reaches_the_row(target):
    team = f"{target.prefix}-b"
    result = target.run("teams", "create", "--team-id", team, "--max-budget", "50", "--budget-duration", "30d")
    assert result.exit_code == 0, result.stderr
    assert target.rows('SELECT max_budget, budget_duration, rpm_limit FROM "LiteLLM_TeamTable" WHERE team_id = %s',
                       team) == [(50.0, "30d", 120)]
