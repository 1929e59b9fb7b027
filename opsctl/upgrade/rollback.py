"""Putting the database back as the backup holds it, after a migrate moved the schema.

pg_restore --clean would drop only what the dump holds: a table a new
migration created would stay and break the next attempt. So the moved schema
is set aside whole (`public` renamed), the dump restored into a new empty
`public` (one pg_restore transaction, row counts checked against the
manifest), and only then the set-aside schema dropped. If the restore fails,
the set-aside schema comes back: the database is never left empty.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from opsctl.errors import OpsctlError


def _execute(database_url: str, *statements: str) -> None:
    import psycopg

    from opsctl.db.connection import connect_error
    from opsctl.db.prisma_url import libpq_url

    try:
        with psycopg.connect(libpq_url(database_url), connect_timeout=10) as connection:
            for statement in statements:
                connection.execute(statement)
    except psycopg.Error as error:
        raise connect_error(error, database_url) from None


def restore_schema(database_url: str, backup: Path) -> dict[str, int]:
    """The database's public schema replaced by the backup's; the restored row counts."""
    from opsctl.backup.restore import restore_database

    aside = "opsctl_failed_upgrade_" + datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S")
    _execute(database_url, f'ALTER SCHEMA public RENAME TO "{aside}"', "CREATE SCHEMA public")
    try:
        restored = restore_database(backup, database_url, force=False, work_dir=backup.parent)
    except OpsctlError:
        _execute(database_url, "DROP SCHEMA public CASCADE", f'ALTER SCHEMA "{aside}" RENAME TO public')
        raise
    _execute(database_url, f'DROP SCHEMA "{aside}" CASCADE')
    return restored.row_counts
