"""LiteLLM's DATABASE_URL is a Prisma URL: its options are understood or dropped, and
`schema` selects the tables, on the real Postgres."""

import json

import psycopg
import pytest

from opsctl.db.prisma_url import libpq_url
from opsctl.errors import ExitCode

PRISMA_OPTIONS = "connection_limit=5&pool_timeout=10&pgbouncer=true&socket_timeout=3&statement_cache_size=0"


def test_prisma_only_options_are_dropped_and_libpq_options_kept():
    url = f"postgresql://u:p%40ss@db:5432/litellm?{PRISMA_OPTIONS}&sslmode=require&application_name=gw"
    assert libpq_url(url) == "postgresql://u:p%40ss@db:5432/litellm?sslmode=require&application_name=gw"
    assert libpq_url("postgresql://u@db/litellm") == "postgresql://u@db/litellm"
    assert libpq_url("postgresql://u@[::1") == "postgresql://u@[::1"  # libpq gets to say what is wrong


@pytest.fixture
def moved_schema(litellm_db):
    """LiteLLM's tables in schema "gw tenant" (as `?schema=` deployments have them), public empty."""
    with psycopg.connect(litellm_db, autocommit=True) as connection:
        connection.execute('ALTER SCHEMA public RENAME TO "gw tenant"')
        connection.execute("CREATE SCHEMA public")
    return litellm_db


def test_schema_sets_the_search_path_prisma_would_use(moved_schema):
    url = f"{moved_schema}?schema=gw%20tenant&{PRISMA_OPTIONS}&sslmode=disable"
    with psycopg.connect(libpq_url(url)) as connection:
        assert connection.execute("SHOW search_path").fetchone()[0] == '"gw tenant"'
        assert connection.execute("""SELECT to_regclass('"LiteLLM_ProxyModelTable"')""").fetchone()[0] is not None


def test_opsctl_db_status_reads_a_prisma_url(moved_schema, run):
    with_schema = run("--database-url", f"{moved_schema}?schema=gw%20tenant&{PRISMA_OPTIONS}", "db", "status", "--json")
    assert with_schema.exit_code == 0, with_schema.stderr
    assert json.loads(with_schema.stdout) is not None
    without = run("--database-url", f"{moved_schema}?{PRISMA_OPTIONS}", "db", "status")
    assert without.exit_code == ExitCode.NOT_LITELLM  # public is empty: the schema option really chose the tables
