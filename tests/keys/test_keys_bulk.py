"""`opsctl keys create --from FILE`: bounded concurrency, per-row results, re-runs."""

import csv
import json

from opsctl.output import stderr_console


def write_csv(path, aliases, team=""):
    lines = ["alias,team,models,rpm,metadata"] + [f"{a},{team},chat-default;embeddings-default,60,owner={a}" for a in aliases]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_partial_failure_then_rerun_completes_without_duplicates(fake_target, tmp_path):
    fake = fake_target.fake
    aliases = [f"bulk-{n:02d}" for n in range(20)]
    rows = write_csv(tmp_path / "keys.csv", aliases)
    out = tmp_path / "minted.csv"
    fake.inject("/key/generate", "503", alias="bulk-03")  # after sending: maybe applied
    fake.inject("/key/generate", "503", alias="bulk-11")
    fake.inject("/key/generate", "500", alias="bulk-17")  # the proxy's own error: failed

    first = fake_target.run("keys", "create", "--from", str(rows), "--output", str(out), "--json")
    assert first.exit_code == 1, first.stdout
    assert first.stderr.splitlines()[-1] == (
        "Error: 3 of 20 rows failed; run the same command again to complete them"
        " (2 marked unknown may exist already without their key: see their error)"
    ), first.stdout
    results = json.loads(first.stdout)
    assert [r["alias"] for r in results] == aliases  # file order, one result per row
    assert {r["alias"]: r["status"] for r in results if r["status"] not in ("created",)} == {
        "bulk-03": "unknown", "bulk-11": "unknown", "bulk-17": "failed"}
    assert results[3]["where"] == f"{rows}:5"
    assert results[3]["error"] == (
        f"the proxy at {fake.url} answered HTTP 503 to POST /key/generate: injected 503 (it may have been applied);"
        " check `opsctl keys list --alias` and re-run with --rotate if it exists"
    )
    assert results[17]["error"] == f"the proxy at {fake.url} answered HTTP 500 to POST /key/generate: injected 500"
    assert all("key" not in r for r in results)  # keys went to --output only
    assert len(fake.seen("/key/generate")) == 20  # a 503 on a non-idempotent call is not retried

    second = fake_target.run("keys", "create", "--from", str(rows), "--output", str(out), "--json")
    assert second.exit_code == 0, second.stderr
    statuses = {r["alias"]: r["status"] for r in json.loads(second.stdout)}
    assert sorted(a for a, s in statuses.items() if s == "created") == ["bulk-03", "bulk-11", "bulk-17"]
    assert sum(s == "exists" for s in statuses.values()) == 17
    assert fake.key_aliases() == aliases
    with out.open() as handle:
        minted = list(csv.DictReader(handle))
    assert sorted(m["alias"] for m in minted) == aliases  # both runs appended, nothing twice
    assert all(m["key"].startswith("sk-") for m in minted)
    body = fake.seen("/key/generate")[0].body
    assert body["rpm_limit"] == 60 and body["tpm_limit"] == 60000 and body["models"] == ["chat-default", "embeddings-default"]


def test_rerun_of_a_longer_file_resumes_on_the_real_proxy(target, tmp_path):
    """A run cut short (here: its first half), then the whole file: nothing minted twice."""
    aliases = [f"{target.prefix}-bulk-{n}" for n in range(6)]
    out = tmp_path / "minted.csv"
    first = target.run("keys", "create", "--from", str(write_csv(tmp_path / "half.csv", aliases[:3])), "--output", str(out))
    assert first.exit_code == 0, first.stderr
    second = target.run("keys", "create", "--from", str(write_csv(tmp_path / "all.csv", aliases)), "--output", str(out), "--json")
    assert second.exit_code == 0, second.stderr
    assert [(r["alias"], r["status"]) for r in json.loads(second.stdout)] == [
        (a, "exists" if n < 3 else "created") for n, a in enumerate(aliases)]
    rows = target.rows('SELECT key_alias, token, rpm_limit, tpm_limit, models FROM "LiteLLM_VerificationToken"'
                       ' WHERE key_alias = ANY(%s) ORDER BY key_alias', aliases)
    with out.open() as handle:
        minted = {m["alias"]: m["token_id"] for m in csv.DictReader(handle)}
    assert [(a, t) for a, t, *_ in rows] == sorted(minted.items())  # one row per alias, its key in --output
    assert {tuple(r[2:4]) + (tuple(r[4]),) for r in rows} == {(60, 60000, ("chat-default", "embeddings-default"))}


def test_yaml_rows_with_team_checked_once_before_minting(fake_target, tmp_path):
    fake = fake_target.fake
    rows = tmp_path / "keys.yaml"
    rows.write_text("keys:\n  - alias: y1\n    team: ghost\n  - alias: y2\n    team: ghost\n    metadata: {app: a}\n")
    missing = fake_target.run("keys", "create", "--from", str(rows))
    assert missing.exit_code == 2
    assert missing.stderr == "Error: team 'ghost' does not exist; create it first: opsctl teams create --team-id ghost\n"
    assert fake.seen("/key/generate") == []
    fake.add_team("ghost")
    result = fake_target.run("keys", "create", "--from", str(rows), "--json")
    assert result.exit_code == 0, result.stderr
    minted = json.loads(result.stdout)
    assert [(r["alias"], r["status"]) for r in minted] == [("y1", "created"), ("y2", "created")]
    assert all(r["key"].startswith("sk-") for r in minted)  # no --output: the keys are the data on stdout
    assert [s.query["team_id"] for s in fake.seen("/team/info")] == [["ghost"], ["ghost"]]


def test_bad_row_fails_before_any_request(fake_target, tmp_path):
    rows = tmp_path / "keys.csv"
    rows.write_text("alias,rpm\nok,5\nbad,lots\n")
    result = fake_target.run("keys", "create", "--from", str(rows))
    assert result.exit_code == 2
    assert result.stderr == f"Error: {rows}:3: rpm must be a whole number, got 'lots'\n"
    assert fake_target.fake.requests == []


def test_rows_need_unique_aliases(fake_target, tmp_path):
    rows = tmp_path / "keys.yaml"
    rows.write_text("- alias: a\n- alias: a\n")
    result = fake_target.run("keys", "create", "--from", str(rows))
    assert result.exit_code == 2
    assert result.stderr == f"Error: {rows}: row 2: alias 'a' already used at {rows}: row 1\n"


def test_many_existing_keys_are_looked_up_by_alias(fake_target, tmp_path):
    """With more pages of keys than rows, the aliases are asked for one by one, not scanned."""
    fake = fake_target.fake
    first = write_csv(tmp_path / "many.csv", [f"m{n:03d}" for n in range(250)])
    assert fake_target.run("keys", "create", "--from", str(first), "--output", str(tmp_path / "o.csv")).exit_code == 0
    fake.requests.clear()
    second = write_csv(tmp_path / "one.csv", ["m007"])
    result = fake_target.run("keys", "create", "--from", str(second), "--json")
    assert result.exit_code == 0, result.stderr
    assert [r["status"] for r in json.loads(result.stdout)] == ["exists"]
    lookups = [s.query for s in fake.seen("/key/list")]
    assert lookups[0]["page"] == ["1"] and "key_alias" not in lookups[0]
    assert lookups[1]["key_alias"] == ["m007"] and len(lookups) == 2
    assert fake.seen("/key/generate") == []


def test_progress_bar_goes_to_stderr_on_a_terminal(fake_target, tmp_path):
    rows = write_csv(tmp_path / "keys.csv", ["pb-1", "pb-2"])
    # The stderr console is built once per process; this process already built one for a pipe.
    stderr_console.cache_clear()
    try:
        result = fake_target.run("keys", "create", "--from", str(rows), "--json", FORCE_COLOR="1")  # rich: a terminal
    finally:
        stderr_console.cache_clear()
    assert result.exit_code == 0, result.stderr
    assert "keys" in result.stderr and "100%" in result.stderr
    assert [r["status"] for r in json.loads(result.stdout)] == ["created", "created"]  # stdout stays plain JSON
    assert result.stderr.splitlines()[-1].endswith("2 created")
