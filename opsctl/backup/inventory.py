"""What a LiteLLM database holds, for the manifest and the restore checks."""

from __future__ import annotations

# The tables whose row counts identify a gateway's state (keys, teams, models, spend).
MAIN_TABLES = (
    "LiteLLM_VerificationToken",
    "LiteLLM_TeamTable",
    "LiteLLM_UserTable",
    "LiteLLM_OrganizationTable",
    "LiteLLM_BudgetTable",
    "LiteLLM_ProxyModelTable",
    "LiteLLM_CredentialsTable",
    "LiteLLM_Config",
    "LiteLLM_SpendLogs",
)


def row_counts(connection) -> dict[str, int]:
    """Exact counts of the main tables that exist (an older schema may lack some), in two round trips."""
    present = {name for (name,) in connection.execute(
        "SELECT name FROM unnest(%s::text[]) AS name WHERE to_regclass(quote_ident(name)) IS NOT NULL",
        (list(MAIN_TABLES),))}
    tables = [table for table in MAIN_TABLES if table in present]
    if not tables:
        return {}
    counts = connection.execute(
        "SELECT " + ", ".join(f'(SELECT count(*) FROM "{table}")' for table in tables)).fetchone()
    return dict(zip(tables, counts))


def applied_migrations(connection) -> list[str] | None:
    """Prisma's record of applied migrations (finished, not rolled back), or None without one."""
    if connection.execute("SELECT to_regclass('_prisma_migrations')").fetchone()[0] is None:
        return None
    rows = connection.execute(
        "SELECT migration_name FROM _prisma_migrations"
        " WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL ORDER BY migration_name"
    ).fetchall()
    return [name for (name,) in rows]


def user_tables(connection) -> int:
    """Tables outside the system schemas: 0 means an empty database to restore into."""
    return connection.execute(
        "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
    ).fetchone()[0]
