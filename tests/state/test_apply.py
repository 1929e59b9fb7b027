"""`opsctl state apply` against the wire-level fake: order, only differing fields, idempotency,
prune rules, keys output, refusals, failures and their re-run, undo."""

import csv
import hashlib
import json
import stat


from tests.state.conftest import EXAMPLE

WRITES = ("POST", "PATCH")


def writes(fake, since=0):
    """(method, path, body) of every write the fake saw, in order."""
    return [(r.method, r.path, r.body) for r in fake.requests[since:] if r.method in WRITES]


def apply(gateway, path, *args, tmp_path=None, **env):
    extra = ["--keys-output", str(tmp_path / "new-keys.csv")] if tmp_path is not None else []
    return gateway.run("apply", str(path), "--yes", *extra, *args, **env)


def test_apply_on_an_empty_gateway_creates_in_dependency_order_and_a_second_apply_changes_nothing(gateway, example, tmp_path):
    fake = gateway.fake
    result = apply(gateway, example, tmp_path=tmp_path)
    assert result.exit_code == 0, result.stderr
    done = writes(fake)
    assert [(m, p) for m, p, _ in done] == [("POST", "/team/new"), ("POST", "/model/new"), ("POST", "/key/generate"), ("POST", "/key/generate")]
    assert done[0][2] == {"team_id": "platform", "team_alias": "Platform", "models": ["chat-default"], "max_budget": 50,
                          "budget_duration": "30d", "rpm_limit": 120, "tpm_limit": 60000,
                          "metadata": {"owner": "platform", "opsctl_managed": True}}
    assert done[1][2] == {"model_name": "chat-default",
                          "litellm_params": {"model": "openai/gpt-4o-mini", "api_base": "http://127.0.0.1:9/v1",
                                             "api_key": "os.environ/OPENAI_API_KEY", "timeout": 90},
                          "model_info": {"mode": "chat", "id": "chat-default-1", "opsctl_managed": True,
                                         "opsctl_info_keys": ["mode"], "opsctl_env_refs": {"api_key": "os.environ/OPENAI_API_KEY"}}}
    assert sorted(body["key_alias"] for _m, _p, body in done[2:]) == ["ci-bot", "loose"]
    assert result.stderr.splitlines()[-4:] == [
        "4 create",
        f"2 new key(s) written to {tmp_path / 'new-keys.csv'}",
        result.stderr.splitlines()[-2],
        "applied: 4 of 4 change(s) done",
    ]
    assert result.stderr.splitlines()[-2].startswith("undo: opsctl state apply ") and result.stderr.splitlines()[-2].endswith(" --prune")

    keys_file = tmp_path / "new-keys.csv"
    assert stat.S_IMODE(keys_file.stat().st_mode) == 0o600
    with keys_file.open() as handle:
        minted = {row["alias"]: row for row in csv.DictReader(handle)}
    assert sorted(minted) == ["ci-bot", "loose"]
    for row in minted.values():
        assert hashlib.sha256(row["key"].encode()).hexdigest() == row["token_id"] and row["token_id"] in fake.keys
        assert row["key"] not in result.stdout + result.stderr  # only the file holds the plaintext
    ci_bot = fake.keys[minted["ci-bot"]["token_id"]]
    assert (ci_bot["team_id"], ci_bot["rpm_limit"], ci_bot["tpm_limit"], ci_bot["metadata"]) == ("platform", 60, 60000, {"opsctl_managed": True})

    seen = len(fake.requests)
    again = gateway.run("apply", str(example), "--yes")  # no --keys-output needed: nothing to create
    assert again.exit_code == 0, again.stderr
    assert again.stderr == "4 unchanged\nNothing to change.\n" and again.stdout == ""
    assert writes(fake, seen) == []
    diff = gateway.run("diff", str(example))
    assert (diff.exit_code, diff.stderr) == (0, "4 unchanged\nin sync\n")


def test_a_field_edited_through_the_api_is_found_by_diff_and_only_that_field_is_written(gateway, example, tmp_path):
    fake = gateway.fake
    assert apply(gateway, example, tmp_path=tmp_path).exit_code == 0
    token = next(t for t, row in fake.keys.items() if row["key_alias"] == "ci-bot")
    gateway.api("POST", "/key/update", json={"key": token, "rpm_limit": 999, "models": ["chat-default", "other"]})
    gateway.api("POST", "/team/update", json={"team_id": "platform", "max_budget": 5, "metadata": {"owner": "platform", "opsctl_managed": True, "x": 1}})
    gateway.api("PATCH", "/model/chat-default-1/update", json={"litellm_params": {"timeout": 5}, "model_info": {"id": "chat-default-1"}})

    diff = gateway.json("diff", str(example), expect=1)
    changed = {(o["kind"], o["name"]): o for o in diff["objects"] if o["action"] != "unchanged"}
    assert changed == {
        ("team", "platform"): {"kind": "team", "name": "platform", "action": "update", "fields": [
            {"field": "max_budget", "live": 5.0, "desired": 50}, {"field": "metadata.x", "live": 1}]},
        ("model", "chat-default-1"): {"kind": "model", "name": "chat-default-1", "action": "update", "fields": [
            {"field": "litellm_params.timeout", "live": 5.0, "desired": 90}]},
        ("key", "ci-bot"): {"kind": "key", "name": "ci-bot", "action": "update", "fields": [
            {"field": "models", "live": ["chat-default", "other"], "desired": ["chat-default"]},
            {"field": "rpm_limit", "live": 999, "desired": 60}]},
    }
    assert diff["in_sync"] is False and diff["counts"]["update"] == 3 and diff["counts"]["unchanged"] == 1

    seen = len(fake.requests)
    result = apply(gateway, example)
    assert result.exit_code == 0, result.stderr
    assert writes(fake, seen) == [
        ("POST", "/team/update", {"team_id": "platform", "max_budget": 50, "metadata": {"owner": "platform", "opsctl_managed": True}}),
        ("PATCH", "/model/chat-default-1/update", {"litellm_params": {"timeout": 90}, "model_info": {
            "id": "chat-default-1", "opsctl_managed": True, "opsctl_info_keys": ["mode"],
            "opsctl_env_refs": {"api_key": "os.environ/OPENAI_API_KEY"}}}),
        ("POST", "/key/update", {"key": token, "models": ["chat-default"], "rpm_limit": 60}),
    ]
    assert gateway.run("diff", str(example)).exit_code == 0


def test_a_param_added_outside_the_file_makes_the_model_replaced(gateway, example, tmp_path):
    """LiteLLM merges params on update, so removing one means delete and re-create with the same id."""
    fake = gateway.fake
    assert apply(gateway, example, tmp_path=tmp_path).exit_code == 0
    gateway.api("PATCH", "/model/chat-default-1/update", json={"litellm_params": {"max_retries": 4}, "model_info": {"id": "chat-default-1"}})
    plan = gateway.json("apply", str(example), "--dry-run")["plan"]
    (model,) = [o for o in plan["objects"] if o["kind"] == "model"]
    assert model == {"kind": "model", "name": "chat-default-1", "action": "replace",
                     "fields": [{"field": "litellm_params.max_retries", "live": 4}]}
    seen = len(fake.requests)
    assert apply(gateway, example).exit_code == 0
    assert [(m, p) for m, p, _ in writes(fake, seen)] == [("POST", "/model/delete"), ("POST", "/model/new")]
    assert "max_retries" not in fake.models["chat-default-1"]["litellm_params"]
    assert gateway.run("diff", str(example)).exit_code == 0


def test_prune_deletes_only_managed_objects_and_prune_unmanaged_the_rest(gateway, example, state_file, tmp_path):
    fake = gateway.fake
    assert apply(gateway, example, tmp_path=tmp_path).exit_code == 0
    gateway.api("POST", "/team/new", json={"team_id": "by-hand"})
    gateway.api("POST", "/key/generate", json={"key_alias": "hand-made"})
    smaller = state_file(EXAMPLE.replace("      - key_alias: loose\n", ""), "smaller.yaml")

    plain = gateway.json("apply", str(smaller), "--yes")
    assert {o["name"]: o["action"] for o in plain["plan"]["objects"] if o["action"] != "unchanged"} == {
        "by-hand": "not-managed", "loose": "not-in-file", "hand-made": "not-managed"}
    assert plain["result"] is None and "loose" in fake.key_aliases()  # nothing deleted without --prune

    seen = len(fake.requests)
    pruned = gateway.run("apply", str(smaller), "--yes", "--prune")
    assert pruned.exit_code == 0, pruned.stderr
    assert writes(fake, seen) == [("POST", "/key/delete", {"keys": [next(
        r.body["keys"][0] for r in fake.seen("/key/delete"))]})]
    assert fake.key_aliases() == ["ci-bot", "hand-made"] and sorted(fake.teams) == ["by-hand", "platform"]
    assert gateway.run("diff", str(smaller)).exit_code == 0  # unmanaged objects are not drift

    everything = gateway.run("apply", str(smaller), "--yes", "--prune-unmanaged")
    assert everything.exit_code == 0, everything.stderr
    assert fake.key_aliases() == ["ci-bot"] and sorted(fake.teams) == ["platform"]


def test_a_team_whose_keys_stay_is_never_deleted_with_them(gateway, example, state_file, tmp_path):
    """LiteLLM's /team/delete deletes the team's keys too: opsctl keeps the team instead."""
    fake = gateway.fake
    assert apply(gateway, example, tmp_path=tmp_path).exit_code == 0
    gateway.api("POST", "/key/generate", json={"key_alias": "someone-elses", "team_id": "platform"})
    no_team = state_file("""
        version: 1
        keys:
          - key_alias: loose
    """, "no-team.yaml")
    result = gateway.json("apply", str(no_team), "--yes", "--prune")
    actions = {o["name"]: (o["action"], o.get("reason")) for o in result["plan"]["objects"]}
    assert actions["platform"] == ("kept", "it holds keys that stay (someone-elses); LiteLLM deletes a team's keys with it")
    assert actions["ci-bot"] == ("delete", None) and actions["someone-elses"] == ("not-managed", None)
    assert "platform" in fake.teams and "someone-elses" in fake.key_aliases() and "ci-bot" not in fake.key_aliases()
    assert gateway.run("diff", str(no_team)).exit_code == 1  # a kept team is still a difference


def test_the_master_keys_own_row_is_never_pruned(gateway, state_file):
    fake = gateway.fake
    token = hashlib.sha256(fake.master_key.encode()).hexdigest()
    gateway.api("POST", "/key/generate", json={"key_alias": "other"})
    row = next(iter(fake.keys.values()))
    fake.keys[token] = {**row, "token": token, "key_alias": None}  # LiteLLM stores the master key's hash like this
    empty = state_file("version: 1\n")
    result = gateway.json("apply", str(empty), "--yes", "--prune-unmanaged")
    actions = {o["name"]: (o["action"], o.get("reason")) for o in result["plan"]["objects"]}
    assert actions == {"other": ("delete", None), f"(no alias) {token[:12]}…": ("kept", "the master key's own row")}
    assert list(fake.keys) == [token]


def test_dry_run_and_refusals_write_nothing(gateway, example, tmp_path):
    fake = gateway.fake
    dry = gateway.run("apply", str(example), "--dry-run")
    assert dry.exit_code == 0 and dry.stderr.endswith("4 create\nDry run: nothing was written.\n")
    assert "create" in dry.stdout  # the plan table
    unasked = gateway.run("apply", str(example), "--keys-output", str(tmp_path / "k.csv"))
    assert unasked.exit_code == 9
    assert unasked.stderr.endswith("Error: refusing to write without --yes in a non-interactive shell; nothing was changed\n")
    declined = gateway.run("apply", str(example), "--keys-output", str(tmp_path / "k.csv"), input="n\n")
    assert declined.exit_code == 9  # CliRunner's stdin is not a terminal either
    no_file = gateway.run("apply", str(example), "--yes")
    assert no_file.exit_code == 2
    assert no_file.stderr.endswith("Error: the plan creates 2 key(s): give --keys-output FILE for their plaintext; nothing was changed\n")
    (tmp_path / "taken.csv").write_text("")
    taken = gateway.run("apply", str(example), "--yes", "--keys-output", str(tmp_path / "taken.csv"))
    assert taken.exit_code == 9
    assert taken.stderr.endswith(f"Error: keys file {tmp_path / 'taken.csv'} already exists: refusing to overwrite it; nothing was changed\n")
    assert writes(fake) == [] and not (tmp_path / "k.csv").exists()


def test_a_key_naming_a_team_nowhere_is_refused_before_any_request(gateway, state_file):
    path = state_file("""
        version: 1
        keys:
          - key_alias: orphan
            team_id: ghost
    """)
    result = gateway.run("apply", str(path), "--yes")
    assert result.exit_code == 2
    assert result.stderr == f"Error: {path}:3: key 'orphan': team 'ghost' is neither in the file nor on the gateway\n"
    assert writes(gateway.fake) == []


def test_a_failure_mid_apply_reports_what_was_done_and_a_rerun_completes_it(gateway, example, tmp_path):
    fake = gateway.fake
    fake.inject("/model/new", "500")
    first = gateway.run("apply", str(example), "--yes", "--keys-output", str(tmp_path / "k1.csv"), "--json")
    assert first.exit_code == 1
    assert first.stderr.splitlines()[-1] == (
        f"Error: model 'chat-default-1': the proxy at {fake.url} answered HTTP 500 to POST /model/new: injected 500; "
        "1 of 4 change(s) done, 1 failed, 2 not attempted; run the same command again to complete it")
    report = json.loads(first.stdout)
    assert {o["name"]: o["status"] for o in report["result"]["objects"]} == {
        "platform": "done", "chat-default-1": "failed", "ci-bot": "not-attempted", "loose": "not-attempted"}
    assert list(fake.teams) == ["platform"] and fake.models == {} and fake.keys == {}
    assert not (tmp_path / "k1.csv").exists()  # no key was minted

    seen = len(fake.requests)
    second = gateway.run("apply", str(example), "--yes", "--keys-output", str(tmp_path / "k2.csv"))
    assert second.exit_code == 0, second.stderr
    assert [(m, p) for m, p, _ in writes(fake, seen)] == [("POST", "/model/new"), ("POST", "/key/generate"), ("POST", "/key/generate")]
    assert gateway.run("diff", str(example)).exit_code == 0


def test_an_answer_lost_after_the_write_is_ambiguous_and_the_rerun_finds_the_object(gateway, example, tmp_path):
    fake = gateway.fake
    fake.inject("/model/new", "drop_after")  # created, but the answer never arrives
    first = gateway.run("apply", str(example), "--yes", "--keys-output", str(tmp_path / "k1.csv"))
    assert first.exit_code == 3
    assert first.stderr.splitlines()[-1].startswith(
        f"Error: model 'chat-default-1': the proxy at {fake.url} dropped the connection during POST /model/new; it may have been applied;")
    assert list(fake.models) == ["chat-default-1"] and len(fake.seen("/model/new")) == 1  # not retried
    second = gateway.json("apply", str(example), "--yes", "--keys-output", str(tmp_path / "k2.csv"))
    assert {o["name"]: o["action"] for o in second["plan"]["objects"]} == {
        "platform": "unchanged", "chat-default-1": "unchanged", "ci-bot": "create", "loose": "create"}
    assert len(fake.seen("/model/new")) == 1


def test_minted_keys_are_written_even_when_a_later_step_fails(gateway, example, tmp_path):
    fake = gateway.fake
    assert apply(gateway, example, tmp_path=tmp_path).exit_code == 0
    more = example.parent / "more.yaml"  # a new key (minted first) and an edited one (updated after)
    text = example.read_text().replace("  - key_alias: loose\n", "  - key_alias: loose\n  - key_alias: third\n")
    more.write_text(text.replace("rpm_limit: 60", "rpm_limit: 61"))
    fake.inject("/key/update", "500")
    result = gateway.run("apply", str(more), "--yes", "--keys-output", str(tmp_path / "later.csv"))
    assert result.exit_code == 1
    with (tmp_path / "later.csv").open() as handle:
        assert [row["alias"] for row in csv.DictReader(handle)] == ["third"]


def test_the_before_state_undoes_an_apply(gateway, example, state_file, tmp_path):
    fake = gateway.fake
    assert apply(gateway, example, tmp_path=tmp_path).exit_code == 0
    changed = state_file(EXAMPLE.replace("rpm_limit: 60", "rpm_limit: 7").replace("key_alias: loose", "key_alias: newcomer"),
                         "changed.yaml")
    backup = tmp_path / "before.yaml"
    result = gateway.run("apply", str(changed), "--yes", "--prune", "--backup", str(backup), "--keys-output", str(tmp_path / "n.csv"))
    assert result.exit_code == 0, result.stderr
    assert f"undo: opsctl state apply {backup} --prune" in result.stderr.splitlines()
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert fake.key_aliases() == ["ci-bot", "newcomer"]

    undo = gateway.run("apply", str(backup), "--yes", "--prune", "--keys-output", str(tmp_path / "back.csv"))
    assert undo.exit_code == 0, undo.stderr
    assert fake.key_aliases() == ["ci-bot", "loose"]  # loose comes back as a new key, newcomer is gone
    assert gateway.run("diff", str(example)).exit_code == 0

    again = gateway.run("apply", str(changed), "--yes", "--backup", str(backup), "--keys-output", str(tmp_path / "again.csv"))
    assert again.exit_code == 9
    assert again.stderr.endswith(f"Error: backup file {backup} already exists: refusing to overwrite it; nothing was changed\n")


def test_secrets_never_reach_the_output(gateway, example, tmp_path):
    fake = gateway.fake
    assert apply(gateway, example, tmp_path=tmp_path).exit_code == 0
    plaintext = "sk-" + "s3cr3t" * 5
    gateway.api("POST", "/key/update", json={"key_alias": "ci-bot", "metadata": {"note": f"rotated from {plaintext}"}})
    shown = gateway.run("diff", str(example))
    assert "rotated from sk-****" in shown.stdout  # the change is shown, masked
    outputs = [shown, gateway.run("diff", str(example), "--json"), gateway.run("apply", str(example), "--dry-run", "--json"),
               gateway.run("apply", str(example), "--yes")]
    assert [o.exit_code for o in outputs] == [1, 1, 0, 0]
    for output in outputs:
        assert plaintext not in output.stdout + output.stderr
    assert fake.seen("/model/new")[0].body["litellm_params"]["api_key"] == "os.environ/OPENAI_API_KEY"
