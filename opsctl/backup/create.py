"""`backup create`: a consistent dump, the stack files and `.env`, and the manifest.

The row counts and the dump come from one snapshot: a REPEATABLE READ
transaction exports its snapshot (opsctl.backup.snapshot), pg_dump reads it
(`--snapshot`) and so does the connection that counts, so the manifest
describes exactly what the dump holds, even while the gateway writes. pg_dump
starts as soon as the snapshot is exported; the manifest's queries run
meanwhile, and the exporting transaction stays open until pg_dump is done.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from opsctl import __version__
from opsctl.backup import archive, inventory, pgtools, snapshot
from opsctl.errors import ExitCode, OpsctlError
from opsctl.files import atomic_file


@dataclass
class Created:
    path: Path
    manifest: dict


def _host_pg_dump(server_major: int, container_exec: list[str] | None) -> pgtools.Tool | None:
    """The host's pg_dump when it reads the server (pg_dump reads servers up to its own major);
    None: the dump is taken through the container exec prefix."""
    host = pgtools.host_tool("pg_dump")
    if host is not None and host.major is not None and host.major >= server_major:
        return host
    if container_exec is not None:
        return None
    have = f"pg_dump {host.major}" if host and host.major else "no pg_dump"
    raise OpsctlError(
        f"the server is PostgreSQL {server_major} and this host has {have}: install postgresql-client-{server_major}, "
        "or run from the stack directory so the dump is taken in the postgres container",
        ExitCode.MISSING_TOOL,
    )


def create_backup(database_url: str, output: Path, stack_dir: Path | None, litellm_image: str | None,
                  container_exec: list[str] | None = None) -> Created:
    output.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    files = archive.stack_files(stack_dir) if stack_dir else []
    with snapshot.held(database_url) as held:
        host_dump = _host_pg_dump(held.server_major, container_exec)
        with tempfile.TemporaryDirectory(prefix=".opsctl-backup-", dir=output.parent) as work:
            dump_file = Path(work) / archive.DUMP
            fd = os.open(dump_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as out:
                with (pgtools.dumping(database_url, out, host_dump, snapshot=held.id) if host_dump
                      else pgtools.dumping(database_url, out, via_container=container_exec, snapshot=held.id)):
                    # While pg_dump runs: psycopg's import, then the manifest's queries in the dump's snapshot.
                    from opsctl.db.connection import connect, describe_url

                    with connect(database_url, snapshot=held.id) as connection:
                        manifest = {
                            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                            "opsctl_version": __version__,
                            "litellm_image": litellm_image,
                            "database": {
                                "source": describe_url(database_url),
                                "server_major": held.server_major,
                                "migrations_applied": inventory.applied_migrations(connection),
                            },
                            "row_counts": inventory.row_counts(connection),
                        }
            with atomic_file(output, 0o600, exclusive=True, what="the backup") as handle:
                manifest = archive.write_archive(handle, manifest, dump_file, files)
    return Created(output, manifest)
