"""sql/apply-overrides.sql does what `opsctl db apply-overrides` does with the default policy."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from opsctl.policy import load_policy
from tests.db.conftest import seed, stored_params
from tests.support.litellm_db import create_database, drop_database, raw_rows, unique_name

SQL_FILE = Path(__file__).resolve().parents[2] / "sql" / "apply-overrides.sql"


def psql_file(url: str) -> str:
    result = subprocess.run(["psql", "-X", "-v", "ON_ERROR_STOP=1", "-d", url, "-f", str(SQL_FILE)],
                            capture_output=True, text=True, check=True)
    return result.stdout


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
