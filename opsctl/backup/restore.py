"""`backup restore --database-url`: the dump into an empty database, checked by its row counts.

The archive is verified first (checksums, a readable dump). The target must
hold no tables unless `force` (then pg_restore drops what the dump replaces).
pg_restore runs in one transaction, so a failure leaves the target as it was.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import psycopg

from opsctl.backup import archive, inventory, pgtools
from opsctl.backup.verify import verify_backup
from opsctl.db.connection import connect, connect_error, describe_url
from opsctl.db.prisma_url import libpq_url
from opsctl.errors import ExitCode, OpsctlError


@dataclass
class Restored:
    target: str
    row_counts: dict[str, int]


def _existing_tables(database_url: str) -> int:
    try:
        with psycopg.connect(libpq_url(database_url), connect_timeout=5) as connection:
            return inventory.user_tables(connection)
    except psycopg.Error as error:
        raise connect_error(error, database_url) from None


def check_target(database_url: str, force: bool) -> None:
    tables = _existing_tables(database_url)
    if tables and not force:
        raise OpsctlError(
            f"{describe_url(database_url)} is not empty ({tables} tables): restore into an empty database, "
            "or pass --force to replace what the backup holds", ExitCode.REFUSED)


def restore_database(backup: Path, database_url: str, force: bool, work_dir: Path | None = None) -> Restored:
    """Restore after `check_target` passed. A damaged dump needs no pg_restore --list first:
    the restore itself fails on it, in its one transaction."""
    with tempfile.TemporaryDirectory(prefix=".opsctl-restore-", dir=work_dir) as work:
        verified = verify_backup(backup, extract_to=Path(work), list_dump=False)
        if not verified.ok:
            raise OpsctlError(f"backup {backup} failed verification: {verified.problems[0]}", ExitCode.FAILED)
        pgtools.restore(database_url, Path(work) / archive.DUMP, clean=force)
    with connect(database_url) as connection:
        counts = inventory.row_counts(connection)
    expected = verified.manifest.get("row_counts") or {}
    differ = sorted(t for t in expected if counts.get(t) != expected[t])
    if differ:
        raise OpsctlError(
            f"restored, but row counts differ from the backup's manifest in {', '.join(differ)}", ExitCode.FAILED)
    return Restored(describe_url(database_url), counts)
