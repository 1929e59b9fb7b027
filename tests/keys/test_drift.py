"""Drift is shown, never hidden: `keys create` / `teams create` on an object that exists
report every field that differs and write nothing; `keys update` / `teams update` write
only those fields (dry run, confirmation, undo file), and a second run has nothing to do.

On the session's real DB-backed proxy, asserting on its answers and its rows."""

import json
import os
import stat

KEY_ROW = ('SELECT token, team_id, models, rpm_limit, tpm_limit, max_budget, budget_duration, metadata, updated_at'
           ' FROM "LiteLLM_VerificationToken" WHERE key_alias = %s')
TEAM_ROW = ('SELECT team_alias, models, rpm_limit, tpm_limit, max_budget, budget_duration, metadata, updated_at'
            ' FROM "LiteLLM_TeamTable" WHERE team_id = %s')


def _teams(target, *names):
    for name in names:
        assert target.run("teams", "create", "--team-id", name).exit_code == 0


def test_create_on_an_existing_key_reports_every_drifted_field_and_writes_nothing(target):
    alias, team_a, team_b = f"{target.prefix}-d", f"{target.prefix}-a", f"{target.prefix}-b"
    _teams(target, team_a, team_b)
    made = target.run("keys", "create", "--alias", alias, "--team", team_a, "--model", "m1", "--rpm", "60", "--tpm", "100",
                      "--max-budget", "5", "--budget-duration", "30d", "--metadata", "owner=a")
    assert made.exit_code == 0, made.stderr
    before = target.rows(KEY_ROW, alias)

    asked = ("keys", "create", "--alias", alias, "--team", team_b, "--model", "m2", "--model", "m1",
             "--max-budget", "7", "--budget-duration", "7d", "--metadata", "owner=b")
    answer = target.json(*asked)  # rpm and tpm: the policy's 120 and 60000 are what was asked
    assert [(r["status"], r["token_id"]) for r in answer] == [("exists", before[0][0])]
    assert answer[0]["drift"] == [
        {"field": "team_id", "live": team_a, "asked": team_b},
        {"field": "models", "live": ["m1"], "asked": ["m2", "m1"]},
        {"field": "max_budget", "live": 5.0, "asked": 7.0},
        {"field": "budget_duration", "live": "30d", "asked": "7d"},
        {"field": "rpm_limit", "live": 60, "asked": 120},
        {"field": "tpm_limit", "live": 100, "asked": 60000},
        {"field": "metadata.owner", "live": "a", "asked": "b"},
    ]
    text = target.run(*asked)
    assert text.exit_code == 0 and text.stdout == ""
    assert text.stderr.splitlines()[1] == (
        f"key {alias!r} differs from what was asked (live -> asked): team_id {team_a!r} -> {team_b!r}, "
        "models ['m1'] -> ['m2', 'm1'], max_budget 5.0 -> 7.0, budget_duration '30d' -> '7d', rpm_limit 60 -> 120, "
        "tpm_limit 100 -> 60000, metadata.owner 'a' -> 'b'; nothing was written "
        "(opsctl keys update with the same options writes it)")
    assert target.rows(KEY_ROW, alias) == before  # updated_at included: not even touched

    same = target.json("keys", "create", "--alias", alias, "--team", team_a, "--model", "m1", "--rpm", "60", "--tpm", "100")
    assert same[0]["drift"] == []  # max_budget, budget_duration, metadata not asked: not compared


def test_update_writes_only_the_drift_is_idempotent_and_restore_undoes_it(target, tmp_path):
    alias = f"{target.prefix}-u"
    assert target.run("keys", "create", "--alias", alias, "--rpm", "60", "--max-budget", "5", "--metadata", "owner=a").exit_code == 0
    (token, *_), = before = target.rows(KEY_ROW, alias)
    undo = tmp_path / "undo.json"
    update = ("keys", "update", "--alias", alias, "--tpm", "500", "--metadata", "env=prod", "--undo-file", str(undo))

    dry = target.run(*update, "--dry-run")
    assert dry.exit_code == 0, dry.stderr
    assert dry.stderr == (f"key {alias!r} (token {token[:12]}…): rpm_limit 60 -> 120, tpm_limit 60000 -> 500, "
                          "metadata.env (absent) -> 'prod'\ndry run: nothing was written\n")
    refused = target.run(*update)  # no terminal, no --yes
    assert refused.exit_code == 9 and refused.stderr.endswith(
        "Error: refusing to write without --yes in a non-interactive shell; nothing was changed\n")
    assert target.rows(KEY_ROW, alias) == before and not undo.exists()

    done = target.json(*update, "--yes")
    assert done["updated"] == 1 and done["undo"] == str(undo)
    assert done["objects"] == [{"kind": "key", "name": alias, "token": token, "drift": [
        {"field": "rpm_limit", "live": 60, "asked": 120}, {"field": "tpm_limit", "live": 60000, "asked": 500},
        {"field": "metadata.env", "asked": "prod"}]}]
    assert stat.S_IMODE(os.stat(undo).st_mode) == 0o600
    saved = json.loads(undo.read_text())
    assert saved["objects"] == [{"kind": "key", "id": token, "name": alias,
                                 "before": {"rpm_limit": 60, "tpm_limit": 60000, "metadata": {"owner": "a"}},
                                 "after": {"rpm_limit": 120, "tpm_limit": 500, "metadata": {"owner": "a", "env": "prod"}}}]
    row = target.rows(KEY_ROW, alias)[0]
    assert row[:8] == (token, None, [], 120, 500, 5.0, None, {"owner": "a", "env": "prod"})  # the budget untouched
    info = target.json("keys", "info", token)
    assert (info["rpm_limit"], info["tpm_limit"], info["max_budget"], info["metadata"]) == (120, 500, 5.0, {"owner": "a", "env": "prod"})

    again = target.run(*update[:-2], "--undo-file", str(tmp_path / "second.json"), "--yes")
    assert again.exit_code == 0, again.stderr
    assert again.stderr == f"key {alias!r} (token {token[:12]}…): nothing to do\nnothing to do: every key holds what was asked\n"
    assert not (tmp_path / "second.json").exists() and target.rows(KEY_ROW, alias) == [row]

    assert target.run("keys", "undo", str(undo)).exit_code == 9
    restored = target.run("keys", "undo", str(undo), "--yes")
    assert restored.exit_code == 0, restored.stderr
    assert restored.stderr.endswith("restored 1 key(s)\n")
    assert target.rows(KEY_ROW, alias)[0][:8] == before[0][:8]
    twice = target.run("keys", "undo", str(undo), "--yes")
    assert twice.exit_code == 0 and twice.stderr.endswith("nothing to do: every key holds what was asked\n")


def test_restore_refuses_a_key_edited_since_the_update(target, tmp_path):
    alias = f"{target.prefix}-e"
    assert target.run("keys", "create", "--alias", alias).exit_code == 0
    undo = tmp_path / "undo.json"
    assert target.run("keys", "update", "--alias", alias, "--rpm", "7", "--undo-file", str(undo), "--yes").exit_code == 0
    assert target.run("keys", "update", "--alias", alias, "--rpm", "8", "--undo-file", str(tmp_path / "2.json"), "--yes").exit_code == 0
    result = target.run("keys", "undo", str(undo), "--yes")
    assert result.exit_code == 7
    assert result.stderr.endswith("changed since the update (rpm_limit): nothing was restored; "
                                  "`opsctl keys update` can set the values you want\n")
    assert target.rows('SELECT rpm_limit FROM "LiteLLM_VerificationToken" WHERE key_alias = %s', alias) == [(8,)]


def test_bulk_create_shows_drift_per_row_and_bulk_update_writes_only_drifted_rows(target, tmp_path):
    p = target.prefix
    rows = tmp_path / "keys.csv"
    rows.write_text(f"alias,rpm,models\n{p}-1,10,m1\n{p}-2,20,m2\n")
    assert target.run("keys", "create", "--from", str(rows)).exit_code == 0
    before = {a: target.rows(KEY_ROW, a) for a in (f"{p}-1", f"{p}-2")}
    rows.write_text(f"alias,rpm,models\n{p}-1,10,m1\n{p}-2,25,m2;m3\n")

    created = target.json("keys", "create", "--from", str(rows))
    assert [(r["alias"], r["status"], r["drift"]) for r in created] == [
        (f"{p}-1", "exists", []),
        (f"{p}-2", "exists", [{"field": "models", "live": ["m2"], "asked": ["m2", "m3"]},
                              {"field": "rpm_limit", "live": 20, "asked": 25}])]
    assert {a: target.rows(KEY_ROW, a) for a in before} == before

    undo = tmp_path / "undo.json"
    updated = target.json("keys", "update", "--from", str(rows), "--undo-file", str(undo), "--yes")
    assert updated["updated"] == 1 and [len(o["drift"]) for o in updated["objects"]] == [0, 2]
    assert target.rows(KEY_ROW, f"{p}-1") == before[f"{p}-1"]  # no drift: not written, updated_at as it was
    assert target.rows(KEY_ROW, f"{p}-2")[0][2:4] == (["m2", "m3"], 25)
    assert [o["id"] for o in json.loads(undo.read_text())["objects"]] == [before[f"{p}-2"][0][0]]

    rows.write_text(f"alias,rpm\n{p}-2,30\n{p}-missing,1\n")
    missing = target.run("keys", "update", "--from", str(rows), "--undo-file", str(tmp_path / "m.json"), "--yes")
    assert missing.exit_code == 1
    assert missing.stderr.endswith("Error: 1 key(s) do not exist: create them first (opsctl keys create); nothing was changed\n")
    assert target.rows(KEY_ROW, f"{p}-2")[0][3] == 25 and not (tmp_path / "m.json").exists()


def test_update_by_hash_and_to_another_team(target, tmp_path):
    alias, team = f"{target.prefix}-h", f"{target.prefix}-t"
    _teams(target, team)
    key = target.run("keys", "create", "--alias", alias).stdout.strip()
    result = target.run("keys", "update", "-", "--team", team, "--undo-file", str(tmp_path / "u.json"), "--yes", input=key)
    assert result.exit_code == 0, result.stderr
    assert target.rows('SELECT team_id FROM "LiteLLM_VerificationToken" WHERE key_alias = %s', alias) == [(team,)]
    nope = target.run("keys", "update", "--alias", alias, "--team", f"{target.prefix}-none", "--yes")
    assert nope.exit_code == 2 and "does not exist; create it first" in nope.stderr


def test_team_drift_is_shown_and_team_update_writes_it(target, tmp_path):
    team = f"{target.prefix}-team"
    assert target.run("teams", "create", "--team-id", team, "--alias", "Old", "--rpm", "10", "--max-budget", "5").exit_code == 0
    before = target.rows(TEAM_ROW, team)

    shown = target.json("teams", "create", "--team-id", team, "--alias", "New", "--model", "m1")
    assert shown["status"] == "exists"
    assert shown["drift"] == [{"field": "team_alias", "live": "Old", "asked": "New"},
                              {"field": "models", "live": [], "asked": ["m1"]},
                              {"field": "rpm_limit", "live": 10, "asked": 120}]
    text = target.run("teams", "create", "--team-id", team, "--rpm", "10")
    assert text.exit_code == 0 and text.stderr == f"team {team!r} exists: nothing changed\n"  # tpm 60000 as asked
    assert target.rows(TEAM_ROW, team) == before

    undo = tmp_path / "team.json"
    update = ("teams", "update", "--team-id", team, "--max-budget", "9", "--undo-file", str(undo))
    dry = target.run(*update, "--dry-run")
    assert dry.exit_code == 0 and dry.stderr == (f"team {team!r} (team_id {team}): max_budget 5.0 -> 9.0, rpm_limit 10 -> 120\n"
                                                 "dry run: nothing was written\n")
    assert target.rows(TEAM_ROW, team) == before
    done = target.run(*update, "--yes")
    assert done.exit_code == 0, done.stderr
    assert done.stderr.endswith(f"updated 1 team(s); undo: opsctl teams undo {undo}\n")
    assert target.rows(TEAM_ROW, team)[0][:7] == ("Old", [], 120, 60000, 9.0, None, {})
    info = target.json("teams", "info", team)
    assert (info["max_budget"], info["rpm_limit"], info["team_alias"]) == (9.0, 120, "Old")
    again = target.run("teams", "update", "--team-id", team, "--max-budget", "9", "--yes")
    assert again.exit_code == 0 and again.stderr.endswith("nothing to do: every team holds what was asked\n")

    assert target.run("keys", "undo", str(undo), "--yes").exit_code == 2  # a teams file is not a keys file
    assert target.run("teams", "undo", str(undo), "--yes").exit_code == 0
    assert target.rows(TEAM_ROW, team)[0][:7] == before[0][:7]


def test_update_sends_only_the_differing_fields(fake_target, tmp_path):
    assert fake_target.run("keys", "create", "--alias", "a", "--rpm", "60", "--max-budget", "3").exit_code == 0
    result = fake_target.run("keys", "update", "--alias", "a", "--max-budget", "3", "--undo-file", str(tmp_path / "u"), "--yes")
    assert result.exit_code == 0, result.stderr
    [sent] = fake_target.fake.seen("/key/update")
    assert set(sent.body) == {"key", "rpm_limit"} and sent.body["rpm_limit"] == 120


def test_update_needs_exactly_one_target_and_a_readable_undo_file(fake_target, tmp_path):
    for args in ((), ("--alias", "a", "--from", "x.csv"), ("abc", "--alias", "a")):
        result = fake_target.run("keys", "update", *args)
        assert result.exit_code == 2 and "give one of KEY_OR_HASH, --alias or --from" in result.stderr
    loose = tmp_path / "loose.json"
    loose.write_text("{}")
    loose.chmod(0o644)
    result = fake_target.run("keys", "undo", str(loose), "--yes")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1 and "0600" in result.stderr
    loose.chmod(0o600)
    result = fake_target.run("keys", "undo", str(loose), "--yes")
    assert result.exit_code == 2 and result.stderr == f"Error: {loose}: not an opsctl undo file (format is not opsctl-admin-undo/1)\n"
