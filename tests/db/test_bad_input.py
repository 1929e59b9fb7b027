"""Bad input: one `Error:` line, the documented exit code, the database untouched.

About "wrong password": the local Postgres uses trust auth (pg_hba.conf), so
it never checks a password, and editing pg_hba.conf on a shared server is not
a test's business. What the server does reject regardless of pg_hba is a
login for a role that does not exist or may not log in: the same FATAL class
(28, invalid authorization) as a bad password, so these exercise the real
auth-failure path end to end. The password-failure wording libpq uses is
checked against the same classifier below.
"""

from __future__ import annotations

import psycopg
import pytest

from opsctl.db.connection import connect_error
from opsctl.errors import ExitCode
from tests.support.litellm_db import ADMIN_URL, create_database, drop_database, raw_rows, unique_name


def apply(run, url, *extra):
    return run("--database-url", url, "db", "apply-overrides", "--yes", *extra)


def test_unreachable_database(run):
    result = apply(run, "postgresql://postgres:s3cret-pw@127.0.0.1:1/litellm")
    assert result.exit_code == ExitCode.UNREACHABLE == 3
    assert result.stderr == "Error: cannot reach the database at postgres@127.0.0.1:1/litellm: Connection refused\n"
    assert "s3cret-pw" not in result.output


def test_unknown_role_is_an_auth_failure(seeded, run):
    url = seeded.url.replace("postgres@", "opsctl_no_such_role:s3cret-pw@")
    dbname = url.rsplit("/", 1)[1]
    result = apply(run, url)
    assert result.exit_code == ExitCode.AUTH == 4
    assert result.stderr == (
        f"Error: the database refused the login for opsctl_no_such_role@127.0.0.1:5432/{dbname}: "
        'role "opsctl_no_such_role" does not exist\n'
    )
    assert "s3cret-pw" not in result.output
    assert raw_rows(seeded.url) == seeded.before


@pytest.fixture
def nologin_role():
    name = unique_name("opsctl_role")
    with psycopg.connect(ADMIN_URL, autocommit=True) as connection:
        connection.execute(f"CREATE ROLE {name} PASSWORD 'right-password' NOLOGIN")
    yield name
    with psycopg.connect(ADMIN_URL, autocommit=True) as connection:
        connection.execute(f"DROP ROLE {name}")


def test_role_that_may_not_log_in_is_an_auth_failure(seeded, run, nologin_role):
    url = seeded.url.replace("postgres@", f"{nologin_role}:wrong-password@")
    result = apply(run, url)
    assert result.exit_code == ExitCode.AUTH
    assert result.stderr.endswith(f': role "{nologin_role}" is not permitted to log in\n')
    assert result.stderr.startswith(f"Error: the database refused the login for {nologin_role}@127.0.0.1:5432/")
    assert "wrong-password" not in result.output
    assert raw_rows(seeded.url) == seeded.before


@pytest.mark.parametrize(
    "libpq_text",
    [
        'connection failed: connection to server at "10.0.0.5", port 5432 failed: FATAL:  password authentication failed for user "litellm"',
        'connection failed: connection to server at "10.0.0.5", port 5432 failed: FATAL:  no pg_hba.conf entry for host "10.0.0.9", user "litellm", database "litellm", no encryption',
    ],
)
def test_password_failures_are_classified_as_auth(libpq_text):
    error = connect_error(psycopg.OperationalError(libpq_text), "postgresql://litellm:pw@10.0.0.5/litellm")
    assert error.exit_code == ExitCode.AUTH
    assert error.message.startswith("the database refused the login for litellm@10.0.0.5:5432/litellm: ")


@pytest.fixture
def read_only_role(seeded):
    """A role that may log in and read the model table, not write it."""
    name = unique_name("opsctl_ro")
    with psycopg.connect(seeded.url, autocommit=True) as connection:
        connection.execute(f"CREATE ROLE {name} LOGIN")
        connection.execute(f'GRANT SELECT ON "LiteLLM_ProxyModelTable" TO {name}')
    yield name
    with psycopg.connect(seeded.url, autocommit=True) as connection:
        connection.execute(f"DROP OWNED BY {name}")
        connection.execute(f"DROP ROLE {name}")


def test_role_without_write_privilege_reads_status_but_cannot_apply(seeded, run, read_only_role):
    url = seeded.url.replace("postgres@", f"{read_only_role}@")
    assert run("--database-url", url, "db", "status", "--json").exit_code == 0
    result = apply(run, url)
    assert result.exit_code == ExitCode.AUTH
    where = f"{read_only_role}@127.0.0.1:5432/{url.rsplit('/', 1)[1]}"
    assert result.stderr.splitlines()[-1] == (
        f"Error: the database refused access for {where}: "
        "permission denied for table LiteLLM_ProxyModelTable; nothing was changed"
    )
    assert raw_rows(seeded.url) == seeded.before


def test_database_without_litellm_tables(run):
    name = unique_name("opsctl_empty")
    url = create_database(name)
    try:
        result = apply(run, url)
        assert result.exit_code == ExitCode.NOT_LITELLM == 5
        assert result.stderr == (
            f'Error: not a LiteLLM database: postgres@127.0.0.1:5432/{name} has no "LiteLLM_ProxyModelTable" table\n'
        )
        with psycopg.connect(url) as connection:  # and nothing was created there
            assert connection.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()[0] == 0
    finally:
        drop_database(name)


def test_database_that_does_not_exist(run):
    result = apply(run, "postgresql://postgres@127.0.0.1:5432/opsctl_no_such_db")
    assert result.exit_code == ExitCode.NOT_LITELLM
    assert result.stderr == (
        "Error: not a LiteLLM database: postgres@127.0.0.1:5432/opsctl_no_such_db: "
        'database "opsctl_no_such_db" does not exist\n'
    )


def test_missing_database_url(run):
    result = run("db", "status")
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: no database: set DATABASE_URL (environment, .env or ~/.007) or pass --database-url\n"
    )


TIER = '[[tiers]]\nname = "t"\ntimeout = {timeout}\nnum_retries = {retries}\nmodels = ["%cloud%"]\n'

BAD_POLICIES = {
    "malformed": ('[[tiers]]\nname = "t"\ntimeout 30\n',
                  "bad.toml:3: not valid TOML: Expected '=' after a key in a key/value pair (at line 3, column 9)"),
    "negative timeout": (TIER.format(timeout=-5, retries=1),
                         "bad.toml:3: timeout must be a positive number of seconds, got -5"),
    "non-numeric timeout": (TIER.format(timeout='"30"', retries=1),
                            "bad.toml:3: timeout must be a positive number of seconds, got '30'"),
    "negative retries": (TIER.format(timeout=30, retries=-1),
                         "bad.toml:4: num_retries must be a whole number >= 0, got -1"),
    "non-numeric retries": (TIER.format(timeout=30, retries='"two"'),
                            "bad.toml:4: num_retries must be a whole number >= 0, got 'two'"),
    "unknown key": (TIER.format(timeout=30, retries=1) + "retries = 3\n",
                    "bad.toml:6: unknown key 'retries' in [[tiers]] (allowed: models, name, num_retries, timeout)"),
}


@pytest.mark.parametrize("case", BAD_POLICIES, ids=list(BAD_POLICIES))
def test_bad_policy_file(seeded, run, tmp_path, case):
    text, message = BAD_POLICIES[case]
    (tmp_path / "bad.toml").write_text(text)
    result = apply(run, seeded.url, "--policy", "bad.toml")
    assert result.exit_code == ExitCode.USAGE == 2
    assert result.stderr == f"Error: {message}\n"
    assert raw_rows(seeded.url) == seeded.before


def test_policy_via_environment_and_a_rule_matching_nothing_is_only_a_warning(seeded, run, tmp_path, monkeypatch):
    (tmp_path / "p.toml").write_text(
        '[[tiers]]\nname = "t"\ntimeout = 40\nnum_retries = 2\nmodels = ["chat-default", "no-such-model"]\n'
    )
    monkeypatch.setenv("OPSCTL_POLICY", "p.toml")
    result = apply(run, seeded.url)
    assert result.exit_code == 0
    assert "Warning: rule 'no-such-model' (tier t) matches no model in the database" in result.stderr.splitlines()
    assert "Updated 2 deployments." in result.stderr
