"""Rows a hostile or broken writer left: reported and left alone, never a traceback or a growing array."""

from __future__ import annotations

import json
import subprocess

import psycopg

from tests.db.test_sql_file import SQL_FILE
from tests.support.litellm_db import raw_rows, seed_deployments

NAME = "chat[/bold]-x\x1b[31m-cloud"  # rich markup and an ESC sequence in a model name


def plant(url: str) -> dict[str, str]:
    """Rows written raw, as no LiteLLM would: params that are not objects, numbers Python cannot read."""
    ids = seed_deployments(url, [
        {"model_id": "id-markup", "model_name": NAME, "litellm_params": {"model": "openai/x", "timeout": 5}},
        {"model_id": "id-huge", "model_name": "big-cloud", "litellm_params": {"model": "openai/x"}},
        {"model_id": "id-array", "model_name": "array-cloud", "litellm_params": {"model": "openai/x"}},
        {"model_id": "id-string", "model_name": "string-cloud", "litellm_params": {"model": "openai/x"}},
    ])
    with psycopg.connect(url) as connection:
        connection.execute("""UPDATE "LiteLLM_ProxyModelTable" SET litellm_params = litellm_params
                              || jsonb_build_object('timeout', '1e5000'::numeric, 'num_retries', repeat('9', 5000)::numeric)
                              WHERE model_id = 'id-huge'""")
        connection.execute("""UPDATE "LiteLLM_ProxyModelTable" SET litellm_params = '[]' WHERE model_id = 'id-array'""")
        connection.execute("""UPDATE "LiteLLM_ProxyModelTable" SET litellm_params = '"x"' WHERE model_id = 'id-string'""")
    return dict(zip(["markup", "huge", "array", "string"], ids))


def test_apply_reports_and_leaves_non_objects_and_replaces_unreadable_numbers(litellm_db, run):
    plant(litellm_db)
    before = raw_rows(litellm_db)
    status = run("--database-url", litellm_db, "db", "status")
    assert status.exit_code == 0, status.stderr
    assert "chat[/bold]-x\\x1b[31m-cloud" in status.stdout and "\x1b" not in status.stdout  # literal, escaped

    result = run("--database-url", litellm_db, "db", "apply-overrides", "--yes")
    assert result.exit_code == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("Warning: deployment")]
    assert warnings == [
        "Warning: deployment array-cloud (id-array): litellm_params is a JSON array, not an object; left alone (fix it in LiteLLM)",
        "Warning: deployment string-cloud (id-string): litellm_params is a JSON string, not an object; left alone (fix it in LiteLLM)",
        "Warning: deployment big-cloud (id-huge): timeout 1" + "0" * 38 + "… is a number too large to read; the policy value replaces it",
        "Warning: deployment big-cloud (id-huge): num_retries " + "9" * 39 + "… is a number too large to read; the policy value replaces it",
    ]
    assert "2 to change, 0 compliant, 0 not covered, 2 not a JSON object" in result.stderr
    assert "Updated 2 deployments." in result.stderr
    after = raw_rows(litellm_db)
    assert after["id-array"] == before["id-array"] and after["id-string"] == before["id-string"]
    huge = json.loads(after["id-huge"][0])
    assert (huge["timeout"], huge["num_retries"]) == (90, 2)

    again = run("--database-url", litellm_db, "db", "apply-overrides", "--yes", "--json")
    assert again.exit_code == 0 and json.loads(again.stdout)["applied"] == 0  # the array does not grow
    assert raw_rows(litellm_db)["id-array"] == before["id-array"]
    assert [d["litellm_params_type"] for d in json.loads(again.stdout)["plan"]["not_objects"]] == ["array", "string"]


def test_dry_run_json_shows_an_unreadable_number_as_such(litellm_db, run):
    plant(litellm_db)
    result = run("--database-url", litellm_db, "db", "apply-overrides", "--dry-run", "--json")
    assert result.exit_code == 0, result.stderr
    huge = next(c for c in json.loads(result.stdout)["plan"]["changes"] if c["model_id"] == "id-huge")
    assert huge["timeout"] == {"current": {"unreadable": "1" + "0" * 38 + "…"}, "new": 90}


def test_sql_file_leaves_a_non_object_alone_and_lists_it(litellm_db):
    plant(litellm_db)
    before = raw_rows(litellm_db)
    output = subprocess.run(["psql", "-X", "-v", "ON_ERROR_STOP=1", "-d", litellm_db, "-f", str(SQL_FILE)],
                            capture_output=True, text=True, check=True).stdout
    assert "array-cloud" in output and "string-cloud" in output
    after = raw_rows(litellm_db)
    assert after["id-array"] == before["id-array"] and after["id-string"] == before["id-string"]
    assert json.loads(after["id-huge"][0])["timeout"] == 90
